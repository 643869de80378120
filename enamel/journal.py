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

"""The progress journal: a revision cut between two statements resumes.

MySQL/MariaDB commits every DDL statement (and any engine commits every
statement of an ``autocommit_block``): a revision killed, cut off or
failing midway leaves its first statements committed and its version row
unwritten, and running it again fails on "already exists". enamel keeps a
journal of such a revision in its own table, ``enamel_migration_progress``
(alembic's version table is alembic's alone):

- **Written only when something commits inside a revision:** before each
  statement MySQL may commit implicitly (DDL, and anything else but reads
  and changes of rows: see :func:`may_commit`; its commit also commits
  the row),
  before and after each statement of an ``autocommit_block``, and before
  alembic commits inside a revision. A row per statement (its position
  and a digest of its SQL text), and a marker row (statement 0) naming the
  revision in flight. A revision that commits only with its version row
  (any revision on PostgreSQL or SQLite outside ``autocommit_block``)
  writes nothing. The rows are deleted in the transaction that writes the
  revision's version row; in a long run on MySQL, where that transaction
  goes on to the next revisions, the next revision's marker takes the
  marker row over instead (one ``UPDATE``, which is the fence too: see
  :meth:`RowWriter.retarget`), and a COMMIT deletes what is left.
- **At most one statement is in doubt:** the one after the last recorded,
  which may have committed after its row was written. The next run of
  the same revision (alembic runs it, as always) skips the recorded
  statements, checking their digests, and runs the one in doubt: an error
  that says its effect is already there (an object that already exists,
  or, for a ``DROP``/``RENAME``, no longer exists) settles it as done.
- **Fencing:** where a lease is held (:mod:`enamel.lease`), every row is
  written by an ``INSERT ... SELECT`` from the lease row that selects
  nothing once this process lost the lease: a holder that lost it stops
  before its next DDL statement. On MySQL a DDL statement whose
  transaction holds version rows of earlier revisions (a long run's
  group, see :mod:`enamel.runner`) commits them too: the lease row is
  written first in that transaction (:meth:`RowWriter.fence`), so that
  they commit only with the lease, as at any COMMIT (a write, which a
  takeover conflicts with on Galera too; a read would not).

Any other run (another target, a downgrade, a stamp) while a revision is
in flight is refused with :class:`enamel.exception.MigrationInDoubt`,
which names the revision and what is in doubt.

:class:`Journal` is the journal of one run; it is made of an
:class:`InFlight` (what an earlier run left, and which of its statements
are skipped), :class:`StatementHooks` (SQLAlchemy's execute and commit
events), a :class:`RowWriter` (the fenced rows) and a :class:`Group`
(the version rows a transaction spanning revisions carries on MySQL).
"""

import hashlib
import logging
import re

import sqlalchemy as sa
from sqlalchemy import event

from enamel import databases
from enamel import exception

LOG = logging.getLogger(__name__)

JOURNAL_TABLE = databases.JOURNAL_TABLE
# Keyed by the database's row and the statement's position only: one
# revision is in flight at a time, so the marker (statement 0) changes
# revision in place (on MySQL a change of key columns is a delete and an
# insert in the clustered index, twice the work of :meth:`RowWriter.
# retarget`'s update). A table an earlier enamel-sync made keys the
# operation and revision too; it works the same, only slower.
_COLUMNS = ('id INTEGER NOT NULL, statement INTEGER NOT NULL, '
            'operation VARCHAR(16) NOT NULL, '
            'revision VARCHAR(255) NOT NULL, digest VARCHAR(64) NOT NULL, '
            'PRIMARY KEY (id, statement)')
CREATE = f'CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} ({_COLUMNS})'
READ = (f'SELECT operation, revision, statement, digest FROM {JOURNAL_TABLE} '
        'WHERE id = :row ORDER BY statement')

# Statements that read, or manage the transaction: run again by a rerun,
# never journaled (a batch operation's reflection must see the table).
_NOT_JOURNALED = frozenset((
    'SELECT', 'PRAGMA', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'WITH',
    'BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'SET',
    'VALUES'))
# What MySQL commits implicitly (its manual, "Statements That Cause an
# Implicit Commit").
_DDL = frozenset(('CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE'))
# ... but not the statements that make or drop a temporary table.
_TEMPORARY = re.compile(r'(CREATE(\s+OR\s+REPLACE)?|DROP)\s+TEMPORARY\s',
                        re.IGNORECASE)
# What MySQL never commits before running: reads and changes of rows. Any
# other statement may (the manual's list also has ANALYZE, OPTIMIZE and
# REPAIR TABLE, LOCK TABLES, GRANT, BEGIN, SET autocommit = 1...).
_NEVER_COMMITS = frozenset((
    'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'WITH', 'VALUES',
    'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'SAVEPOINT', 'RELEASE',
    'ROLLBACK', 'DO', 'HANDLER', 'PRAGMA'))
# Blanks, parentheses and comments before a statement's first word.
_LEADING = re.compile(r'(?:\s|\(|/\*.*?\*/|(?:--|#)[^\n]*(?:\n|$))*',
                      re.DOTALL)
# MySQL's "a transaction is open" bit of the server status (PyMySQL's
# Connection.server_status, from each OK/EOF packet).
_SERVER_STATUS_IN_TRANS = 1

# Errors that say a statement's effect is already there: the object it
# creates exists (MySQL 1050 table, 1060 column, 1061 index, 1022/1826 a
# constraint name, 1068 primary key; PostgreSQL duplicate_table,
# duplicate_column, duplicate_object, duplicate_schema).
_EXISTS = {
    'mysql': {1050, 1060, 1061, 1022, 1826, 1068},
    'postgresql': {'42P07', '42701', '42710', '42P06'},
}
# ... or, for a statement that drops or renames, the object is gone
# (MySQL 1051 unknown table, 1091 cannot drop, 1146 no such table, 1054
# unknown column; PostgreSQL undefined_table, undefined_column,
# undefined_object).
_GONE = {
    'mysql': {1051, 1091, 1146, 1054},
    'postgresql': {'42P01', '42703', '42704'},
}


def commits_implicitly(statement):
    """Does MySQL commit the open transaction before running
    ``statement`` (DDL; its manual, "Statements That Cause an Implicit
    Commit")?"""
    return keyword(statement) in _DDL and not _TEMPORARY.match(
        _after_comments(statement))


def may_commit(statement):
    """Might MySQL commit the open transaction before running
    ``statement``? True for anything but a read or a change of rows (and
    a ``SET`` that leaves ``autocommit`` alone): an unknown statement is
    taken to commit, which costs a fence and a journal row, where taking
    it not to would let version rows commit unfenced."""
    word = keyword(statement)
    if word == 'SET':
        return 'AUTOCOMMIT' in statement.upper()
    return word not in _NEVER_COMMITS and not _TEMPORARY.match(
        _after_comments(statement))


def _after_comments(statement):
    return statement[_LEADING.match(statement).end():]


def keyword(statement):
    """The first word of ``statement`` after any comments, upper case
    ('' for none)."""
    words = _after_comments(statement).split(None, 1)
    return words[0].upper() if words else ''


def digest(statement):
    """A digest of a statement's SQL text (its parameters are left out:
    a data migration may bind values computed when it runs)."""
    return hashlib.sha256(statement.encode('utf-8')).hexdigest()[:32]


def already_applied(dialect, statement, exc):
    """Does ``exc``, raised by ``statement``, say that the statement's
    effect is already in the database?

    :param dialect: ``'mysql'``, ``'postgresql'`` or ``'sqlite'``.
    :param exc: the DBAPI exception.
    """
    drops = bool({'DROP', 'RENAME'} & set(statement.upper().split()))
    if dialect == 'sqlite':
        text = str(exc)
        return 'already exists' in text or (drops and 'no such' in text)
    if dialect == 'postgresql':
        code = getattr(exc, 'sqlstate', None) or getattr(exc, 'pgcode', None)
    else:
        args = getattr(exc, 'args', ())
        code = args[0] if args else None
    return code in _EXISTS[dialect] or (drops and code in _GONE[dialect])


# CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON ...
_CONCURRENT_INDEX = re.compile(
    r'\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+'
    r'(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[\w$]+)\s+ON\s',
    re.IGNORECASE)


def _invalid_index(cursor, statement):
    """The index ``statement`` creates, as written in it, when it is a
    PostgreSQL ``CREATE INDEX CONCURRENTLY`` whose index exists but is
    invalid (``pg_index.indisvalid``): a build that was cut or failed
    leaves it behind (PostgreSQL's documentation of CREATE INDEX,
    "Building Indexes Concurrently"), and "already exists" must not count
    as committed then. None otherwise."""
    match = _CONCURRENT_INDEX.match(statement)
    if not match:
        return None
    name = match.group(1)
    bare = name[1:-1].replace('""', '"') if name.startswith('"') else (
        name.lower())
    cursor.execute(
        'SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON '
        'c.oid = i.indexrelid WHERE c.relname = %s AND '
        'pg_table_is_visible(c.oid)', (bare,))
    row = cursor.fetchone()
    return name if row and row[0] else None


def _quote(value):
    return "'" + str(value).replace('\\', '\\\\').replace("'", "''") + "'"


def journaled(statement, context, version_table):
    """Is ``statement`` one the journal records (not a read, not a
    transaction's management, not enamel's or alembic's own tables:
    ``version_table`` is the database's)?"""
    if keyword(statement) in _NOT_JOURNALED:
        return False
    if JOURNAL_TABLE in statement or 'enamel_migration_lock' in statement:
        return False
    return not writes_versions(context, version_table)


def writes_versions(context, version_table):
    """Is the statement of ``context`` one of alembic's on its version
    table (``version_table``, or another ``alembic_version...``)?"""
    compiled = context.compiled
    table = getattr(getattr(compiled, 'statement', None), 'table', None)
    name = getattr(table, 'name', None)
    return bool(name) and (name == version_table
                           or name.startswith('alembic_version'))


def run_in_doubt(dialect, cursor, statement, run, autocommit, revision,
                 number):
    """Run the one statement an earlier run may have committed: an error
    that says its effect is already there settles it as done (an invalid
    index left by a cut ``CREATE INDEX CONCURRENTLY`` is dropped and
    built again)."""
    try:
        run()
    except Exception as exc:
        if not already_applied(dialect, statement, exc):
            raise
        invalid = (autocommit and dialect == 'postgresql'
                   and _invalid_index(cursor, statement))
        if not invalid:
            LOG.warning('Revision %s: statement %s was committed by '
                        'the run that was cut (%s); going on',
                        revision, number, exception.first_line(exc))
        else:
            LOG.warning('Revision %s: statement %s left the index '
                        '%s invalid (CREATE INDEX CONCURRENTLY was '
                        'cut or failed); dropping it and building '
                        'it again', revision, number, invalid)
            cursor.execute(f'DROP INDEX CONCURRENTLY {invalid}')
            run()


class InFlight:
    """What an earlier run left in the journal of one database: the
    revision in flight, if any.

    :param row: the database's ``lock_row``, which keys its rows.
    """

    def __init__(self, row):
        self.row = row
        self.exists = False  # the journal's table
        self.recorded = None  # (operation, revision, [digests]) in flight

    def load(self, connection, create=False):
        """Read what a previous run left in flight; leaves the connection
        outside a transaction. With ``create`` (MySQL), the table is made
        now when missing (see :meth:`Journal.load`)."""
        try:
            self.exists = sa.inspect(connection).has_table(JOURNAL_TABLE)
            rows = connection.execute(sa.text(READ), dict(
                row=self.row)).all() if self.exists else []
        finally:
            connection.rollback()
        if create and not self.exists:
            connection.exec_driver_sql(CREATE + ' ENGINE=InnoDB')
            connection.commit()
            self.exists = True
        if not rows:
            return None
        steps = {(r.operation, r.revision) for r in rows}
        if len(steps) > 1:
            raise exception.MigrationInDoubt(
                f'{JOURNAL_TABLE} records several revisions in flight '
                f'({", ".join(sorted(" ".join(s) for s in steps))}), which '
                'enamel-sync never writes: see "When a migration fails" in '
                'the operator guide')
        operation, revision = steps.pop()
        self.recorded = (operation, revision,
                         [r.digest for r in rows if r.statement > 0])
        return self.recorded

    def is_step(self, step):
        """Is ``step`` (``(operation, revision)``) the one in flight?"""
        return self.recorded is not None and self.recorded[:2] == step

    def describe(self):
        """What is in doubt, for an operator (a revision must be in
        flight)."""
        operation, revision, done = self.recorded
        return (f'a previous run was cut during the {operation} of '
                f'revision {revision}: its first {len(done)} statement(s) '
                f'are committed and statement {len(done) + 1} may be')

    def skips(self, step, number, sql_digest):
        """Is statement ``number`` of ``step`` (its digest ``sql_digest``)
        one the run that was cut committed (to be skipped)?

        :raises exception.MigrationInDoubt: it committed another
            statement there (the revision file changed).
        """
        if not self.is_step(step) or number > len(self.recorded[2]):
            return False
        if self.recorded[2][number - 1] != sql_digest:
            raise exception.MigrationInDoubt(
                f'{self.describe()}; but statement {number} of '
                f'revision {step[1]} is not the one that committed '
                '(was the revision file changed?): restore it, or see '
                '"When a migration fails" in the operator guide')
        LOG.info('Revision %s: statement %s committed by an earlier '
                 'run, skipped', step[1], number)
        return True

    def in_doubt(self, step, number):
        """Is statement ``number`` of ``step`` the one that may have
        committed (the first after those recorded)?"""
        return self.is_step(step) and number == len(self.recorded[2]) + 1

    def check_plan(self, steps):
        """Refuse a run that would not finish the revision in flight.

        :param steps: ``(operation, revision)`` of each planned step.
        :raises exception.MigrationInDoubt: the revision in flight is not
            among them.
        """
        if self.recorded is None:
            return
        operation, revision, _ = self.recorded
        if (operation, revision) in steps:
            LOG.warning('Resuming revision %s: %s; statements already '
                        'committed are skipped', revision, self.describe())
            return
        raise exception.MigrationInDoubt(
            f'{self.describe()}. Run "enamel-sync upgrade" (or the '
            f'{operation} that includes {revision}) to finish it first; '
            'see "When a migration fails" in the operator guide to undo '
            'it by hand')


class StatementHooks:
    """While the block runs, every statement of ``connection``'s engine
    goes to ``handle(cursor, statement, context, run)`` (SQLAlchemy's
    ``do_execute`` events: True when it handled the statement, False to
    let the dialect run it), and each commit of ``connection`` calls
    ``on_commit()`` first."""

    def __init__(self, connection, handle, on_commit):
        self.connection = connection
        self.handle = handle
        self.on_commit = on_commit
        self._listening = False

    def _events(self):
        engine = self.connection.engine
        return ((engine, 'do_execute', self._do_execute),
                (engine, 'do_executemany', self._do_executemany),
                (engine, 'do_execute_no_params', self._do_no_params),
                (self.connection, 'commit', self._commit))

    def __enter__(self):
        for target, name, listener in self._events():
            event.listen(target, name, listener)
        self._listening = True
        return self

    def __exit__(self, *exc_info):
        if self._listening:
            for target, name, listener in self._events():
                event.remove(target, name, listener)
            self._listening = False
        return False

    def _do_execute(self, cursor, statement, parameters, context):
        return self.handle(cursor, statement, context,
                           lambda: cursor.execute(statement, parameters))

    def _do_executemany(self, cursor, statement, parameters, context):
        return self.handle(cursor, statement, context,
                           lambda: cursor.executemany(statement, parameters))

    def _do_no_params(self, cursor, statement, context):
        return self.handle(cursor, statement, context,
                           lambda: cursor.execute(statement))

    def _commit(self, connection):
        self.on_commit()


class RowWriter:
    """Writes journal rows in the current transaction, each by an
    ``INSERT ... SELECT`` from the lease row while a lease is held (it
    writes nothing once the lease is lost), creating the table first when
    missing.

    :param connection: the migration's ``Connection``.
    :param dialect: ``'mysql'``, ``'postgresql'`` or ``'sqlite'``.
    :param in_flight: the :class:`InFlight` (its ``row`` keys the rows;
        ``exists`` says whether the table does).
    :param lock: the held migration lock, or None.
    """

    def __init__(self, connection, dialect, in_flight, lock):
        self.connection = connection
        self.dialect = dialect
        self.in_flight = in_flight
        self.lock = lock

    def fence(self, cursor):
        """Write the lease row with ``cursor`` (see
        :meth:`enamel.lease.LeaseLock.fence_sql`) before a statement
        that commits the open transaction implicitly: the version rows it
        carries commit only with the lease confirmed (a write, which a
        takeover conflicts with: a row lock, or Galera's certification).

        :raises exception.LockLost: the lease is lost.
        """
        if self.lock is None:
            return
        cursor.execute(self.lock.fence_sql())
        if cursor.rowcount != 1:
            self.lock.lost('another process holds it: stopped before the '
                           'next DDL statement')

    def retarget(self, cursor, step):
        """On MySQL with a lease: turn the marker row of a finished step,
        whose version row the open transaction holds, into ``step``'s
        (``(operation, revision)``), and write the lease row, in one
        multi-table ``UPDATE`` (the fence of :meth:`fence` and the
        journal's marker, where a ``DELETE``, an ``INSERT`` and the fence
        would be three statements). False when it cannot (another
        engine, no lease, or the marker row is not there): write the
        marker and the fence separately.

        :raises exception.LockLost: the lease is lost.
        """
        if self.dialect != 'mysql' or self.lock is None:
            return False
        operation, revision = step
        cursor.execute(
            f'UPDATE {JOURNAL_TABLE} j JOIN {databases.LOCK_TABLE} l '
            f'SET l.heartbeat = l.heartbeat + 1, '
            f'j.operation = {_quote(operation)}, '
            f'j.revision = {_quote(revision)} '
            f'{self.lock.held_sql("l")} AND j.id = {self.in_flight.row} '
            'AND j.statement = 0')
        if cursor.rowcount:
            return True
        self.fence(cursor)  # raises when the lease is lost
        return False  # the marker row was not there

    def delete(self, cursor, statements_only=False):
        """Delete the journal's rows (or its statement rows only, which
        follow the marker) with ``cursor``, or a cursor of its own."""
        own = cursor is None
        if own:
            cursor = self.connection.connection.cursor()
        try:
            cursor.execute(f'DELETE FROM {JOURNAL_TABLE} WHERE id = '
                           f'{self.in_flight.row}' + (
                               ' AND statement > 0' if statements_only
                               else ''))
        finally:
            if own:
                cursor.close()

    def write(self, cursor, step, rows):
        """Write ``rows`` (``(statement number, digest)``) of ``step``
        (``(operation, revision)``) with ``cursor``, or with a cursor of
        its own when None.

        :raises exception.LockLost: the lease is lost.
        """
        guard = self.lock.guard_sql() if self.lock is not None else None
        own = cursor is None
        if own:
            cursor = self.connection.connection.cursor()
        try:
            if not self.in_flight.exists:
                cursor.execute(CREATE + (' ENGINE=InnoDB'
                                         if self.dialect == 'mysql' else ''))
                self.in_flight.exists = True
            operation, revision = step
            for number, sql_digest in rows:
                values = (f'{self.in_flight.row}, {_quote(operation)}, '
                          f'{_quote(revision)}, {number}, '
                          f'{_quote(sql_digest)}')
                insert = (f'INSERT INTO {JOURNAL_TABLE} (id, operation, '
                          'revision, statement, digest) ')
                if guard is None:
                    cursor.execute(f'{insert}VALUES ({values})')
                else:
                    cursor.execute(f'{insert}SELECT {values} {guard}')
                    if cursor.rowcount != 1:
                        self.lock.lost('another process holds it: stopped '
                                       'before the next DDL statement')
        finally:
            if own:
                cursor.close()


class Group:
    """Where the run's transaction spans revisions (a group on MySQL, see
    :class:`enamel.runner.RunTransaction`): the version rows it carries
    commit with any statement MySQL commits implicitly, so the lease row
    is written first; and a finished revision's journal rows go only with
    the transaction that commits its version row: its marker row is left
    for the next revision's marker to take over, or deleted before the
    next COMMIT.

    :param writer: the :class:`RowWriter`.
    :param versions: None, or what holds the run's version rows
        (:class:`enamel.runner.Progress`): ``uncommitted()`` says whether
        the open transaction carries some, ``spans_revisions()`` whether
        it goes on after a revision, and ``implicitly_committed()`` is
        called once a statement committed them.
    """

    def __init__(self, writer, versions):
        self.writer = writer
        self.versions = versions
        self.left = None  # the step whose marker row is left
        self.left_statements = False  # and statement rows after it
        # alembic wrote the running step's version row: env.py's own
        # on_version_apply callbacks run before the step is recorded.
        self.version_row = False

    def carrying(self):
        """Does the open transaction carry version rows that a statement
        may commit implicitly (MySQL)?"""
        return (self.writer.dialect == 'mysql' and self.versions is not None
                and (self.version_row or self.versions.uncommitted()))

    def leave(self, step, statement_rows):
        """``step`` finished and its version row is written: leave its
        rows (``statement_rows``: statement rows after the marker) to the
        transaction that commits it. False where that transaction ends
        with this revision: delete them now."""
        if self.versions is None or not self.versions.spans_revisions():
            return False
        self.left, self.left_statements = step, statement_rows
        return True

    def drop_left(self, cursor):
        """Delete the left rows, if any, with ``cursor`` (None: a cursor
        of the writer's own)."""
        if self.left is not None:
            self.writer.delete(cursor)
            self.left = None

    def take_over(self, cursor, step):
        """Make the left marker row ``step``'s, fencing the transaction
        (:meth:`RowWriter.retarget`). False when there is none to take
        over (any left rows are deleted): write the marker.

        :raises exception.LockLost: the lease is lost.
        """
        if self.left is None:
            return False
        if self.left_statements:
            self.writer.delete(cursor, statements_only=True)
        if self.writer.retarget(cursor, step):
            self.left = None
            return True
        self.drop_left(cursor)
        return False

    def after_revision(self, cursor, statement, run):
        """A statement of env.py's own on_version_apply callbacks, which
        alembic runs after it wrote the running revision's version row:
        not part of the revision. On MySQL one that may commit that row
        commits the revision's journal rows' deletion with it, fenced.
        True when it ran here.

        :raises exception.LockLost: the lease is lost.
        """
        if self.writer.dialect != 'mysql' or not may_commit(statement):
            return False
        self.commit_carried(cursor, statement, run, finished=True)
        return True

    def commit_carried(self, cursor, statement, run, finished=False):
        """Run ``statement``, not journaled but one MySQL may commit the
        carried version rows with (``BEGIN``, ``COMMIT``, ``SET
        autocommit = 1`` in a revision; with ``finished``, any statement
        after the running revision's version row), fenced, without the
        rows of a revision that finished (with ``finished``, the running
        one's too).

        :raises exception.LockLost: the lease is lost.
        """
        if finished:
            self.writer.delete(cursor)
            self.left = None
        self.drop_left(cursor)
        self.writer.fence(cursor)
        run()
        self.settle(cursor, statement)

    def settle(self, cursor, statement):
        """After ``statement`` ran with version rows in its transaction:
        tell ``versions`` if they committed (MySQL's server status says
        whether a transaction is still open; without it, the statement's
        kind)."""
        status = getattr(getattr(cursor, 'connection', None),
                         'server_status', None)
        if isinstance(status, int):
            committed = not status & _SERVER_STATUS_IN_TRANS
        else:
            committed = commits_implicitly(statement)
        if committed:
            self.version_row = False
            if self.versions is not None:
                self.versions.implicitly_committed()


class Journal:
    """The journal of one run on the migration's ``connection``: an
    :class:`InFlight`, a :class:`RowWriter`, a :class:`Group` and the
    :class:`StatementHooks` (``hooks``, a context manager) that send each
    statement here while the run goes on.

    :param connection: the migration's ``Connection`` (outside a
        transaction when :meth:`load` is called).
    :param database: the :class:`enamel.databases.Database`: its
        ``lock_row`` keys its rows.
    :param lock: the held migration lock; its ``guard_sql()`` gives the
        ``FROM ... WHERE`` that finds the lease row while it is held (None
        where there is no lease).
    :param current: ``current()`` returns the ``(operation, revision)``
        of the step running now, or None between steps.
    :param versions: see :class:`Group` (None: no transaction spans
        revisions).
    """

    def __init__(self, connection, database, lock, current, versions=None):
        self.connection = connection
        name = connection.dialect.name
        self.dialect = 'mysql' if name == 'mariadb' else name
        self.version_table = database.version_table
        self.current = current
        self.in_flight = InFlight(database.lock_row)
        self.writer = RowWriter(connection, self.dialect, self.in_flight,
                                lock)
        self.group = Group(self.writer, versions)
        self.hooks = StatementHooks(connection, self._execute, self._commit)
        self._start(None)

    def load(self):
        """Read what a previous run left in flight; leaves the connection
        outside a transaction. On MySQL the table is made now when
        missing: made later, its ``CREATE TABLE`` would commit whatever
        the run's transaction holds.

        :returns: ``(operation, revision, [digests])`` in flight, or None.
        """
        return self.in_flight.load(self.connection,
                                   create=self.dialect == 'mysql')

    def _execute(self, cursor, statement, context, run):
        """The dialect's ``do_execute``: True when the statement was
        handled here (skipped, or run and settled), False to let the
        dialect run it."""
        if context is None or context.root_connection is not self.connection:
            return False
        step = self.current()
        if step is None:
            return False
        if not journaled(statement, context, self.version_table):
            if writes_versions(context, self.version_table):
                self.group.version_row = True
            elif self.group.carrying() and may_commit(statement):
                self.group.commit_carried(cursor, statement, run)
                return True
            return False
        if self.group.version_row:  # env.py's on_version_apply callbacks
            if not self.group.after_revision(cursor, statement, run):
                return False
            self._written, self._pending = False, []  # rows deleted
            return True
        if step != self._step:
            self._start(step)
        self._count += 1
        number, sql_digest = self._count, digest(statement)
        if self.in_flight.skips(step, number, sql_digest):
            return True
        autocommit = context.execution_options.get(
            'isolation_level') == 'AUTOCOMMIT'
        implicit = self.dialect == 'mysql' and may_commit(statement)
        # Version rows of earlier revisions the statement commits with it.
        carried = implicit and not autocommit and self.group.carrying()
        if autocommit or implicit:
            self._flush(cursor, fence=carried)
        if self.in_flight.in_doubt(step, number):
            run_in_doubt(self.dialect, cursor, statement, run, autocommit,
                         step[1], number)
        else:
            run()
        if carried:
            self.group.settle(cursor, statement)
        self._pending.append((number, sql_digest))
        if autocommit:
            self._flush(cursor)
        return True

    def _start(self, step):
        """``step`` runs its first statement (None: between steps)."""
        self._step = step
        self._count = 0
        self._pending = []  # (statement number, digest) not written yet
        self._statement_rows = False  # some were written
        # The marker row is there (a resumed revision's, or written).
        self._written = self.in_flight.is_step(step)

    def _commit(self):
        """Before the migration's connection commits: a revision's rows
        left for the next revision's marker are deleted; before alembic
        commits inside a revision (an ``autocommit_block`` starting),
        what ran so far commits now."""
        if self._step is not None and self._step == self.current():
            self._flush(None)
        else:
            self.group.drop_left(None)
        self.group.version_row = False

    def _flush(self, cursor, fence=False):
        """Write the pending rows (and the marker of a revision with none
        yet) in the current transaction, fenced by the lease; with
        ``fence``, write the lease row first (the statement to come
        commits version rows)."""
        if cursor is None:
            cursor = self.connection.connection.cursor()
            try:
                return self._flush(cursor, fence)
            finally:
                cursor.close()
        rows = list(self._pending)
        if not self._written:
            if self.group.take_over(cursor, self._step):
                fence = False  # the marker's UPDATE wrote the lease row
            else:
                rows.insert(0, (0, ''))
            self._written = True
        if fence:
            self.writer.fence(cursor)
        if rows:
            self.writer.write(cursor, self._step, rows)
            self._statement_rows |= any(number for number, _ in rows)
        self._pending = []

    def finish(self):
        """The running step's version row is written: delete its journal
        rows in the same transaction (nothing to do when none exist), or
        leave them to the transaction that goes on to the next revisions
        (:meth:`Group.leave`). Either way they go in the transaction that
        commits the version row."""
        step = self.current()
        resumed = self.in_flight.is_step(step)
        if resumed or (self._written and self._step == step):
            if resumed or not self.group.leave(step, self._statement_rows):
                self.writer.delete(None)
        if resumed:
            self.in_flight.recorded = None
        self.group.version_row = False  # recorded by versions now
        self._start(None)
