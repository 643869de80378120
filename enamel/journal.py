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
  DDL statement on MySQL (whose implicit commit also commits the row),
  before and after each statement of an ``autocommit_block``, and before
  alembic commits inside a revision. A row per statement (its position
  and a digest of its SQL text), and a marker row (statement 0) naming the
  revision in flight. A revision that commits only with its version row
  (any revision on PostgreSQL or SQLite outside ``autocommit_block``)
  writes nothing. The rows are deleted in the transaction that writes the
  revision's version row.
- **At most one statement is in doubt:** the one after the last recorded,
  which may have committed after its row was written. The next run of
  the same revision (alembic runs it, as always) skips the recorded
  statements, checking their digests, and runs the one in doubt: an error
  that says its effect is already there (an object that already exists,
  or, for a ``DROP``/``RENAME``, no longer exists) settles it as done.
- **Fencing:** where a lease is held (:mod:`enamel.lease`), every row is
  written by an ``INSERT ... SELECT`` from the lease row that selects
  nothing once this process lost the lease: a holder that lost it stops
  before its next DDL statement.

Any other run (another target, a downgrade, a stamp) while a revision is
in flight is refused with :class:`enamel.exception.MigrationInDoubt`,
which names the revision and what is in doubt.
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
_COLUMNS = ('id INTEGER NOT NULL, operation VARCHAR(16) NOT NULL, '
            'revision VARCHAR(255) NOT NULL, statement INTEGER NOT NULL, '
            'digest VARCHAR(64) NOT NULL, '
            'PRIMARY KEY (id, operation, revision, statement)')
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


def keyword(statement):
    """The first word of ``statement``, upper case ('' for none)."""
    words = statement.lstrip(' \t\r\n(').split(None, 1)
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


class Journal:
    """The journal of one run on the migration's ``connection``.

    :param connection: the migration's ``Connection`` (outside a
        transaction when :meth:`load` is called).
    :param database: the :class:`enamel.databases.Database`: its
        ``lock_row`` keys its rows.
    :param lock: the held migration lock; its ``guard_sql()`` gives the
        ``FROM ... WHERE`` that finds the lease row while it is held (None
        where there is no lease).
    :param current: ``current()`` returns the ``(operation, revision)``
        of the step running now, or None between steps.
    """

    def __init__(self, connection, database, lock, current):
        self.connection = connection
        self.dialect = connection.dialect.name
        if self.dialect == 'mariadb':
            self.dialect = 'mysql'
        self.row = database.lock_row
        self.version_table = database.version_table
        self.lock = lock
        self.current = current
        self.exists = False
        self.recorded = None  # (operation, revision, [digests]) in flight
        self._step = None
        self._count = 0
        self._replay = []
        self._pending = []
        self._written = False
        self._listening = False

    # -- before the run ------------------------------------------------------

    def load(self):
        """Read what a previous run left in flight; leaves the connection
        outside a transaction."""
        connection = self.connection
        try:
            self.exists = sa.inspect(connection).has_table(JOURNAL_TABLE)
            rows = connection.execute(sa.text(READ), dict(
                row=self.row)).all() if self.exists else []
        finally:
            connection.rollback()
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

    def describe(self):
        """What is in doubt, for an operator (the journal must hold a
        revision in flight)."""
        operation, revision, done = self.recorded
        return (f'a previous run was cut during the {operation} of '
                f'revision {revision}: its first {len(done)} statement(s) '
                f'are committed and statement {len(done) + 1} may be')

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

    # -- while it runs -------------------------------------------------------

    def __enter__(self):
        engine = self.connection.engine
        event.listen(engine, 'do_execute', self._do_execute)
        event.listen(engine, 'do_executemany', self._do_executemany)
        event.listen(engine, 'do_execute_no_params', self._do_no_params)
        event.listen(self.connection, 'commit', self._commit)
        self._listening = True
        return self

    def __exit__(self, *exc_info):
        if self._listening:
            engine = self.connection.engine
            event.remove(engine, 'do_execute', self._do_execute)
            event.remove(engine, 'do_executemany', self._do_executemany)
            event.remove(engine, 'do_execute_no_params', self._do_no_params)
            event.remove(self.connection, 'commit', self._commit)
            self._listening = False
        return False

    def _do_execute(self, cursor, statement, parameters, context):
        return self._execute(
            cursor, statement, context,
            lambda: cursor.execute(statement, parameters))

    def _do_executemany(self, cursor, statement, parameters, context):
        return self._execute(
            cursor, statement, context,
            lambda: cursor.executemany(statement, parameters))

    def _do_no_params(self, cursor, statement, context):
        return self._execute(cursor, statement, context,
                             lambda: cursor.execute(statement))

    def _execute(self, cursor, statement, context, run):
        """The dialect's ``do_execute``: True when the statement was
        handled here (skipped, or run and settled), False to let the
        dialect run it."""
        if context is None or context.root_connection is not self.connection:
            return False
        step = self.current()
        if step is None or not self._journaled(statement, context):
            return False
        if step != self._step:
            self._start(step)
        self._count += 1
        number, sql_digest = self._count, digest(statement)
        autocommit = context.execution_options.get(
            'isolation_level') == 'AUTOCOMMIT'
        commits = autocommit or (self.dialect == 'mysql'
                                 and keyword(statement) in _DDL)
        replay = self._replay or []
        if number <= len(replay):
            if replay[number - 1] != sql_digest:
                raise exception.MigrationInDoubt(
                    f'{self.describe()}; but statement {number} of '
                    f'revision {step[1]} is not the one that committed '
                    '(was the revision file changed?): restore it, or see '
                    '"When a migration fails" in the operator guide')
            LOG.info('Revision %s: statement %s committed by an earlier '
                     'run, skipped', step[1], number)
            return True
        if commits:
            self._flush(cursor)
        if self._replay is not None and number == len(replay) + 1:
            self._replay = None  # the one statement in doubt
            try:
                run()
            except Exception as exc:
                if not already_applied(self.dialect, statement, exc):
                    raise
                invalid = (autocommit and self.dialect == 'postgresql'
                           and _invalid_index(cursor, statement))
                if not invalid:
                    LOG.warning('Revision %s: statement %s was committed by '
                                'the run that was cut (%s); going on',
                                step[1], number, exception.first_line(exc))
                else:
                    LOG.warning('Revision %s: statement %s left the index '
                                '%s invalid (CREATE INDEX CONCURRENTLY was '
                                'cut or failed); dropping it and building '
                                'it again', step[1], number, invalid)
                    cursor.execute(f'DROP INDEX CONCURRENTLY {invalid}')
                    run()
        else:
            run()
        self._pending.append((number, sql_digest))
        if autocommit:
            self._flush(cursor)
        return True

    def _journaled(self, statement, context):
        if keyword(statement) in _NOT_JOURNALED:
            return False
        if JOURNAL_TABLE in statement or 'enamel_migration_lock' in statement:
            return False
        compiled = context.compiled
        table = getattr(getattr(compiled, 'statement', None), 'table', None)
        name = getattr(table, 'name', None)
        return not (name and (name == self.version_table
                              or name.startswith('alembic_version')))

    def _start(self, step):
        self._step = step
        self._count = 0
        self._pending = []
        if self.recorded is not None and self.recorded[:2] == step:
            self._replay = list(self.recorded[2])
            self._written = True
        else:
            self._replay = None
            self._written = False

    def _commit(self, connection):
        """Before alembic commits inside a revision (an
        ``autocommit_block`` starting): what ran so far commits now."""
        if self._step is not None and self._step == self.current():
            self._flush(None)

    def _flush(self, cursor):
        """Write the pending rows (and the marker of a revision with none
        yet) in the current transaction, fenced by the lease."""
        rows = list(self._pending)
        if not self._written:
            rows.insert(0, (0, ''))
        if not rows:
            return
        guard = self.lock.guard_sql() if self.lock is not None else None
        own = cursor is None
        if own:
            cursor = self.connection.connection.cursor()
        try:
            if not self.exists:
                cursor.execute(CREATE + (' ENGINE=InnoDB'
                                         if self.dialect == 'mysql' else ''))
                self.exists = True
            operation, revision = self._step
            for number, sql_digest in rows:
                values = (f'{self.row}, {_quote(operation)}, '
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
        self._pending = []
        self._written = True

    def finish(self, connection):
        """The running step's version row is written: delete its journal
        rows in the same transaction (nothing to do when none exist)."""
        step = self.current()
        resumed = self.recorded is not None and self.recorded[:2] == step
        if resumed or (self._written and self._step == step):
            connection.execute(sa.text(
                f'DELETE FROM {JOURNAL_TABLE} WHERE id = :row'),
                dict(row=self.row))
        if resumed:
            self.recorded = None
        self._step = None
        self._pending = []
        self._written = False
        self._replay = None
