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

"""The lease row: the migration lock on PostgreSQL (also behind PgBouncer)
and MySQL/MariaDB (also on any node of a Galera cluster); see
:mod:`enamel.lock` for why a row and not a session lock.

- **Acquire:** ``UPDATE ... SET holder = me, token = token + 1 WHERE
  holder IS NULL AND token = <seen>``; one row changed and a successful
  COMMIT win. The token is a fencing token: it grows with every holder.
- **Wait:** poll every :data:`POLL_INTERVAL` seconds, each poll a short
  transaction of its own on a connection that is not the migration's:
  a waiter never keeps a transaction open (``CREATE INDEX CONCURRENTLY``
  run by the holder waits for every open transaction). Give up after
  ``[database] migration_lock_timeout`` with ``LockTimeout``.
- **Lease:** the holder increments ``heartbeat`` every third of
  ``[database] migration_lock_lease`` from a thread with a connection of
  its own. A waiter that sees ``(token, heartbeat)`` unchanged for a whole
  lease, by its own monotonic clock (no clocks are compared across hosts),
  takes the lock over with a conditional UPDATE on the token and heartbeat
  it saw. A killed holder blocks the others for one lease at most.
  A holder of this host and PID namespace whose process is gone is taken
  over at once (:func:`dead_local_holder`).
- **Fencing:** :meth:`Fence.check` writes the lease row (``UPDATE ...
  WHERE token = <mine>``) on the migration's own connection, inside the
  transaction that writes the version row, so that a holder that lost its
  lease (a stall longer than the lease) commits nothing; the progress
  journal's rows are written by an ``INSERT ... SELECT`` from the lease
  row (:meth:`Fence.guard_sql`), before each DDL statement on MySQL.
  Before either, a stall of the renewals longer than the lease stops the
  holder without a statement.
- **Release:** ``UPDATE ... SET holder = NULL WHERE token = <mine>``,
  retried on a new connection for :data:`RELEASE_RETRY` seconds when the
  server or pooler went away.

Each of enamel's databases has its own row (``Database.lock_row``).

:class:`LeaseLock` is the lock as :mod:`enamel.lock` holds it; it is made
of a :class:`LockTable` (the row and the statements on it), a
:class:`Fence` (what the holder knows of its lease), :func:`acquire`
(the wait) and a :class:`Renewer` (the heartbeat thread).
"""

import contextlib
import hashlib
import logging
import os
import re
import socket
import threading
import time
import uuid

import sqlalchemy as sa

from enamel import databases
from enamel import db
from enamel import exception

LOG = logging.getLogger('enamel.lock')

LOCK_TABLE = databases.LOCK_TABLE
POLL_INTERVAL = 0.5  # seconds between two looks at the lease row
# MySQL's "Deadlock found": on Galera also a transaction that lost
# certification to a conflicting commit on another node.
MYSQL_DEADLOCK = 1213
MYSQL_LOCK_WAIT_TIMEOUT = 1205

CREATE_TABLE = {
    'postgresql': (f'CREATE TABLE IF NOT EXISTS {LOCK_TABLE} ('
                   'id INTEGER NOT NULL PRIMARY KEY, '
                   'holder VARCHAR(255), '
                   'token BIGINT NOT NULL, '
                   'heartbeat BIGINT NOT NULL)'),
    'mysql': (f'CREATE TABLE IF NOT EXISTS {LOCK_TABLE} ('
              'id INTEGER NOT NULL PRIMARY KEY, '
              'holder VARCHAR(255) NULL, '
              'token BIGINT NOT NULL, '
              'heartbeat BIGINT NOT NULL) ENGINE=InnoDB'),
}
READ = f'SELECT holder, token, heartbeat FROM {LOCK_TABLE} WHERE id = :row'
INSERT = (f'INSERT INTO {LOCK_TABLE} (id, holder, token, heartbeat) '
          'VALUES (:row, NULL, 0, 0)')
ACQUIRE = (f'UPDATE {LOCK_TABLE} SET holder = :me, token = :token, '
           'heartbeat = 0 WHERE id = :row AND holder IS NULL '
           'AND token = :seen')
TAKE_OVER = (f'UPDATE {LOCK_TABLE} SET holder = :me, token = :token, '
             'heartbeat = 0 WHERE id = :row AND token = :seen '
             'AND heartbeat = :heartbeat')
RENEW = (f'UPDATE {LOCK_TABLE} SET heartbeat = heartbeat + 1 '
         'WHERE id = :row AND token = :token AND holder = :me')
RELEASE = (f'UPDATE {LOCK_TABLE} SET holder = NULL, heartbeat = 0 '
           'WHERE id = :row AND token = :token AND holder = :me')
# The fence, in the transaction that writes a version row: a write, so that
# it conflicts with a takeover (a row lock on one server, certification on
# Galera, where a read would fence nothing); it counts as a renewal too.
FENCE = RENEW
# How long the holder retries releasing the lock on a connection that went
# away (a restarted server or pooler), in seconds; a bound.
RELEASE_RETRY = 10


def local_identity():
    """What tells this host and PID namespace from others: the host name
    and, on Linux, the inode of ``/proc/self/ns/pid`` ('' elsewhere)."""
    try:
        namespace = str(os.stat('/proc/self/ns/pid').st_ino)
    except OSError:
        namespace = ''
    return socket.gethostname(), namespace


def session_name(row, token, holder):
    """The PostgreSQL ``application_name`` of a migration session: the
    lock row, the fencing token and a digest of the holder (str, at most
    63 bytes, PostgreSQL's NAMEDATALEN - 1).

    Tokens count per database from 1, so without the holder two
    databases' migrations (or a holder and one that took over a stale
    row) would share a name, and ending one holder's sessions would end
    another's; the digest keeps it unique.
    """
    digest = hashlib.sha256(holder.encode()).hexdigest()[:12]
    return f'enamel-sync:{row}:{token}:{digest}'


def dead_local_holder(holder):
    """Is ``holder`` (a lease row's ``holder``) a process of this host and
    PID namespace that no longer exists? Such a holder is taken over at
    once instead of after its lease. A holder of another host, or one that
    cannot be told (another format, a PID reused), is not."""
    parts = (holder or '').split(':')
    if len(parts) != 4 or not parts[1].isdigit():
        return False
    if (parts[0], parts[3]) != local_identity():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, owned by another user
    return False


def log_waiting(timeout, holder=None):
    """Say that this process waits for the lock: progress (INFO), so
    ``--quiet`` leaves it out; giving up is the error that counts."""
    held_by = f' ({holder})' if holder else ''
    LOG.info('Waiting up to %ss for the migration lock held by another '
             'enamel-sync process%s ...', timeout, held_by)


def timed_out(timeout, database, detail=''):
    """The ``LockTimeout`` after ``timeout`` seconds of waiting for
    ``database``'s lock (shared with the file lock)."""
    return exception.LockTimeout(
        f'gave up after {timeout}s waiting for the migration lock held by '
        f'another enamel-sync process ([{database.group}] '
        f'migration_lock_timeout){detail}')


class Fence:
    """What this process knows of its lease, and the checks that keep a
    holder that lost it from committing.

    :param row: the lease row's id.
    :param lease: seconds without a renewal after which a holder may be
        taken over.
    :param database: the :class:`enamel.databases.Database`.
    """

    def __init__(self, row, lease, database):
        self.row = row
        self.lease = lease
        self.database = database
        host, namespace = local_identity()
        self.holder = (f'{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}:'
                       f'{namespace}')[:255]
        self.token = None
        self.renewed = None  # monotonic time the last renewal was sent
        self.lost_because = None  # why the lease is known to be lost

    def won(self, token, started):
        """The lease was won with ``token`` by a statement sent at
        ``started`` (monotonic)."""
        self.token = token
        self.renewed = started

    def params(self, **extra):
        """The bind parameters naming this holder's row and token."""
        return dict(token=self.token, me=self.holder, row=self.row, **extra)

    def lose(self, why):
        """Record that the lease is lost (``why``)."""
        self.lost_because = why

    def lost(self, why):
        """Record that the lease is lost (``why``) and raise LockLost."""
        self.lose(why)
        raise exception.LockLost(self.message())

    def message(self):
        return (f'lost the migration lock ([{self.database.group}] '
                f'migration_lock_lease = {self.lease}s): '
                f'{self.lost_because}; this process stopped '
                'before recording another revision')

    def check(self, connection):
        """See :meth:`LeaseLock.check`."""
        self.check_renewed()
        result = connection.execute(sa.text(FENCE), self.params())
        if result.rowcount != 1:
            self.lost(_holder_now(connection, self.row))

    def guard_sql(self):
        """See :meth:`LeaseLock.guard_sql`."""
        return f'FROM {LOCK_TABLE} {self._held()}'

    def _held(self, alias=None):
        """``WHERE`` the lease row is this process's (literal values), its
        columns qualified with ``alias`` if given."""
        self.check_renewed()
        holder = self.holder.replace("'", "''")
        a = f'{alias}.' if alias else ''
        return (f"WHERE {a}id = {self.row} AND {a}token = {self.token} AND "
                f"{a}holder = '{holder}'")

    def held_sql(self, alias):
        """See :meth:`LeaseLock.held_sql`."""
        return self._held(alias)

    def fence_sql(self):
        """See :meth:`LeaseLock.fence_sql`."""
        return (f'UPDATE {LOCK_TABLE} SET heartbeat = heartbeat + 1 '
                f'{self._held()}')

    def check_renewed(self):
        """:raises exception.LockLost: the lease is known to be lost, or
        no renewal succeeded for a whole lease."""
        if self.lost_because:
            raise exception.LockLost(self.message())
        stalled = time.monotonic() - self.renewed
        if stalled >= self.lease:
            raise exception.LockLost(
                f'the migration lock could not be renewed for '
                f'{stalled:.0f}s, longer than its lease of {self.lease}s '
                f'([{self.database.group}] migration_lock_lease): another '
                'enamel-sync process may have taken it over; stopped '
                'before recording the revision')


def _holder_now(connection, row_id):
    """Who holds the lease now, read on ``connection`` (for the message
    of a lost lease)."""
    try:
        row = connection.execute(sa.text(READ), dict(row=row_id)).first()
    except sa.exc.DBAPIError:
        return 'its row names another holder or token'
    if row is None:
        return 'its row was deleted'
    return f'now held by {row.holder or "nobody"} with token {row.token}'


class LockTable:
    """The lease row of one database, through a connection of the lock's
    own: the table and row made when missing, the row read, won and
    released.

    :param engine: the engine of the enamel database.
    :param database: the :class:`enamel.databases.Database`.
    """

    def __init__(self, engine, database):
        self.engine = engine
        self.database = database
        self.row = database.lock_row
        self.galera = False
        self.connection = None

    def open(self, lease, timeout):
        """Connect, and tell a Galera node from a single server (warning
        when ``lease`` is not longer than the cluster's failure
        detection)."""
        # The migration's own connection is open (Access.locked): the
        # database answered, so a failure here is passing (a restart).
        try:
            self.connection = db.connect(self.engine, db.RECONNECT)
        except sa.exc.DBAPIError as exc:
            raise exception.DatabaseError(
                f'cannot connect to the database for the migration lock '
                f'(tried for {db.RECONNECT}s): '
                f'{exception.first_line(exc.orig)}') from None
        connection = self.connection
        backend = connection.dialect.name
        why = ('a session advisory lock would leak behind a transaction-'
               'pooling PgBouncer')
        if backend in ('mysql', 'mariadb'):
            row = self._run("SHOW VARIABLES LIKE 'wsrep_on'").first()
            self.galera = bool(row) and str(row[1]).upper() == 'ON'
            if self.galera:
                why = ('Galera node (wsrep_on=ON): GET_LOCK and SELECT ... '
                       'FOR UPDATE are node-local on a cluster; a committed '
                       'write is certified cluster-wide')
                connection.exec_driver_sql('SET SESSION wsrep_sync_wait = 1')
                self._check_failure_detection(lease)
            else:
                why = ('MySQL/MariaDB server without wsrep: the same lease '
                       'row as on a Galera cluster')
            connection.commit()
        LOG.debug('migration lock: lease row in %s (lease %ss, timeout %ss); '
                  '%s', LOCK_TABLE, lease, timeout, why)

    def _check_failure_detection(self, lease):
        """Warn when the lease is not longer than the time the Galera
        cluster takes to declare a node dead (``evs.inactive_timeout``,
        15 s by default; Galera's documentation): a holder on a node cut
        off from the cluster could then be taken over while its writes may
        still certify."""
        row = self._run("SHOW VARIABLES LIKE "
                        "'wsrep_provider_options'").first()
        detection = galera_inactive_timeout(row[1] if row else '')
        if detection is not None and lease <= detection:
            LOG.warning(
                '[%s] migration_lock_lease = %ss is not longer than the '
                'Galera cluster\'s failure detection (evs.inactive_timeout '
                '= %ss): a holder on a node cut off from the cluster could '
                'be taken over while its writes still certify; set it '
                'above %ss', self.database.group, lease, detection,
                detection)

    def ensure_row(self):
        """Create the table and this database's row when missing (another
        process may be creating them at the same time)."""
        connection = self.connection
        try:
            exists = sa.inspect(connection).has_table(LOCK_TABLE)
            connection.rollback()
            if not exists:
                dialect = 'mysql' if self.engine.dialect.name in (
                    'mysql', 'mariadb') else 'postgresql'
                self._run(CREATE_TABLE[dialect], commit=True)
        except sa.exc.DBAPIError as exc:
            # Two processes creating the table at once on PostgreSQL: one
            # of them loses on the catalog's unique index. Both go on.
            connection.rollback()
            if not sa.inspect(connection).has_table(LOCK_TABLE):
                raise self._failed('create', exc) from None
            connection.rollback()
        if self.read() is None:
            try:
                self._run(INSERT, commit=True)
            except sa.exc.DBAPIError as exc:
                # Another process inserted it first (duplicate key, or
                # certification on Galera).
                connection.rollback()
                if self.read() is None:
                    raise self._failed('create the row of', exc) from None

    def read(self):
        """The row (``holder``, ``token``, ``heartbeat``), or None."""
        try:
            return self._run(READ, commit=True, fetch=True)
        except sa.exc.DBAPIError as exc:
            raise self._failed('read', exc) from None

    def swap(self, statement, row, fence, started):
        """Run the conditional UPDATE that wins the lock from ``row`` (as
        read); True if it changed the row and committed, and then
        ``fence`` holds the new token."""
        token = row.token + 1
        params = dict(me=fence.holder, token=token, seen=row.token,
                      heartbeat=row.heartbeat, row=self.row)
        connection = self.connection
        try:
            result = connection.execute(sa.text(statement), params)
            if result.rowcount != 1:
                connection.rollback()
                return False
            connection.commit()
        except sa.exc.DBAPIError as exc:
            connection.rollback()
            if _mysql_code(exc) in (MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT):
                # Another node's commit won certification: we lost.
                LOG.debug('migration lock: lost a race (%s)',
                          exception.first_line(exc.orig))
                return False
            raise self._failed('take', exc) from None
        fence.won(token, started)
        LOG.debug('migration lock: held by %s with token %s',
                  fence.holder, token)
        return True

    def close(self):
        if self.connection is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self.connection.close()
            self.connection = None

    def _run(self, statement, commit=False, fetch=False):
        params = dict(row=self.row) if ':row' in statement else {}
        result = self.connection.execute(sa.text(statement), params)
        row = result.first() if fetch else None
        if commit:
            self.connection.commit()
        return row if fetch else result

    def _failed(self, what, exc):
        return exception.DatabaseError(
            f'could not {what} the migration lock table {LOCK_TABLE}: '
            f'{exception.first_line(exc.orig)}')


def end_sessions(table, row):
    """PostgreSQL: end the sessions of the holder of ``table``'s row
    being taken over (``row`` as read). Frozen (SIGSTOP, a paused VM), its open
    transaction would keep its row and catalog locks, and the taker's
    DDL would wait behind it for ever; ended, the server rolls it
    back."""
    if table.engine.dialect.name != 'postgresql':
        return
    try:
        ended = table.connection.execute(sa.text(
            'SELECT count(pg_terminate_backend(pid)) FROM '
            'pg_stat_activity WHERE application_name = :name AND '
            'datname = current_database() AND pid <> pg_backend_pid()'),
            dict(name=session_name(table.row, row.token,
                                   row.holder))).scalar()
        table.connection.commit()
    except sa.exc.DBAPIError as exc:
        table.connection.rollback()
        LOG.debug('migration lock: could not end the sessions of %s: %s',
                  row.holder, exception.first_line(exc.orig))
        return
    if ended:
        LOG.warning('Ended %s database session(s) of %s, whose '
                    'transaction the server rolls back', ended,
                    row.holder)


def release(table, fence):
    """Release ``table``'s lease row held by ``fence``; a connection that
    went away (a server or pooler restarted) is replaced, for
    :data:`RELEASE_RETRY` seconds at most. Never raises a database error:
    a lease that cannot be released is taken over after its lease."""
    deadline = time.monotonic() + RELEASE_RETRY
    delay = POLL_INTERVAL / 2
    error = None
    while True:
        connection = table.connection
        try:
            if connection is None or connection.invalidated or (
                    connection.closed):
                connection = None
                connection = table.connection = table.engine.connect()
            connection.rollback()
            connection.execute(sa.text(RELEASE), fence.params())
            connection.commit()
            LOG.debug('migration lock: released token %s', fence.token)
            return
        except sa.exc.DBAPIError as exc:
            error = exc
            if connection is not None:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    connection.rollback()
            if _mysql_code(exc) != MYSQL_DEADLOCK:
                table.close()
        if time.monotonic() + delay > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 2)
    LOG.warning('Could not release the migration lock (%s); the next '
                'enamel-sync takes it over after its lease of %ss',
                exception.first_line(error.orig), fence.lease)


def acquire(table, fence, timeout):
    """Wait for the lease row of ``table`` and win it for ``fence``:
    free, or held by a dead local process, or held by a holder that did
    not renew for a whole lease (see the module docstring).

    :param timeout: seconds to wait; 0: do not wait.
    :raises exception.LockTimeout: gave up after ``timeout`` seconds.
    """
    lease = fence.lease
    waited_since = None
    seen = None  # (holder, token, heartbeat) of the holder we wait for
    seen_since = None
    while True:
        started = time.monotonic()
        row = table.read()
        if row is None:
            raise exception.DatabaseError(
                f'the row of the migration lock table {LOCK_TABLE} '
                'was deleted while waiting for it')
        if row.holder is None:
            if table.swap(ACQUIRE, row, fence, started):
                return
        else:
            state = (row.holder, row.token, row.heartbeat)
            if dead_local_holder(row.holder):
                end_sessions(table, row)
                if table.swap(TAKE_OVER, row, fence, started):
                    LOG.warning(
                        'Took over the migration lock from %s, a '
                        'process of this host that no longer exists',
                        row.holder)
                    return
            elif state != seen:
                seen, seen_since = state, started
            elif started - seen_since >= lease:
                end_sessions(table, row)
                if table.swap(TAKE_OVER, row, fence, started):
                    LOG.warning(
                        'Took over the migration lock from %s, which '
                        'did not renew its lease for %.0fs ([%s] '
                        'migration_lock_lease = %ss)', row.holder,
                        started - seen_since, fence.database.group, lease)
                    return
        now = time.monotonic()
        if waited_since is None:
            waited_since = now
            if timeout:
                log_waiting(timeout, row.holder)
        if now - waited_since >= timeout:
            detail = ''
            # A live holder renews every third of the lease: say so
            # only when it missed a renewal.
            if seen is not None and (
                    now - seen_since > lease / 3 + 2 * POLL_INTERVAL):
                detail = (f'; its holder {seen[0]} has not renewed its '
                          f'lease for {now - seen_since:.0f}s (taken '
                          f'over after {lease}s, '
                          f'[{fence.database.group}] '
                          'migration_lock_lease)')
            raise timed_out(timeout, fence.database, detail)
        time.sleep(POLL_INTERVAL)


class Renewer:
    """The heartbeat: a thread with a connection of its own that renews
    ``fence``'s lease every third of it, and records the lease as lost
    when another process took it over.

    :param engine: the engine of the enamel database.
    :param fence: the holder's :class:`Fence`.
    :param galera: reads on a Galera node are made causal.
    """

    def __init__(self, engine, fence, galera):
        self.engine = engine
        self.fence = fence
        self.galera = galera
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(
            target=self._loop, name='enamel-lock-renew', daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self):
        fence = self.fence
        connection = None
        interval = fence.lease / 3
        while not self._stop.wait(interval):
            sent = time.monotonic()
            try:
                if connection is None:
                    connection = self.engine.connect()
                    if self.galera:
                        connection.exec_driver_sql(
                            'SET SESSION wsrep_sync_wait = 1')
                        connection.commit()
                result = connection.execute(sa.text(RENEW), fence.params())
                changed = result.rowcount
                connection.commit()
            except sa.exc.DBAPIError as exc:
                # Try again at the next beat, on a new connection; if none
                # succeeds for a lease, Fence.check reports it.
                LOG.debug('migration lock: renewal failed: %s',
                          exception.first_line(exc.orig))
                if connection is not None:
                    with contextlib.suppress(sa.exc.SQLAlchemyError):
                        connection.close()
                connection = None
                continue
            if changed != 1:
                fence.lose('another process took it over')
                LOG.error('The migration lock was taken over by another '
                          'enamel-sync process: %s', fence.message())
                break
            fence.renewed = sent
        if connection is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                connection.close()


class LeaseLock:
    """The lease row in ``enamel_migration_lock`` (see the module
    docstring): for PostgreSQL (also behind PgBouncer) and MySQL/MariaDB
    (also on any node of a Galera cluster).

    :param engine: the engine of the enamel database; the lock opens its
        own connections from it.
    :param timeout: seconds to wait for another holder; 0: do not wait.
    :param lease: seconds without a heartbeat after which a holder is
        taken over; the holder renews every third of it.
    """

    def __init__(self, engine, timeout, lease, database=databases.MAIN):
        self.engine = engine
        self.timeout = timeout
        self.lease = lease
        self.database = database
        self.row = database.lock_row
        self.fence = Fence(self.row, lease, database)
        self.table = LockTable(engine, database)
        self.renewer = None

    @property
    def holder(self):
        """This process's name in the row's ``holder``."""
        return self.fence.holder

    @property
    def token(self):
        """The fencing token this process holds (None before it won)."""
        return self.fence.token

    @property
    def galera(self):
        """Is the database a Galera node?"""
        return self.table.galera

    def __enter__(self):
        try:
            self.table.open(self.lease, self.timeout)
            self.table.ensure_row()
            acquire(self.table, self.fence, self.timeout)
        except BaseException:
            self.table.close()
            raise
        self.renewer = Renewer(self.engine, self.fence, self.galera)
        self.renewer.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.renewer is not None:
            self.renewer.stop()
        try:
            if self.token is not None and not self.fence.lost_because:
                release(self.table, self.fence)
        finally:
            self.table.close()
        if exc_type is None and self.fence.lost_because:
            raise exception.LockLost(self.fence.message())
        return False

    def prepare(self, connection):
        """Make the migration's ``connection`` see everything committed
        before the lock was won. On a Galera node reads are made causal
        (``wsrep_sync_wait``), so that the version table read next is not
        older than the previous holder's last commit on another node.
        Leaves the connection outside any transaction.
        """
        if self.galera:
            connection.exec_driver_sql('SET SESSION wsrep_sync_wait = 1')
            connection.commit()
        elif connection.dialect.name == 'postgresql':
            # Names the session after the lease (PgBouncer tracks the
            # parameter): a process that takes the lease over ends it.
            connection.exec_driver_sql(
                f"SET application_name = '{self.session_name}'")
            connection.commit()

    def unprepare(self, connection):
        """Undo :meth:`prepare`'s session name before ``connection`` goes
        back to its pool. A transaction-pooling PgBouncer (1.18 at least)
        hands the server connection with the name still set to the next
        client that names no application, whose session a takeover would
        then end. Never raises: a broken connection is closed anyway."""
        if connection.dialect.name != 'postgresql':
            return
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            connection.rollback()
            connection.exec_driver_sql('RESET application_name')
            connection.commit()

    @property
    def session_name(self):
        """PostgreSQL: the ``application_name`` of the migration's session
        while this process holds the lease (set by :meth:`prepare`; a
        transaction-pooling PgBouncer carries it to whichever server
        connection runs the next statement); None elsewhere."""
        if self.engine.dialect.name != 'postgresql' or self.token is None:
            return None
        return session_name(self.row, self.token, self.holder)

    def check(self, connection):
        """Raise unless this process still holds the lease; otherwise hold
        it until ``connection``'s transaction ends.

        Called from alembic's ``on_version_apply``, on the migration's
        ``connection`` and inside the transaction that writes the version
        row, which it leaves open: a conditional ``UPDATE`` of the lease
        row (one statement), so that the version row commits only with
        it. A takeover cannot commit in between: on one server it waits
        for the row lock; on Galera one of the two conflicting commits
        fails certification (error 1213).

        :raises exception.LockLost: the renewal thread saw another token,
            no renewal succeeded for a whole lease (another process may
            have taken over; no statement is sent), or the row names
            another holder or token.
        """
        self.fence.check(connection)

    def guard_sql(self):
        """``FROM ... WHERE`` finding the lease row only while this process
        holds it (literal values), for an ``INSERT ... SELECT`` that
        writes nothing once the lease is lost (see :mod:`enamel.journal`).
        Raises, without a statement, when the renewals stalled a lease.
        """
        return self.fence.guard_sql()

    def fence_sql(self):
        """:data:`FENCE` with literal values (for a DBAPI cursor, in the
        middle of another statement's execution): one row changed while
        this process holds the lease, none once it lost it. Raises,
        without a statement, when the renewals stalled a lease."""
        return self.fence.fence_sql()

    def held_sql(self, alias):
        """``WHERE`` the lease row, as ``alias`` in a multi-table
        statement, is this process's (literal values). Raises, without a
        statement, when the renewals stalled a lease."""
        return self.fence.held_sql(alias)

    def lost(self, why):
        """Record that the lease is lost (``why``) and raise LockLost."""
        self.fence.lost(why)


def galera_inactive_timeout(provider_options):
    """Seconds of ``evs.inactive_timeout`` in a ``wsrep_provider_options``
    value (an ISO 8601 duration such as ``PT15S``), or None."""
    for option in provider_options.split(';'):
        name, _, value = option.partition('=')
        if name.strip() == 'evs.inactive_timeout':
            match = re.fullmatch(
                r'PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?',
                value.strip())
            if match:
                hours, minutes, seconds = match.groups()
                return (int(hours or 0) * 3600 + int(minutes or 0) * 60 +
                        float(seconds or 0))
    return None


def _mysql_code(exc):
    args = getattr(exc.orig, 'args', ())
    return args[0] if args and isinstance(args[0], int) else None
