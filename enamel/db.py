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

import sqlalchemy as sa
from sqlalchemy import event

from enamel import exception

# Every constraint and index gets a deterministic name, so that migrations
# can drop or alter it by name on every engine (SQLite batch mode cannot
# drop an unnamed constraint). The models' metadata carries it, and so does
# the metadata that running revisions get (alembic's ``op`` names
# constraints with it), which need not import the models.
NAMING_CONVENTION = {
    'ix': 'ix_%(table_name)s_%(column_0_N_name)s',
    'uq': 'uq_%(table_name)s_%(column_0_N_name)s',
    'ck': 'ck_%(table_name)s_%(constraint_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}


def make_url(connection, group='database'):
    """Parse a ``[database] connection`` value (or ``[group]``'s).

    :raises exception.ConfigError: naming the problem, never the URL
        itself (it may carry a password).
    """
    if not connection:
        raise exception.ConfigError(f'[{group}] connection is not set')
    try:
        return sa.engine.make_url(connection)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a bad port
        raise exception.ConfigError(
            f'[{group}] connection is not a valid SQLAlchemy URL') from None


def create_engine(conf, group='database'):
    """Create the engine for ``[database] connection`` (or ``[group]``'s:
    ``api_database`` for the API database, see :mod:`enamel.databases`).

    On SQLite the pysqlite driver's own transaction handling is taken over
    (SQLAlchemy's documented recipe) so that DDL runs inside transactions:
    a failing revision leaves no trace, and a whole upgrade pays for one
    disk sync instead of one per statement.

    :param conf: an ``oslo_config.cfg.ConfigOpts`` with enamel's options.
    :param group: the option group to read.
    """
    options = conf[group]
    url = make_url(options.connection, group)
    kwargs = {}
    backend = url.get_backend_name()
    if backend in ('mysql', 'mariadb', 'postgresql'):
        kwargs['connect_args'] = {
            'connect_timeout': options.connect_timeout}
    pymysql = (backend in ('mysql', 'mariadb') and
               url.get_driver_name() == 'pymysql')
    if pymysql:
        # PyMySQL's connect_timeout covers only the TCP connect: a server
        # that accepts and never answers would hang the handshake forever.
        kwargs['connect_args']['read_timeout'] = options.connect_timeout
    # enamel-sync opens at most two connections and closes them at exit: a
    # pool would only keep sessions (and their locks) alive behind our back.
    kwargs['poolclass'] = sa.pool.NullPool
    try:
        engine = sa.create_engine(url, **kwargs)
    except sa.exc.NoSuchModuleError:
        raise exception.ConfigError(
            f'[{group}] connection names an unknown database dialect '
            f'{url.drivername!r}') from None
    except ImportError as exc:
        raise exception.ConfigError(
            f'the database driver for {url.drivername!r} is not installed '
            f'({exc.name or exc}); install enamel[mysql] or '
            f'enamel[postgresql]') from None
    if backend == 'sqlite':
        _take_over_pysqlite_transactions(engine)
    if pymysql:
        _unbound_pymysql_reads(engine)
    return engine


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


def _take_over_pysqlite_transactions(engine):
    event.listen(engine, 'connect', _connect_sqlite)
    event.listen(engine, 'begin', _begin_sqlite)


def _connect_sqlite(dbapi_connection, connection_record):
    # Stop the driver from issuing BEGIN (and COMMIT before DDL) itself.
    dbapi_connection.isolation_level = None


def _begin_sqlite(connection):
    connection.exec_driver_sql('BEGIN')


def describe(url):
    """A URL safe to print: the password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)
