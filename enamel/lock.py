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

"""The database-wide migration lock taken by upgrade, downgrade and stamp.

PostgreSQL uses a session-level advisory lock and MySQL/MariaDB a named
``GET_LOCK``; both belong to the session, survive the commits a migration
makes and die with the session, so a killed process never leaves the lock
behind. SQLite uses an ``flock`` on a separate file next to the database,
released by the kernel when the process ends.

Each of enamel's databases (:mod:`enamel.databases`) has its own lock,
named by its ``lock_name``: a different advisory lock key, ``GET_LOCK``
name and lock file, so that upgrading one never waits for the other, even
when both share one server database or one SQLite file.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import time

import sqlalchemy as sa

from enamel import databases
from enamel import exception

LOG = logging.getLogger(__name__)

# pg_advisory_lock keys are scoped to the current database; this one spells
# "enamel" in ASCII.
PG_LOCK_KEY = 0x656E616D656C
MYSQL_LOCK_NAME_MAX = 64
SQLITE_POLL_INTERVAL = 0.05


@contextlib.contextmanager
def migration_lock(connection, timeout, database=databases.MAIN):
    """Hold the migration lock for the duration of the block.

    :param connection: the open ``sqlalchemy.engine.Connection`` the
        migration runs on; it is left outside any transaction.
    :param timeout: seconds to wait for another holder before raising
        :class:`enamel.exception.LockTimeout`.
    :param database: the :class:`enamel.databases.Database` whose lock
        this is (default ``main``).
    """
    backend = connection.dialect.name
    if backend == 'postgresql':
        lock = _postgresql_lock
    elif backend in ('mysql', 'mariadb'):
        lock = _mysql_lock
    elif backend == 'sqlite':
        lock = _sqlite_lock
    else:
        lock = _no_lock
    with lock(connection, timeout, database):
        yield


def _pg_key(database):
    # main keeps the key it always had; another database gets its own,
    # derived from its lock name (a positive 56-bit bigint).
    if database.lock_name == databases.MAIN.lock_name:
        return PG_LOCK_KEY
    digest = hashlib.sha256(database.lock_name.encode()).digest()
    return int.from_bytes(digest[:7], 'big')


def _waiting(timeout):
    LOG.warning('Waiting up to %ss for the migration lock held by another '
                'enamel-sync process ...', timeout)


def _timed_out(timeout, database):
    return exception.LockTimeout(
        f'gave up after {timeout}s waiting for the migration lock held by '
        f'another enamel-sync process ([{database.group}] '
        'migration_lock_timeout)')


@contextlib.contextmanager
def _postgresql_lock(connection, timeout, database):
    key = {'key': _pg_key(database)}
    got = connection.execute(
        sa.text('SELECT pg_try_advisory_lock(:key)'), key).scalar()
    if not got:
        if not timeout:
            connection.rollback()
            raise _timed_out(timeout, database)
        _waiting(timeout)
        connection.exec_driver_sql(
            f'SET LOCAL statement_timeout = {int(timeout * 1000)}')
        try:
            connection.execute(sa.text('SELECT pg_advisory_lock(:key)'), key)
        except sa.exc.OperationalError:
            connection.rollback()
            raise _timed_out(timeout, database) from None
    connection.commit()
    try:
        yield
    finally:
        _release(connection, 'SELECT pg_advisory_unlock(:key)', key)


@contextlib.contextmanager
def _mysql_lock(connection, timeout, database):
    # GET_LOCK names are server-wide: include the database name.
    schema = connection.exec_driver_sql('SELECT DATABASE()').scalar()
    name = {'name': f'{database.lock_name}.{schema}'[:MYSQL_LOCK_NAME_MAX]}
    got = connection.execute(
        sa.text('SELECT GET_LOCK(:name, 0)'), name).scalar()
    if not got and timeout:
        _waiting(timeout)
        got = connection.execute(
            sa.text('SELECT GET_LOCK(:name, :timeout)'),
            dict(name, timeout=timeout)).scalar()
    connection.commit()
    if not got:
        raise _timed_out(timeout, database)
    try:
        yield
    finally:
        _release(connection, 'SELECT RELEASE_LOCK(:name)', name)


def _release(connection, statement, params):
    if connection.closed or connection.invalidated:
        return  # the session, and the lock with it, is gone
    try:
        connection.rollback()
        connection.execute(sa.text(statement), params)
        connection.commit()
    except sa.exc.DBAPIError:
        # The server dropped the session; its locks went with it.
        LOG.debug('could not release the migration lock', exc_info=True)


@contextlib.contextmanager
def _sqlite_lock(connection, timeout, database):
    path = connection.engine.url.database
    if not path or path == ':memory:':
        yield  # a private in-memory database needs no lock
        return
    # main: enamel.sqlite.lock, as always; api: enamel.sqlite.api.lock.
    suffix = '' if database == databases.MAIN else f'.{database.name}'
    path = os.path.abspath(path) + suffix + '.lock'
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise exception.DatabaseError(
            f'cannot open the migration lock file {path}: '
            f'{exc.strerror}') from None
    try:
        _flock(fd, timeout, database)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _flock(fd, timeout, database):
    deadline = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        now = time.monotonic()
        if deadline is None:
            if not timeout:
                raise _timed_out(timeout, database)
            _waiting(timeout)
            deadline = now + timeout
        elif now >= deadline:
            raise _timed_out(timeout, database)
        time.sleep(SQLITE_POLL_INTERVAL)


@contextlib.contextmanager
def _no_lock(connection, timeout, database):
    LOG.warning('No migration lock for the %s dialect: do not run '
                'enamel-sync from several hosts at once',
                connection.dialect.name)
    yield
