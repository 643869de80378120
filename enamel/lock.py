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

On PostgreSQL and MySQL/MariaDB the lock is a *lease row*: the one row of
enamel's own table ``enamel_migration_lock``, won by a committed
conditional ``UPDATE``. Session locks (``GET_LOCK``, ``pg_advisory_lock``)
do not hold where operators run enamel: ``GET_LOCK`` and ``SELECT ... FOR
UPDATE`` are node-local on a Galera cluster, and behind a
transaction-pooling PgBouncer a session lock taken in one transaction is
released, or leaks, on another server session. A committed write holds on
both: Galera's certification lets exactly one of two conflicting commits
through (the other gets error 1213), and every lock statement is a
transaction of its own.

How the row is won, renewed, taken over and released: :mod:`enamel.lease`.

SQLite keeps an ``flock`` on a separate file next to the database,
released by the kernel when the process ends.

The lock table is enamel's bookkeeping, not a model table: it has a
primary key (Galera's strict mode refuses tables without one), it is left
in place by a downgrade to base, and the reading commands leave it out.

Each of enamel's databases (:mod:`enamel.databases`) has its own lock: its
own row of the lock table (``lock_row``) and its own lock file, so that
upgrading one never waits for the other, even when both share one server
database or one SQLite file.
"""

import contextlib
import fcntl
import logging
import os
import time

from enamel import databases
from enamel import exception
from enamel import lease

LOG = logging.getLogger(__name__)

# The lease table and how its row is read (tests and tools read it too).
LOCK_TABLE = lease.LOCK_TABLE
READ = lease.READ
SQLITE_POLL_INTERVAL = 0.05


@contextlib.contextmanager
def migration_lock(engine, conf, database=databases.MAIN):
    """Hold the migration lock for the duration of the block.

    Lock statements run on connections of the lock's own, never on the
    migration's, each in a short transaction of its own.

    :param engine: the ``sqlalchemy.engine.Engine`` of the enamel database.
    :param conf: an ``oslo_config.cfg.ConfigOpts`` with enamel's options:
        ``[database] migration_lock_timeout`` (seconds to wait for another
        holder) and ``migration_lock_lease`` (seconds without a heartbeat
        after which a holder counts as dead).
    :yields: the held lock; call its ``check(connection)`` before writing
        the version table (see :meth:`LeaseLock.check`).
    :raises exception.LockTimeout: another process held the lock longer
        than the timeout.
    :raises exception.DatabaseError: a lock statement failed (the message
        says which and why).
    :raises exception.LockLost: on leaving the block, if the lease was
        lost while it ran.
    :param database: the :class:`enamel.databases.Database` whose lock
        this is (default ``main``); its option group gives the timeout and
        the lease.
    """
    options = database.options(conf)
    timeout = options.migration_lock_timeout
    backend = engine.dialect.name
    if backend == 'sqlite':
        held = FileLock(engine.url.database, timeout, database)
    elif backend in ('postgresql', 'mysql', 'mariadb'):
        held = lease.LeaseLock(
            engine, timeout, options.migration_lock_lease, database)
    else:
        held = NoLock(backend)
    with held:
        yield held


class NoLock:
    """No lock at all: an engine enamel does not know how to lock."""

    def __init__(self, backend):
        self.backend = backend

    def __enter__(self):
        LOG.warning('No migration lock for the %s dialect: do not run '
                    'enamel-sync from several hosts at once', self.backend)
        return self

    def __exit__(self, *exc_info):
        return False

    session_name = None  # see LeaseLock.session_name

    def prepare(self, connection):
        """Nothing to prepare."""

    def unprepare(self, connection):
        """Nothing to undo."""

    def check(self, connection):
        """Nothing to check."""

    def guard_sql(self):
        """No lease row to fence with (see
        :meth:`enamel.lease.LeaseLock.guard_sql`)."""
        return None


class FileLock(NoLock):
    """An ``flock`` on ``<database file>.lock``; the kernel releases it
    when the process ends, however it ends. ``check`` has nothing to
    verify: the lock cannot be lost while the process lives."""

    def __init__(self, path, timeout, database=databases.MAIN):
        self.path = path
        self.timeout = timeout
        self.database = database
        self.fd = None

    def __enter__(self):
        if not self.path or self.path == ':memory:':
            return self  # a private in-memory database needs no lock
        # main: enamel.sqlite.lock; api: enamel.sqlite.api.lock.
        suffix = ('' if self.database.name == databases.MAIN.name
                  else f'.{self.database.name}')
        path = os.path.abspath(self.path) + suffix + '.lock'
        LOG.debug('migration lock: flock on %s (SQLite)', path)
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise exception.DatabaseError(
                f'cannot open the migration lock file {path}: '
                f'{exc.strerror}') from None
        try:
            self._flock()
        except BaseException:
            os.close(self.fd)
            self.fd = None
            raise
        return self

    def __exit__(self, *exc_info):
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None
        return False

    def _flock(self):
        deadline = None
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            now = time.monotonic()
            if deadline is None:
                if not self.timeout:
                    raise lease.timed_out(self.timeout, self.database)
                lease.log_waiting(self.timeout)
                deadline = now + self.timeout
            elif now >= deadline:
                raise lease.timed_out(self.timeout, self.database)
            time.sleep(SQLITE_POLL_INTERVAL)
