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

"""Online data migrations: rows moved in batches while services run.

A data migration belongs to the expand revision that made room for the
data; the revision lists it in a module-level ``data_migrations`` tuple::

    def copy_title_to_name(connection, limit):
        '''Copy tasks.title to tasks.name, at most ``limit`` rows.'''
        ...
        return done, left

    data_migrations = (copy_title_to_name,)

The function is called with a ``Connection`` inside a transaction that
enamel commits after it returns (one batch) and ``limit``, the most rows
it may change; it returns ``(done, left)``: the rows it changed and the
rows still to change. ``limit=0`` changes nothing and only counts (a run
starts with it); with a ``limit`` it may return ``left=None``, not
counted, when it moved on to rows it has not looked at yet, and enamel
calls it again until it counts (then, if a budget ended the run first,
enamel counts, with ``limit=0``). It must be idempotent and safe next to
running services and next to itself: select the batch by a condition that
the change makes false (``WHERE name IS NULL``) and repeat that condition
in the ``UPDATE``.

:func:`update_in_batches` writes such a function for the common case, one
``UPDATE`` of the rows a condition selects, walking the table by primary
key: a batch costs the same at the end of a large table as at its start,
and the rows left are counted only when asked.

``enamel-sync revision --data-migration NAME -m MSG`` writes an expand
revision holding the skeleton of such a function, built with
:func:`update_in_batches` on placeholders and wrapped in
:func:`unfinished`, which makes it fail until its author fills it in.

The registry is the revision history itself: a data migration is *open*
from the moment its revision is applied until a revision that
``depends_on`` it (its contract revision) is applied; ``check`` counts the
open ones' rows (exit 7) and ``upgrade --contract`` refuses while any
has rows left. Keeping the function in the revision file ties it to the
schema it was written for, ships it with the release that needs it, and
needs no list to keep in step (OpenStack's services keep a separate list
in their ``manage`` command, and forget entries).
"""

import dataclasses
import logging

import sqlalchemy as sa

from enamel import db
from enamel import exception
from enamel import pacer as pacing
from enamel import progress

LOG = logging.getLogger(__name__)

ATTRIBUTE = 'data_migrations'
# Rows per batch when none is given. A server locks only a batch's rows,
# so batches stay small: short row locks, small Galera write-sets. SQLite
# locks the whole database for any batch and syncs its journal at every
# commit, so it moves more rows per commit; a batch of 10,000 still holds
# the lock for milliseconds, and enamel.pacer lets other writers in.
DEFAULT_BATCH_SIZE = 1000
BATCH_SIZES = {'sqlite': 10000}
# A batch that loses a conflict with a concurrent writer (two runners, or a
# service, locking the same rows in another order) is rolled back and
# retried this many times before the migration counts as failed: MySQL
# deadlock and lock wait timeout, PostgreSQL deadlock and serialization
# failure, SQLite's SQLITE_BUSY (a reader that wants to write while
# another writer waits for it; the retry's first read waits its turn).
CONFLICT_RETRIES = 10
CONFLICT_CODES = {1213, 1205, '40P01', '40001'}
SQLITE_BUSY = 5
# Batches in a row that change nothing before a migration counts as stuck.
STALLED_BATCHES = 3


@dataclasses.dataclass
class DataMigration:
    """One data migration: ``name`` (``<revision>.<function>``), its
    ``revision`` id and ``function``."""

    name: str
    revision: str
    function: object

    def count(self, connection):
        """The rows it has left (``function(connection, 0)``), read in a
        transaction that is rolled back
        (:func:`enamel.db.read_transaction`: on SQLite it waits for no
        service's write).

        :raises exception.DataMigrationFailed: the function failed (any
            ``Exception``: a database error, a column it looks up that is
            gone, a count that is not a number, as :func:`run` takes
            them); its ``reason`` is the message without the migration's
            name.
        """
        try:
            with db.read_transaction(connection):
                _done, left = self.function(connection, 0)
            return int(left)
        except Exception as exc:
            reason = ('could not count its rows: '
                      f'{exception.first_line(exc)}')
            error = exception.DataMigrationFailed(
                f'data migration {self.name} {reason}')
            error.reason = reason
            raise error from None


def of_revision(revision):
    """The data migrations ``revision`` (an ``alembic.script.Script``)
    declares, in order (a list of :class:`DataMigration`)."""
    return [DataMigration(f'{revision.revision}.{function.__name__}',
                          revision.revision, function)
            for function in getattr(revision.module, ATTRIBUTE, ())]


def declared(script):
    """Every data migration the revisions of ``script`` declare, oldest
    revision first (a list of :class:`DataMigration`)."""
    found = []
    for revision in reversed(list(script.walk_revisions('base', 'heads'))):
        found.extend(of_revision(revision))
    return found


def unfinished_in(revision):
    """The names of the data migrations ``revision`` (an
    ``alembic.script.Script``) declares that are still the skeleton of
    ``revision --data-migration``: wrapped in :func:`unfinished`, which
    marks them."""
    return [function.__name__ for function in getattr(
        revision.module, ATTRIBUTE, ())
        if getattr(function, 'unfinished', False) is True]


def applied(script, current):
    """The revisions a database at ``current`` holds: ``current`` and
    everything below it, ``depends_on`` included (a set of ids)."""
    if not current:
        return set()
    return {r.revision for r in script.iterate_revisions(
        tuple(current), 'base')}


def open_migrations(script, current, declared_now=None):
    """The data migrations of revisions the database holds (``current``
    and below) that no applied revision ``depends_on`` yet.

    :param declared_now: what :func:`declared` returns for ``script``,
        when the caller has it (not walked again).
    """
    from alembic import util

    held = applied(script, current)
    closed = set()
    for revision_id in held:
        closed.update(util.to_tuple(
            script.get_revision(revision_id).dependencies, default=()))
    closed = {_full_id(script, r) for r in closed}
    if declared_now is None:
        declared_now = declared(script)
    return [m for m in declared_now
            if m.revision in held and m.revision not in closed]


def _full_id(script, revision):
    return script.get_revision(revision).revision


@dataclasses.dataclass
class Outcome:
    """What one run did to one data migration: rows ``done`` in this run,
    rows ``left`` after it (None when they could not be counted), and
    ``error`` (one line) if it failed; and the progress figures
    (:meth:`enamel.progress.Progress.figures`): ``total`` (done plus left,
    None if not counted), ``seconds`` it ran, ``rows_per_second`` and
    ``eta_seconds`` (at the run's end: the time the rows left would take
    at that rate; None if unknown)."""

    name: str
    done: int = 0
    left: int = None
    error: str = None
    total: int = None
    seconds: float = 0.0
    rows_per_second: float = 0.0
    eta_seconds: float = None


@dataclasses.dataclass
class Report:
    """The result of :func:`run`: one :class:`Outcome` per open data
    migration, in order.

    ``exit_code``: 0 nothing left, 1 rows left (run again), 2 a data
    migration failed (the others still ran); see the CLI reference.
    """

    outcomes: list

    @property
    def exit_code(self):
        if any(o.error for o in self.outcomes):
            return exception.DATA_MIGRATION_FAILED
        if any(o.left for o in self.outcomes):
            return exception.ROWS_LEFT
        return exception.SUCCESS

    def as_dict(self):
        return {'migrations': [dataclasses.asdict(o) for o in self.outcomes],
                'exit_code': self.exit_code}


def default_batch_size(dialect_name):
    """Rows per batch on an engine (``'sqlite'``, ``'postgresql'``,
    ``'mysql'``) when none is given: 10,000 on SQLite, 1,000 elsewhere."""
    return BATCH_SIZES.get(dialect_name, DEFAULT_BATCH_SIZE)


def run(connection, migrations, max_count=None, batch_size=None):
    """Run ``migrations`` in batches, each committed on its own.

    No migration lock is taken: each batch is a short transaction that a
    concurrent run or service can interleave with (see the module's
    rules for a data migration), and the lock would keep ``upgrade
    --expand`` of another host waiting for minutes. On SQLite the run
    pauses between batches so that services' writes are not starved
    (:class:`enamel.pacer.Pacer`).

    :param connection: a ``Connection`` outside a transaction.
    :param migrations: :class:`DataMigration` objects, run in order.
    :param max_count: the most rows to change in this run, over all
        migrations; None: until nothing is left.
    :param batch_size: the most rows per batch (per transaction); None:
        :func:`default_batch_size` of the connection's engine.
    :returns: a :class:`Report`; a failing migration is reported in it,
        and the next one still runs.
    """
    if batch_size is None:
        batch_size = default_batch_size(connection.dialect.name)
    pacer = pacing.Pacer(connection.dialect.name == 'sqlite')
    pacer.start(connection)
    budget = max_count
    outcomes = []
    for migration in migrations:
        outcome = Outcome(migration.name)
        outcomes.append(outcome)
        tracker = None
        try:
            outcome.left = migration.count(connection)
            tracker = progress.Progress(outcome.name, outcome.left)
            counted = True
            stalled = 0
            while outcome.left and (budget is None or budget > 0):
                limit = batch_size if budget is None else min(
                    batch_size, budget)
                before = outcome.left
                done, left = _batch(connection, migration, limit, pacer)
                outcome.done += done
                if budget is not None:
                    budget -= done
                counted = left is not None
                # Not counted: an estimate for the log, never 0 (only the
                # function, or a count, says that nothing is left).
                outcome.left = left if counted else max(before - done, 1)
                tracker.update(outcome.done, left)
                # A batch that did nothing while nothing less is left lost
                # its rows to another runner (which commits between our
                # SELECT and UPDATE) or is stuck on rows it cannot move;
                # only several in a row mean stuck.
                # Not counted means the function moved on (see the module's
                # rules): progress even when another runner took the rows.
                progressed = done or not counted or left < before
                stalled = 0 if progressed else stalled + 1
                if stalled == STALLED_BATCHES:
                    break
            if not counted:
                outcome.left = migration.count(connection)
        except exception.DataMigrationFailed as exc:
            outcome.error = getattr(exc, 'reason', str(exc))
        except Exception as exc:
            # One migration's bug must not stop the others (exit code 2).
            outcome.error = exception.first_line(
                getattr(exc, 'orig', None) or exc)
        if tracker is not None:
            figures = tracker.close(outcome.done, outcome.left)
            outcome.total = figures['rows_total']
            outcome.seconds = figures['seconds']
            outcome.rows_per_second = figures['rows_per_second']
            outcome.eta_seconds = figures['eta_seconds']
        if outcome.error:
            LOG.error('Data migration %s failed after %d rows: %s',
                      outcome.name, outcome.done, outcome.error)
        elif not outcome.done and not outcome.left:
            # Every fresh upgrade of a branched history passes its
            # finished migrations: one short line, as a phase says it.
            LOG.info('Data migration %s: nothing to do', outcome.name)
        else:
            LOG.info('Data migration %s: %d rows done, %d left (%.0f rows/s '
                     'over %.1fs)', outcome.name, outcome.done, outcome.left,
                     outcome.rows_per_second, outcome.seconds)
    return Report(outcomes)


def _batch(connection, migration, limit, pacer):
    """One committed batch: ``(done, left)``, ``left`` None when the
    function did not count; retried on a conflict."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            with connection.begin():
                pacer.began(connection)
                done, left = migration.function(connection, limit)
            pacer.committed(connection)
            return int(done), None if left is None else int(left)
        except sa.exc.OperationalError as exc:
            if attempt == CONFLICT_RETRIES or not _conflict(exc):
                raise
            LOG.debug('Data migration %s: batch conflicted with another '
                      'writer, retrying', migration.name)


def _conflict(exc):
    """Did a concurrent writer make the batch fail? By error code, never
    by message text."""
    orig = getattr(exc, 'orig', None)
    if getattr(orig, 'sqlite_errorcode', None) == SQLITE_BUSY:
        return True
    code = getattr(orig, 'pgcode', None) or (
        orig.args[0] if orig is not None and orig.args else None)
    return code in CONFLICT_CODES


def update_in_batches(name, table, key, where, values):
    """A data migration that sets ``values`` on the rows ``where``
    selects, walking ``table`` once in order of ``key``.

    A run (which starts with a count, ``limit=0``) walks the keys up to
    the highest one at its first batch: each batch finds the ``limit``-th
    key after the last one it saw, without a condition (an index range the
    planner cannot get wrong, however far into the table; the keys before
    it are skipped in the index, not sent to Python) and updates the keys
    up to it where ``where`` still holds. A batch costs the
    same at the end of a large table as at its start, and the rows left
    are counted only when asked and at the end of the walk; rows written
    after the run began (the previous release still inserting) are left to
    the next run, so that a run ends.

    :param name: the function's name (``<revision>.<name>`` in reports).
    :param table: the table, e.g. ``sa.table('tasks', ...)``.
    :param key: a column of ``table`` with unique values in an index,
        usually the primary key.
    :param where: the condition the change makes false, e.g.
        ``TASKS.c.name.is_(None)``.
    :param values: what to set, ``{column name: value or expression}``.
    :returns: a data migration function ``(connection, limit) -> (done,
        left)``, ``left`` None (not counted) while the walk goes on.
    """
    after = end = None
    finished = False

    def count(connection):
        return connection.execute(
            sa.select(sa.func.count()).select_from(table)
            .where(where)).scalar()

    def migrate(connection, limit):
        nonlocal after, end, finished
        if not limit:
            after = end = None
            finished = False
            return 0, count(connection)
        if end is None:
            end = connection.execute(sa.select(sa.func.max(key))).scalar()
        if end is None or finished:
            return 0, count(connection)
        # The page ends at the ``limit``-th key after the last one seen:
        # the index skips the others (OFFSET), no key travels to Python.
        # Keys are compared by the database only (a string key sorts by
        # the column's collation, not as in Python). The run's end is not
        # a condition of this query: with both bounds, PostgreSQL without
        # statistics (a fresh column, a table never analysed) reads the
        # whole rest of the range and sorts it.
        page = (sa.select(key, (key >= end).label('past_end'))
                .order_by(key).offset(limit - 1).limit(1))
        bounds = []
        if after is not None:
            page = page.where(key > after)
            bounds.append(key > after)
        last = connection.execute(page).first()
        # One upper bound only: given two, SQLite ranges over the first
        # and filters by the second, reading to the run's end every batch.
        if last is None or last.past_end:
            finished = True          # this batch reaches the run's end
            bounds.append(key <= end)
        else:
            after = last[0]
            bounds.append(key <= after)
        # A range, not IN (...): MySQL refuses a LIMIT inside IN, and a
        # range is one index scan on every engine.
        done, stuck = _update(connection, table.update().where(
            where, *bounds).values(values), table, where, bounds)
        if stuck:
            raise exception.DataMigrationFailed(
                f'{stuck} of the rows it set ({key.name} up to '
                f'{end if finished else after}) still match its condition: '
                'the change must make the condition false; fix the data or '
                'the migration')
        return done, None

    migrate.__name__ = migrate.__qualname__ = name
    return migrate


def _update(connection, update, table, where, bounds):
    """Run a batch's ``update``: ``(rows set, rows set that still match
    where)``.

    Rows that still match are rows the change leaves matching (a NULL
    copied into the column, say): "run it again" would set them again,
    forever. PostgreSQL counts them among the rows the ``UPDATE`` returns
    (one statement; a later count would, under READ COMMITTED, also see a
    service's rows committed into the range meanwhile). Elsewhere a count
    in the same transaction sees only its own changes: SQLite holds the
    write lock, and MySQL/MariaDB read from the transaction's snapshot
    (REPEATABLE READ, their default).
    """
    if connection.dialect.name == 'postgresql':
        changed = update.returning(
            sa.case((where, 1)).label('stuck')).cte('changed')
        done, stuck = connection.execute(
            sa.select(sa.func.count(), sa.func.count(changed.c.stuck))
            .select_from(changed)).one()
        return done, stuck
    done = connection.execute(update).rowcount
    stuck = done and connection.execute(
        sa.select(sa.func.count()).select_from(table)
        .where(where, *bounds)).scalar()
    return done, stuck


def unfinished(function):
    """The data migration ``function`` marked as not written yet: the
    skeleton that ``enamel-sync revision --data-migration`` writes until
    its author fills in the placeholders and deletes the call.

    An upgrade refuses to apply a revision that declares one (exit 1,
    nothing changed): applied early, the revision's ``upgrade()`` would
    never run once written. Every call of the returned function raises
    ``NotImplementedError``, so a skeleton applied anyway (``stamp``)
    stops the rolling upgrade where it stands: ``check`` exits 1,
    ``online-data-migrations`` 2, ``upgrade --contract`` refuses (exit
    1). A skeleton that reported no rows left would instead let the
    contract phase remove the data it was meant to move.

    :param function: a data migration function (its ``__name__`` names
        it in reports).
    :returns: a data migration function of the same name.
    """
    def not_written(connection, limit):
        raise NotImplementedError(
            'not written yet: fill in the TODO_ placeholders in its '
            'revision and delete its unfinished() line')

    not_written.__name__ = not_written.__qualname__ = function.__name__
    not_written.unfinished = True  # see unfinished_in()
    return not_written
