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

"""Bounded lock waits for a revision's DDL (``[database] ddl_lock_timeout``
and ``ddl_lock_retries``), as GitLab's ``with_lock_retries`` does.

A DDL statement queued behind a service's long transaction waits, and
every query on that table queues behind it. PostgreSQL has no
``lock_timeout`` by default; MariaDB's ``lock_wait_timeout`` is a day. On
PostgreSQL the timeout is set with ``SET LOCAL`` in each transaction that
runs DDL (a session setting would leak to other clients behind a
transaction-pooling PgBouncer); on MySQL it is set for the session when
it connects (:func:`enamel.db.create_engine`), which bounds the statements
of an ``autocommit_block`` too. On PostgreSQL those run outside any
transaction, where ``SET LOCAL`` does nothing: a thread watches them
instead and cancels one that waited ``ddl_lock_timeout`` for a lock on a
table. A revision that gives up is
rolled back (on MySQL its committed statements are kept by the progress
journal) and run again after 1, 2, 4 ... seconds, saying what it waited
for and which transactions were open.
"""

import logging
import threading
import time

import sqlalchemy as sa
from sqlalchemy import event

from enamel import exception
from enamel import journal

LOG = logging.getLogger(__name__)

MAX_BACKOFF = 30  # seconds
_LOCK_NOT_AVAILABLE = '55P03'  # PostgreSQL, lock_timeout
_QUERY_CANCELED = '57014'  # PostgreSQL, pg_cancel_backend
WATCH_INTERVAL = 0.25  # seconds between two looks at a waiting statement
# The migration's statement that waits for a lock on a relation (not for
# other transactions to end, as CREATE INDEX CONCURRENTLY does by design:
# those waits block no other session), for at least :seconds.
CANCEL_WAITING = (
    'SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE '
    "application_name = :name AND datname = current_database() AND "
    "state = 'active' AND wait_event_type = "
    "'Lock' AND wait_event = 'relation' AND now() - query_start >= "
    'make_interval(secs => :seconds)')
_MYSQL_LOCK_WAIT_TIMEOUT = 1205  # metadata and row locks alike


class PostgreSQLTimeout:
    """PostgreSQL's bound on the lock waits of the migration's
    ``connection`` (nothing elsewhere, or with ``seconds`` 0):

    - in a transaction, ``SET LOCAL lock_timeout`` before its first DDL
      statement;
    - a DDL statement of an ``autocommit_block`` (no transaction, where
      ``SET LOCAL`` does nothing, and a session ``SET`` would stay on a
      server connection that a transaction-pooling PgBouncer hands to
      other clients) is watched from a thread with a connection of its
      own: once it has waited ``seconds`` for a lock on a table, it is
      cancelled (``pg_cancel_backend``), found by the session's
      ``application_name`` (``session``, which the pooler carries). Its
      waits for other transactions to end (``CREATE INDEX
      CONCURRENTLY``'s, by design, which block no other session) are not
      cut. :attr:`cancelled` then says the error came from here.

    :param session: the migration session's ``application_name``
        (:attr:`enamel.lease.LeaseLock.session_name`); without it
        autocommit statements are not watched.
    """

    def __init__(self, connection, seconds, session=None):
        self.connection = connection
        self.seconds = seconds
        self.active = (seconds and connection.dialect.name == 'postgresql')
        self.session = session if self.active else None
        self.cancelled = False
        self._pending = True
        self._since = None  # monotonic start of a watched statement
        self._stop = threading.Event()
        self._watcher = None

    def __enter__(self):
        if self.active:
            event.listen(self.connection, 'begin', self._begin)
            event.listen(self.connection, 'before_cursor_execute',
                         self._before)
        if self.session:
            event.listen(self.connection, 'after_cursor_execute',
                         self._after)
            self._watcher = threading.Thread(
                target=self._watch, name='enamel-ddl-lock-watch',
                daemon=True)
            self._watcher.start()
        return self

    def __exit__(self, *exc_info):
        if self.active:
            event.remove(self.connection, 'begin', self._begin)
            event.remove(self.connection, 'before_cursor_execute',
                         self._before)
        if self._watcher is not None:
            event.remove(self.connection, 'after_cursor_execute',
                         self._after)
            self._stop.set()
            self._watcher.join()
        return False

    def _begin(self, connection):
        self._pending = True

    def _before(self, connection, cursor, statement, parameters, context,
                executemany):
        # (A statement that failed is not seen by _after: the next one
        # ends its watch.)
        self._since = None
        if journal.keyword(statement) not in (
                'CREATE', 'ALTER', 'DROP', 'TRUNCATE', 'COMMENT'):
            return
        if context is not None and context.execution_options.get(
                'isolation_level') == 'AUTOCOMMIT':
            if self.session:
                self.cancelled = False
                self._since = time.monotonic()
            return
        if self._pending:
            cursor.execute(
                f"SET LOCAL lock_timeout = '{int(self.seconds)}s'")
            self._pending = False

    def _after(self, *args):
        self._since = None

    def _watch(self):
        """The watching thread: a look every :data:`WATCH_INTERVAL` while
        a watched statement has run for ``seconds``."""
        engine = self.connection.engine
        watcher = None
        try:
            while not self._stop.wait(WATCH_INTERVAL):
                since = self._since
                if since is None or time.monotonic() - since < self.seconds:
                    continue
                try:
                    if watcher is None:
                        watcher = engine.connect()
                    cancelled = watcher.execute(
                        sa.text(CANCEL_WAITING),
                        dict(name=self.session,
                             seconds=self.seconds)).scalar()
                    watcher.commit()
                except sa.exc.DBAPIError as exc:
                    LOG.debug('could not watch the running statement: %s',
                              exception.first_line(exc.orig))
                    if watcher is not None:
                        watcher.invalidate()
                        watcher.close()
                    watcher = None
                    continue
                if cancelled and self._since == since:
                    self.cancelled = True
                    LOG.debug('cancelled a statement of an autocommit block '
                              'that waited %ss for a lock', self.seconds)
        finally:
            if watcher is not None:
                watcher.close()


def gave_up_waiting(exc, cancelled=False):
    """Did ``exc`` (raised while a revision ran) end a lock wait?

    :param cancelled: :attr:`PostgreSQLTimeout.cancelled`: a cancelled
        statement ended a lock wait too.
    """
    while exc is not None:
        if isinstance(exc, sa.exc.DBAPIError):
            orig = exc.orig
            code = getattr(orig, 'sqlstate', None)
            args = getattr(orig, 'args', ())
            return code == _LOCK_NOT_AVAILABLE or (
                cancelled and code == _QUERY_CANCELED) or (
                bool(args) and args[0] == _MYSQL_LOCK_WAIT_TIMEOUT)
        exc = exc.__cause__ or exc.__context__
    return False


def open_transactions(connection):
    """The oldest open transactions of other sessions, as text for an
    operator ('' when they cannot be read)."""
    if connection.dialect.name == 'postgresql':
        query = (
            "SELECT pid, coalesce(application_name, ''), state, "
            'CAST(EXTRACT(EPOCH FROM now() - xact_start) AS INTEGER) '
            'FROM pg_stat_activity WHERE datname = current_database() AND '
            'pid <> pg_backend_pid() AND xact_start IS NOT NULL '
            'ORDER BY xact_start LIMIT 3')
        label = 'pid'
    else:
        query = (
            "SELECT trx_mysql_thread_id, '', trx_state, "
            'TIMESTAMPDIFF(SECOND, trx_started, NOW()) FROM '
            'information_schema.innodb_trx WHERE trx_mysql_thread_id <> '
            'CONNECTION_ID() ORDER BY trx_started LIMIT 3')
        label = 'connection'
    try:
        rows = connection.exec_driver_sql(query).all()
        connection.rollback()
    except sa.exc.SQLAlchemyError:
        return ''
    return ', '.join(
        f'{label} {pid}' + (f' ({name})' if name else '') +
        f' {state} for {age}s' for pid, name, state, age in rows)


def announce_retry(connection, revision, exc, seconds, attempt, retries,
                   wait):
    """Log that ``revision`` gave up waiting and is retried in ``wait``
    seconds."""
    holders = open_transactions(connection)
    LOG.warning(
        'Revision %s waited %ss for a lock held by another session (%s)%s; '
        'running it again in %ss (retry %s of %s, [database] '
        'ddl_lock_retries)', revision or '?', seconds,
        exception.first_line(getattr(exc, 'orig', exc)),
        f'; open transactions: {holders}' if holders else '', wait,
        attempt, retries)


def backoff(attempt):
    """Seconds before retry ``attempt`` (1, 2, 4 ... up to 30)."""
    return min(2 ** (attempt - 1), MAX_BACKOFF)
