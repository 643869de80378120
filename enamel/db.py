# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Engines for the enamel database: one function builds them."""

import contextlib
import logging
import os
import sqlite3
import time
import urllib.parse

import sqlalchemy as sa
from sqlalchemy import event

from enamel import exception
from enamel import naming

# enamel's naming convention (see enamel.naming), where the models and
# the environments "enamel-sync init" wrote have always found it.
NAMING_CONVENTION = naming.NAMING_CONVENTION

LOG = logging.getLogger(__name__)

# Seconds a connection to a database that answered earlier in the same run
# is tried again (a server or pooler restarting, a failover): the bound of
# every wait for a database to come back.
RECONNECT = 10


def make_url(connection, group='database'):
    """Parse a ``[database] connection`` value (or ``[group]``'s).

    :raises exception.ConfigError: naming the problem, never the URL
        itself (it may carry a password).
    """
    if not connection:
        raise exception.ConfigError(f'[{group}] connection is not set')
    if isinstance(connection, str) and _netloc(connection).count('@') > 1:
        # SQLAlchemy would take the rest of the password for the host and
        # print it in every error.
        raise exception.ConfigError(
            f'[{group}] connection has more than one "@" before the host: '
            'write an "@" in the user name or password as %40')
    try:
        url = sa.engine.make_url(connection)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a bad port
        raise exception.ConfigError(
            f'[{group}] connection is not a valid SQLAlchemy URL') from None
    return _password_out_of_query(url, group)


# Query parameters that carry a password: libpq's (psycopg) and PyMySQL's
# spellings, which both drivers accept as well as the URL's password.
PASSWORD_QUERY_KEYS = ('password', 'passwd')


def _password_out_of_query(url, group):
    """``url`` with a password given as a query parameter
    (``...?password=...``) moved to the URL's own password: the one place
    SQLAlchemy, alembic (``current -v``) and enamel hide when they print a
    URL (``render_as_string(hide_password=True)`` shows the query as it
    is). The driver receives the same password either way.

    :raises exception.ConfigError: the password is given twice.
    """
    keys = [key for key in PASSWORD_QUERY_KEYS if key in url.query]
    if not keys:
        return url
    if len(keys) > 1 or url.password is not None:
        raise exception.ConfigError(
            f'[{group}] connection gives the password more than once '
            '(before the host and as a query parameter): give it once')
    value = url.query[keys[0]]
    if isinstance(value, tuple):
        raise exception.ConfigError(
            f'[{group}] connection gives the password more than once '
            f'(?{keys[0]}= repeated): give it once')
    return url.set(password=value, query={
        k: v for k, v in url.query.items() if k != keys[0]})


# The driver that enamel-sync's extras install for each server dialect
# (setup.cfg): pure wheels or binary wheels, no compiler needed. A URL that
# names no driver (``postgresql://``, ``mysql://``) uses it when installed.
DEFAULT_DRIVERS = {
    'postgresql': 'psycopg',
    'mysql': 'pymysql',
    'mariadb': 'pymysql',
}

# The extra of the enamel-sync distribution that installs each default
# driver, and the package it installs.
EXTRAS = {
    'postgresql': ('enamel-sync[postgresql]', 'psycopg[binary]'),
    'mysql': ('enamel-sync[mysql]', 'PyMySQL'),
    'mariadb': ('enamel-sync[mysql]', 'PyMySQL'),
}

# The package that provides each driver SQLAlchemy may ask for, for the
# hint given when it is missing.
DRIVER_PACKAGES = {
    'psycopg': 'psycopg[binary]',
    'psycopg2': 'psycopg2-binary',
    'psycopg2cffi': 'psycopg2cffi',
    'pg8000': 'pg8000',
    'pymysql': 'PyMySQL',
    'mysqldb': 'mysqlclient (it needs a compiler and the MySQL client '
               'headers)',
    'mysqlconnector': 'mysql-connector-python',
    'mariadbconnector': 'mariadb',
    'cymysql': 'cymysql',
    'pyodbc': 'pyodbc',
}


def create_engine(conf, group='database', read_only=False):
    """Create the engine for ``[database] connection`` (or ``[group]``'s:
    ``api_database`` for the API database, see :mod:`enamel.databases`).

    On SQLite the pysqlite driver's own transaction handling is taken over
    (SQLAlchemy's documented recipe) so that DDL runs inside transactions:
    a failing revision leaves no trace, and a whole upgrade pays for one
    disk sync instead of one per statement.

    A URL that names no driver (``postgresql://``, ``mysql://``,
    ``mariadb://``) uses the driver of enamel-sync's extras (psycopg 3,
    PyMySQL) when it is installed, else SQLAlchemy's default driver for
    the dialect.

    :param conf: an ``oslo_config.cfg.ConfigOpts`` with enamel's options.
    :param group: the option group to read.
    :param read_only: for commands that only read the database. On SQLite
        an existing file is opened read-only and a missing one is not
        created: the engine then opens an empty in-memory database, which
        reads as an empty (unversioned, never upgraded) database. Other
        databases are opened as usual.
    :returns: a ``sqlalchemy.engine.Engine`` with no connection pool.
    :raises exception.ConfigError: the URL is not valid, names an unknown
        dialect, or its driver is not installed (naming the package to
        install); never showing the URL's password.
    """
    options = conf[group]
    url = make_url(options.connection, group)
    kwargs = {}
    backend = url.get_backend_name()
    if backend in ('mysql', 'mariadb', 'postgresql'):
        kwargs['connect_args'] = {
            'connect_timeout': options.connect_timeout}
    if backend == 'sqlite' and read_only:
        url = _read_only_sqlite_url(url)
    elif backend == 'sqlite':
        # A write waits for a service's write transaction as long as for
        # another enamel-sync's migration lock (pysqlite's default: 5 s).
        kwargs['connect_args'] = {
            'timeout': options.migration_lock_timeout}
    # enamel-sync opens at most two connections and closes them at exit: a
    # pool would only keep sessions (and their locks) alive behind our back.
    kwargs['poolclass'] = sa.pool.NullPool
    engine = _create_engine_with_driver(url, kwargs)
    if backend == 'sqlite':
        _take_over_pysqlite_transactions(engine, immediate=not read_only)
    if engine.dialect.driver == 'pymysql':
        _unbound_pymysql_reads(engine)
    if backend in ('mysql', 'mariadb'):
        _mysql_session(engine, options.mysql_sql_mode,
                       options.ddl_lock_timeout)
    return engine


def _create_engine_with_driver(url, kwargs):
    """``sqlalchemy.create_engine``, choosing the driver of a URL that
    names none; errors become ConfigError with the package to install."""
    candidates = [url]
    default_driver = DEFAULT_DRIVERS.get(url.drivername)
    if default_driver:  # no "+driver" in the URL
        candidates.insert(
            0, url.set(drivername=f'{url.drivername}+{default_driver}'))
    missing = None
    for candidate in candidates:
        try:
            return sa.create_engine(candidate, **_driver_options(
                candidate, kwargs))
        except sa.exc.NoSuchModuleError:
            raise exception.ConfigError(
                f'[database] connection names an unknown database dialect '
                f'{url.drivername!r}') from None
        except ImportError as exc:
            missing = missing or exc
    raise exception.ConfigError(_missing_driver_hint(url, missing))


def _driver_options(url, kwargs):
    """``kwargs`` with what ``url``'s driver needs besides.

    :raises sqlalchemy.exc.NoSuchModuleError: an unknown dialect.
    """
    driver = url.get_driver_name()
    if driver == 'psycopg':
        # psycopg 3 turns a query run five times into a server-side
        # prepared statement, which belongs to the server session: behind
        # a transaction-pooling PgBouncer the next transaction may land on
        # another session that lacks it (psycopg's documentation, "Using
        # PgBouncer"). enamel-sync runs few queries: never prepare.
        return dict(kwargs, connect_args=dict(
            kwargs['connect_args'], prepare_threshold=None))
    if driver != 'pymysql':
        return kwargs
    # PyMySQL's connect_timeout covers only the TCP connect: a server that
    # accepts and never answers would hang the handshake forever (the
    # 'connect' hook lifts it once connected).
    connect_args = kwargs['connect_args']
    return dict(kwargs, connect_args=dict(
        connect_args, read_timeout=connect_args['connect_timeout']))


def _missing_driver_hint(url, exc):
    """The one-line error for a driver that is not installed."""
    module = f' (no module {exc.name})' if exc.name else ''
    if url.drivername in DEFAULT_DRIVERS:
        extra, package = EXTRAS[url.drivername]
        return (f'no database driver for {url.drivername!r} is '
                f'installed{module}: install {extra} (which installs '
                f'{package}), or name an installed driver in the URL '
                f'({url.drivername}+DRIVER://...)')
    driver = url.get_driver_name()
    package = DRIVER_PACKAGES.get(driver, f'the package providing {driver}')
    hint = f'install {package}'
    backend = url.get_backend_name()
    if backend in EXTRAS:
        extra, default_package = EXTRAS[backend]
        if driver == DEFAULT_DRIVERS[backend]:
            hint += f' ({extra} installs it)'
        else:
            hint += (f', or use {backend}+{DEFAULT_DRIVERS[backend]}:// '
                     f'({extra} installs {default_package})')
    return (f'the database driver for {url.drivername!r} is not '
            f'installed{module}: {hint}')


def _netloc(connection):
    """What stands between ``://`` and the next ``/`` of a URL."""
    return connection.partition('://')[2].partition('/')[0]


def _read_only_sqlite_url(url):
    """The URL of an SQLite database opened without writing: the file
    read-only (an SQLite URI filename with ``mode=ro``), or a private
    empty in-memory database where the file does not exist."""
    database = url.database
    if not database or database == ':memory:' or (
            database.startswith('file:')):
        return url  # in memory already, or a URI filename of the user's
    path = os.path.abspath(database)
    if not os.path.exists(path):
        if not os.path.isdir(os.path.dirname(path)):
            # upgrade could not create it either: not an empty database.
            raise exception.DatabaseError(
                f'cannot open the database {describe(url)}: the directory '
                f'{os.path.dirname(path)} does not exist')
        return sa.engine.URL.create(url.drivername)
    # A process killed mid-write leaves a hot journal, which only a
    # connection that may write can roll back (SQLite's "Atomic Commit",
    # hot journals): read-only, every read would fail with "attempt to
    # write a readonly database". The file exists, so mode=rw creates
    # nothing; the reads stay reads.
    mode = 'rw' if _hot_journal(path) else 'ro'
    return url.set(
        database='file:' + urllib.parse.quote(path),
        query=dict(url.query, mode=mode, uri='true'))


def _hot_journal(path):
    """Is there a rollback journal beside the SQLite file ``path`` that a
    cut transaction left (it starts with SQLite's journal magic)?"""
    try:
        with open(path + '-journal', 'rb') as f:
            return f.read(8) == bytes.fromhex('d9d505f920a163d7')
    except OSError:
        return False


def _mysql_session(engine, mode, lock_timeout):
    """Every MySQL session of ``engine`` runs in ``mode`` (``[database]
    mysql_sql_mode``, as oslo.db's sessions do; '' keeps the server's),
    and waits ``lock_timeout`` seconds at most for a metadata or row lock
    (``ddl_lock_timeout``; 0 keeps the server's: MariaDB's
    ``lock_wait_timeout`` is a day)."""
    settings = []
    if mode:
        settings.append(('sql_mode = %s', mode))
    if lock_timeout:
        settings += [('lock_wait_timeout = %s', int(lock_timeout)),
                     ('innodb_lock_wait_timeout = %s', int(lock_timeout))]
    if not settings:
        return

    @event.listens_for(engine, 'connect')
    def _connect(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(
                'SET SESSION ' + ', '.join(s for s, _ in settings),
                tuple(v for _, v in settings))
        finally:
            cursor.close()


def _unbound_pymysql_reads(engine):
    @event.listens_for(engine, 'connect')
    def _connect(dbapi_connection, connection_record):
        # Connected: a statement (a long ALTER TABLE) may take as long as it
        # needs. PyMySQL reads its timeout from this attribute before every
        # read and has no public way to change it on an open connection.
        dbapi_connection._read_timeout = None


def transactional(engine):
    """``engine``, or an equivalent one, whose SQLite connections run DDL
    inside transactions as enamel's own do (see :func:`create_engine`).

    An engine built by :func:`create_engine`, or on another database, is
    returned as it is. An SQLite engine built elsewhere is replaced by a
    new engine on the same file with enamel's handling (the caller's pool
    and its connections are left alone): otherwise a failing revision
    would leave half its work behind.

    :param engine: a ``sqlalchemy.engine.Engine``.
    :returns: a ``sqlalchemy.engine.Engine``.
    :raises exception.ConfigError: an in-memory SQLite engine, whose
        database no second engine can reach.
    """
    if (engine.dialect.name != 'sqlite'
            or event.contains(engine, 'begin', _begin_sqlite)):
        return engine
    database = engine.url.database
    if not database or database == ':memory:' or 'mode=memory' in database:
        raise exception.ConfigError(
            'an in-memory SQLite engine cannot be used for migrations: '
            'pass an engine on a file, or none')
    new = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    _take_over_pysqlite_transactions(new)
    return new


def _take_over_pysqlite_transactions(engine, immediate=True):
    """Let enamel, not pysqlite, begin SQLite transactions.

    A writing engine begins them ``IMMEDIATE``, taking the write lock
    first: a transaction that reads (the version table, a batch's keys)
    and then writes would otherwise get "database is locked" at once, with
    no wait, whenever a service of the previous release is writing.
    """
    event.listen(engine, 'connect', _connect_sqlite)
    event.listen(engine, 'begin',
                 _begin_sqlite if immediate else _begin_sqlite_deferred)
    if immediate:
        event.listen(engine, 'connect', _keep_journal)
        event.listen(engine, 'close', _delete_journal)


def _connect_sqlite(dbapi_connection, connection_record):
    # Stop the driver from issuing BEGIN (and COMMIT before DDL) itself.
    dbapi_connection.isolation_level = None


def _keep_journal(dbapi_connection, connection_record):
    """A writing connection keeps its rollback journal between commits.

    In SQLite's default journal mode (DELETE) every commit deletes the
    journal file and the next transaction creates it again, which costs
    a file system's metadata update per commit; PERSIST zeroes the
    journal's header instead (SQLite's documentation of ``PRAGMA
    journal_mode``). A rollback journal mode is a setting of the
    connection, not of the database: other connections are unaffected,
    and a journal with a zeroed header is never rolled back by anyone.
    A database in WAL (or any other) mode is left as it is.
    """
    mode = dbapi_connection.execute('PRAGMA journal_mode').fetchone()[0]
    if mode == 'delete':
        dbapi_connection.execute('PRAGMA journal_mode=PERSIST')
        connection_record.info['enamel_journal'] = mode


def _delete_journal(dbapi_connection, connection_record):
    """Before a connection of :func:`_keep_journal` closes: back to the
    DELETE mode, which removes the journal file."""
    if connection_record.info.pop('enamel_journal', None):
        try:
            dbapi_connection.execute('PRAGMA journal_mode=DELETE')
        except sqlite3.Error:
            # A connection closed in the middle of a transaction cannot
            # change its mode; it leaves a journal that is never hot.
            pass


def _begin_sqlite(connection):
    connection.exec_driver_sql(
        connection.get_execution_options().get(_SQLITE_BEGIN,
                                               'BEGIN IMMEDIATE'))


_SQLITE_BEGIN = 'enamel_sqlite_begin'


@contextlib.contextmanager
def read_transaction(connection):
    """A transaction that only reads, rolled back at the end.

    On a writing SQLite engine it begins ``DEFERRED`` instead of
    ``IMMEDIATE``: it takes no write lock, so it does not wait (and, after
    the busy timeout, fail with "database is locked") while a service
    holds a write transaction; a reader waits only while a writer commits.
    Elsewhere it is an ordinary transaction.

    :param connection: a ``Connection`` outside a transaction.
    :yields: ``connection``, inside the transaction.
    """
    previous = connection.get_execution_options().get(_SQLITE_BEGIN)
    connection.execution_options(**{_SQLITE_BEGIN: 'BEGIN'})
    try:
        with connection.begin() as transaction:
            yield connection
            if transaction.is_active:
                transaction.rollback()
    finally:
        connection.execution_options(
            **{_SQLITE_BEGIN: previous or 'BEGIN IMMEDIATE'})


def _begin_sqlite_deferred(connection):
    connection.exec_driver_sql('BEGIN')


def describe(url):
    """A URL safe to print: the password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def connect(engine, wait=0):
    """``engine.connect()``, tried again for ``wait`` seconds (backing
    off from 0.25 to 2 seconds) while it fails.

    enamel waits only for a database that answered earlier in the same
    run (a server or pooler that restarts, a Galera node lost): its
    address and credentials are known to be good, so the failure is
    passing. A first connection fails at once, as a wrong address or
    password should.

    :param engine: the ``Engine``.
    :param wait: seconds (float); 0 tries once.
    :returns: an open ``Connection``.
    :raises sqlalchemy.exc.DBAPIError: the last failure, once ``wait``
        seconds passed.
    """
    deadline = time.monotonic() + wait
    delay = 0.25
    while True:
        try:
            return engine.connect()
        except sa.exc.DBAPIError as exc:
            if time.monotonic() + delay > deadline:
                raise
            LOG.debug('connecting again in %ss: %s', delay,
                      exception.first_line(exc.orig))
        time.sleep(delay)
        delay = min(delay * 2, 2)


def alive(connection):
    """Does ``connection`` still reach its server? One ping (SQLAlchemy's
    ``Dialect.do_ping``, what its pool's ``pre_ping`` sends: PyMySQL's
    ``COM_PING``, an empty statement in autocommit on psycopg), far
    cheaper than a new connection. A connection that fails it is
    invalidated (closed without a rollback its server can no longer
    receive).

    :param connection: an open ``Connection`` outside a transaction.
    :returns: bool.
    """
    try:
        return bool(connection.dialect.do_ping(
            connection.connection.dbapi_connection))
    except connection.dialect.loaded_dbapi.Error:
        connection.invalidate()
        return False
