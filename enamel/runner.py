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

"""Running revisions: alembic's runner, watched.

alembic runs every revision and writes every version row (its
``MigrationContext.run_migrations`` and ``HeadMaintainer``), exactly as
``alembic.command.upgrade``, ``downgrade`` and ``stamp`` have it run. enamel
adds an ``on_version_apply`` callback, after any that ``env.py`` set, that
records each applied revision; commits between revisions (one by one, or
in groups in a long run: see :func:`group_size`; on MySQL a DDL statement
commits the group too), each commit fenced with the migration lock (in the
committing transaction); logs each applied revision with its elapsed
time once it is committed; a progress journal (:mod:`enamel.journal`)
that lets a revision cut between two committed statements resume; a stop
at the next revision boundary when a signal asks for one
(:mod:`enamel.interrupt`); and, when a revision fails, it reads what the
database now holds and says exactly that.
"""

import logging
import time

import sqlalchemy as sa

from enamel import alembic_internals
from enamel import db
from enamel import ddl_locks
from enamel import environment
from enamel import exception
from enamel import interrupt
from enamel import journal
from enamel import progress as reporting
from enamel import state

LOG = logging.getLogger(__name__)
# A long run commits its revisions in groups (on MySQL, each DDL
# statement also commits what its transaction holds): each group holds at
# most a GROUP_PARTS-th of the run's revisions (see group_size) and ends at
# the first revision boundary after GROUP_SECONDS; a revision that committed
# part of its work itself (autocommit_block) ends its group too. A commit
# per revision costs a flush (and a few round trips) each.
GROUP_PARTS = 50
GROUP_SECONDS = 1.0


class RunTransaction:
    """The transaction alembic holds across the revisions of one run, if
    any, and when it commits: at each revision boundary when alembic
    commits each revision itself; at the end of the run when env.py asked
    for one transaction per run; else, where enamel set
    ``transaction_per_migration``
    (:class:`enamel.environment.GroupedCommits`), in groups (see
    :func:`group_size`). Where alembic holds none there (MySQL: its DDL
    is not transactional), enamel begins it and commits it itself
    (``owned``); on MySQL each DDL statement commits it too.

    :param context: alembic's ``MigrationContext`` once it plans, or None
        (then every boundary counts as a commit).
    :param started: ``time.monotonic()`` when the run began (the first
        group's age counts from it); default: now.
    """

    def __init__(self, context=None, started=None):
        self.context = context
        self.grouping = context is not None and isinstance(
            context.opts.get('transaction_per_migration'),
            environment.GroupedCommits)
        self.owned = False  # enamel began it (MySQL)
        self._group = None  # the transaction enamel last began
        self._started = time.monotonic() if started is None else started
        if context is not None:
            self._group = alembic_internals.run_transaction(context)
            if self.grouping and self._group is None:
                # alembic would begin and commit one per revision; one is
                # held across revisions instead.
                self._group = alembic_internals.begin_run_transaction(
                    context)
                self.owned = True

    def _open(self):
        if self.context is None:
            return None
        return alembic_internals.run_transaction(self.context)

    def boundary(self, pending, steps, force=False):
        """Between two revisions, ``pending`` of them applied since the
        last commit, in a run of ``steps``: commit the group now when it
        is full, old (``GROUP_SECONDS``), alembic began another
        transaction since (an ``autocommit_block``), or ``force`` says so.

        :returns: True when the applied revisions are committed now: by
            alembic (it holds no transaction across revisions), or here.
        """
        group = self._open()
        if group is None or not self.grouping:
            return group is None
        now = time.monotonic()
        if not (force or group is not self._group
                or pending >= group_size(steps)
                or now - self._started >= GROUP_SECONDS):
            return False
        self._group = alembic_internals.commit_run_transaction(self.context)
        self._started = now
        return True

    def end(self):
        """After the last revision: commit the transaction enamel began.

        :returns: True when the applied revisions are committed (False:
            alembic commits its run transaction later).
        """
        if self.owned:
            alembic_internals.end_run_transaction(self.context)
            return True
        return self._open() is None

    def restarted(self):
        """A statement committed the transaction implicitly (MySQL's DDL):
        the group starts again."""
        self._started = time.monotonic()


class Progress:
    """The ``on_version_apply`` callback and the steps alembic iterates:
    records each step, commits between steps (a :class:`RunTransaction`)
    and logs each step once committed.

    :param stop: ``stop()`` returns a reason (str) to stop at the next
        revision boundary, or None (see :mod:`enamel.interrupt`).
    :param note: ``(keys, message)``: where the steps of ``keys`` end,
        committed, ``message`` is logged (the run ends there instead
        under an env.py's one transaction per run); or None.
    """

    def __init__(self, stop=None, note=None):
        self.stop = stop or (lambda: None)
        self.note = note or (frozenset(), None)
        self.journal = None
        self.transaction = RunTransaction()
        self.steps = None  # what alembic planned, once it has
        self.applied = []
        self._unreported = []  # applied, their transaction not yet over
        self._started = time.monotonic()
        self.committing = False  # a COMMIT of applied steps is under way
        self._heads = None  # alembic's heads after the last applied step

    def plan(self, steps, context=None):
        self.transaction = RunTransaction(context, self._started)
        self.steps = list(steps)
        keys = [_key(step) for step in self.steps]
        # current()'s answer for each step (None: a stamp runs no revision)
        self._keys = [None if getattr(step, 'is_stamp', False) or isinstance(
            getattr(step, 'revision', None), tuple) else key
            for step, key in zip(self.steps, keys)]
        if self.journal is not None:
            self.journal.in_flight.check_plan(keys)
        return self._boundaries()

    def _boundaries(self):
        """The planned steps, as alembic iterates them (the next once
        the previous one ran and, where alembic commits each revision,
        committed). Between two, a group may commit and a stop stops."""
        first, message = self.note
        for number, step in enumerate(self.steps):
            if number:
                reason = self.stop()
                split = self._keys[number - 1] in first and (
                    self._keys[number] not in first)
                committed = self.transaction.boundary(
                    len(self._unreported), len(self.steps),
                    bool(reason) or split)
                self.committing = False
                if committed:
                    self.committed()
                if reason:
                    raise exception.Interrupted(reason, self.applied)
                if split and not committed:
                    break  # env.py's one transaction: the caller goes on
                if split:
                    LOG.info('%s', message)
            yield step
        if self.transaction.end():
            self.committed()

    def uncommitted(self):
        """Does enamel's transaction carry applied steps' version rows
        (a group)? A statement that commits it (MySQL's DDL) is fenced."""
        return bool(self._unreported) and self.transaction.owned

    def spans_revisions(self):
        """Does alembic's transaction go on after this revision (enamel
        began it, on MySQL, and commits it at group boundaries)?"""
        return self.transaction.owned

    def implicitly_committed(self):
        """A statement committed the group (MySQL's DDL: its manual's
        "Statements That Cause an Implicit Commit"); it starts again."""
        self.transaction.restarted()
        self.committed()

    def settle(self, now):
        """After a failure on MySQL, where a statement may have committed
        the group before it failed: the applied, unreported steps (they
        commit together or not at all) are reported committed when
        ``now`` (the database's revisions, or None) is at the heads
        alembic had after the last of them."""
        if self.uncommitted() and now is not None and (
                self._heads == set(now)):
            self.committing = False
            self.committed()

    def ran(self, key):
        """Did this run apply ``key`` (``(operation, revision)``)?"""
        return self.steps is not None and (
            key in self._keys[:len(self.applied)])

    def current(self):
        """``(operation, revision)`` of the step running now, or None."""
        if self.steps is None or len(self.applied) >= len(self.steps):
            return None
        return self._keys[len(self.applied)]

    def __call__(self, ctx, step, heads, run_args):
        if self.journal is not None:
            self.journal.finish()
        now = time.monotonic()
        self._heads = set(heads)
        self.applied.append(step)
        self._unreported.append((step, now - self._started))
        self._started = now
        self.committing = True  # until the next boundary

    def running(self):
        """``(revision id, message, monotonic start)`` of the step alembic
        runs now, or None (for :class:`enamel.progress.Heartbeat`)."""
        steps, started = self.steps, self._started
        if steps is None or len(self.applied) >= len(steps):
            return None
        revision = steps[len(self.applied)].revision
        return revision.revision, revision.doc, started

    def committed(self):
        """The applied steps' transaction is committed: log them (never
        before, so that "Upgraded to X" means X is committed)."""
        for step, elapsed in self._unreported:
            if not step.is_stamp:
                LOG.info('%s %s (%s) in %.3fs',
                         'Upgraded to' if step.is_upgrade else 'Downgraded',
                         step.up_revision_id, step.up_revision.doc,
                         elapsed)
        self._unreported = []

    def failed_revision(self):
        """The revision running when the run stopped (or committing:
        applied, not yet reported), or None."""
        if self.steps is None:
            return None
        running = len(self.applied)
        if self._unreported and (self.committing or running >= len(
                self.steps)):
            running -= len(self._unreported)
        if running >= len(self.steps):
            return None
        return self.steps[running].revision.revision

    def rolled_back(self):
        """How many applied revisions (a group) rolled back with it."""
        return max(0, len(self._unreported) - int(self.committing))

    def committed_steps(self):
        """The applied steps whose transaction is committed."""
        return self.applied[:len(self.applied) - len(self._unreported)]


def group_size(steps):
    """How many revisions of a run of ``steps`` revisions one commit
    holds at most (on MySQL a DDL statement may commit it sooner): one
    for a run of fewer than ``2 * GROUP_PARTS`` revisions (every deploy of
    a release), so that a failure or a kill rolls back the failed
    revision only; else a ``GROUP_PARTS``-th of the run (a database built
    from a long history)."""
    return max(1, steps // GROUP_PARTS)


def _key(step):
    revision = getattr(step, 'revision', None)
    return ('upgrade' if step.is_upgrade else 'downgrade',
            getattr(revision, 'revision', None))


def run(config, script, connection, plan, destination, tag=None,
        lock=None, purge=False, phase=None, stop=None, before=None,
        note=None):
    """Run ``env.py`` on ``connection`` with alembic planning the steps.

    A revision that an earlier run left cut between two committed
    statements is finished first (see :mod:`enamel.journal`). A revision
    whose DDL gave up waiting for a lock (``[database] ddl_lock_timeout``)
    is run again, up to ``ddl_lock_retries`` times (see
    :mod:`enamel.ddl_locks`).

    :param config: the alembic ``Config`` (with ``connection`` in its
        attributes).
    :param script: the ``ScriptDirectory``.
    :param connection: the locked ``Connection``, outside a transaction.
    :param plan: ``plan(script, destination, current)`` returning the
        steps, one of :mod:`enamel.alembic_internals`'s ``*_steps``; it
        gets the revisions alembic read from the version table.
    :param destination: the target revision (str or tuple).
    :param tag: passed to env.py.
    :param lock: the held migration lock (see
        :func:`enamel.lock.migration_lock`): every commit of the run checks
        it (``check(connection)`` raises
        :class:`enamel.exception.LockLost` once it was lost); or None.
    :param purge: ``stamp --purge``.
    :param phase: the phase of a plain ``upgrade`` this run is, if any
        (see :func:`nothing_to_do`).
    :param stop: see :class:`Progress` (default: the process's signal
        handling, :func:`enamel.interrupt.requested`).
    :param before: the revisions the caller read under the lock (a
        tuple), if it did: not read again.
    :param note: ``(keys, message)``: ``message`` is logged between the
        steps of ``keys``, committed, and the rest (see :class:`Progress`);
        or None.
    :returns: the list of applied ``MigrationInfo``.
    :raises exception.MigrationFailed: a revision (or env.py) failed;
        the message names it and what the database now holds.
    :raises exception.MigrationInDoubt: a revision an earlier run cut
        midway is not part of this run's plan.
    :raises exception.Interrupted: a signal asked to stop; the revisions
        before were committed.
    """
    options = environment.env_options(config)
    database = options.database
    settings = database.options(options.conf) if options.conf else None
    seconds = getattr(settings, 'ddl_lock_timeout', 0)
    retries = getattr(settings, 'ddl_lock_retries', 0)
    if before is None:
        before = state.read(connection, tables=False,
                            database=database).current
    before = list(before)
    applied = []  # committed
    attempt = 0
    while True:
        try:
            applied += _run_once(config, script, connection,
                                 _skipping(plan, before, applied),
                                 destination, tag, lock, purge, stop,
                                 database, before, seconds, note)
            break
        except _GaveUpWaiting as retry:
            # The steps this attempt committed (a group not yet committed
            # rolled back with the revision that gave up).
            connection.rollback()
            applied += retry.applied
            attempt += 1
            if attempt > retries:
                holders = ddl_locks.open_transactions(connection)
                raise exception.MigrationFailed(
                    str(retry.failure) + (
                        f'; open transactions: {holders}' if holders
                        else '')) from None
            wait = ddl_locks.backoff(attempt)
            ddl_locks.announce_retry(connection, retry.revision,
                                     retry.__cause__, seconds, attempt,
                                     retries, wait)
            time.sleep(wait)
    if not applied:
        nothing_to_do(before, phase)
    elif all(step.is_stamp for step in applied):
        LOG.info('Stamped %s', ', '.join(state.read(
            connection, tables=False, database=database).current) or 'base')
    return applied


def _skipping(plan, before, applied):
    """``plan`` for a run again after a lock wait gave up: the steps it
    planned from ``before`` but those an earlier attempt committed
    (``applied``, their ``MigrationInfo``: the migration lock was held
    throughout, nothing else moved the database); by identity, as
    :func:`_in_flight_first` may have put one first (a stamp's steps,
    which name no revision, by count)."""
    if not applied:
        return plan
    done = {('upgrade' if info.is_upgrade else 'downgrade',
             info.up_revision_id) for info in applied}

    def steps(script, destination, current):
        planned = plan(script, destination, tuple(before))
        if any(info.is_stamp for info in applied):
            return planned[len(applied):]
        return [step for step in planned if _key(step) not in done]
    return steps


def _in_flight_first(steps, in_flight):
    """``steps`` (alembic's) with the revision an earlier run left cut
    midway (``in_flight``, :class:`enamel.journal.InFlight`) first: what
    it needs was applied when it ran, and another revision before it
    would write journal rows of its own while the journal still holds
    the cut one's (one revision is in flight at a time)."""
    steps = list(steps)
    for number, step in enumerate(steps):
        if number and in_flight.is_step(_key(step)):
            return [steps.pop(number)] + steps
    return steps


class _GaveUpWaiting(Exception):
    """A revision's statement gave up waiting for a lock: run again."""

    def __init__(self, applied, failure, revision):
        super().__init__(str(failure))
        self.applied = applied
        self.failure = failure
        self.revision = revision


def _run_once(config, script, connection, plan, destination, tag, lock,
              purge, stop, database, before, lock_timeout, note=None):
    """One alembic run of :func:`run`; the applied ``MigrationInfo``."""
    from alembic.runtime import environment as alembic_environment

    progress = Progress(stop or interrupt.requested, note)
    progress.journal = journal.Journal(connection, database, lock,
                                       progress.current, progress)

    def steps(current, context):
        alembic_internals.add_version_callback(context, progress)
        return progress.plan(_in_flight_first(
            plan(script, destination, current),
            progress.journal.in_flight), context)

    progress.journal.load()
    mysql = connection.dialect.name in ('mysql', 'mariadb')
    timeout = ddl_locks.PostgreSQLTimeout(
        connection, lock_timeout,
        session=lock.session_name if lock is not None else None)
    fence, hooks = _Fence(connection, lock), progress.journal.hooks
    try:
        with fence, hooks, timeout, interrupt.revisions_finish(
                connection.dialect.name != 'postgresql'), \
                alembic_environment.EnvironmentContext(
                    config, script, fn=steps, as_sql=False,
                    destination_rev=destination, tag=tag, purge=purge), \
                reporting.Heartbeat(progress.running):
            script.run_env()
    except exception.Interrupted as exc:
        raise interrupted(connection, exc.reason, database) from None
    except KeyboardInterrupt as exc:
        # A second signal, or the first one on PostgreSQL: the running
        # statement is cancelled (psycopg) and its transaction rolls back;
        # MySQL's server would go on with it: it is killed.
        if mysql:
            _kill_query(connection)
        reason = ('terminated' if isinstance(exc, interrupt.Terminated)
                  else 'interrupted')
        raise interrupted(connection, reason, database, at_once=True,
                          running=progress.failed_revision(),
                          mysql=mysql, progress=progress) from None
    except exception.EnamelSyncError:
        raise
    except Exception as exc:
        error = failure(connection, progress, before, exc, database)
        if lock_timeout and ddl_locks.gave_up_waiting(exc, timeout.cancelled):
            raise _GaveUpWaiting(progress.committed_steps(), error,
                                 progress.failed_revision()) from exc
        raise error from exc
    progress.committed()
    return progress.applied


class _Fence:
    """Check the migration lock inside every transaction the migration's
    ``connection`` commits while alembic runs (SQLAlchemy's ``commit``
    event, before the COMMIT is sent): a holder that lost the lock
    commits no version row."""

    def __init__(self, connection, lock):
        self.connection = connection
        self.lock = lock

    def __enter__(self):
        if self.lock is not None:
            sa.event.listen(self.connection, 'commit', self._check)
        return self

    def __exit__(self, *exc_info):
        if self.lock is not None:
            sa.event.remove(self.connection, 'commit', self._check)
        return False

    def _check(self, connection):
        # autocommit_block() ends its block with a COMMIT of nothing.
        if connection.get_execution_options().get(
                'isolation_level') == 'AUTOCOMMIT':
            return
        try:
            self.lock.check(connection)
        except BaseException:
            # SQLAlchemy marks the transaction over without a ROLLBACK
            # when its commit event raises: roll it back here.
            try:
                connection.connection.dbapi_connection.rollback()
            except Exception as exc:
                LOG.debug('rolling back after the fence: %s',
                          exception.first_line(exc))
            raise


def committed(connection, database=None, wait=db.RECONNECT):
    """The revisions the database holds once ``connection``'s transaction
    is rolled back, read for a report of what is committed.

    A connection that was cut (a server or pooler restarted, a Galera
    node lost) is replaced: new connections are tried for ``wait``
    seconds, as the lease's release does.

    :returns: the current revisions (a tuple), or None when the database
        did not answer.
    """
    try:
        connection.rollback()
        return state.read(connection, tables=False,
                          database=database).current
    except (sa.exc.SQLAlchemyError, KeyboardInterrupt) as exc:
        LOG.debug('reading the version after the failure: %s',
                  exception.first_line(exc))
    deadline = time.monotonic() + wait
    delay = 0.25
    while True:
        try:
            with connection.engine.connect() as other:
                return state.read(other, tables=False,
                                  database=database).current
        except sa.exc.SQLAlchemyError as exc:
            LOG.debug('reading the version after the failure: %s',
                      exception.first_line(exc))
        except KeyboardInterrupt:
            return None
        if time.monotonic() + delay > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 2)


def _where(now, wait=db.RECONNECT):
    if now is None:
        return 'unknown (the connection was lost' + (
            f' and the database did not answer for {wait}s)' if wait
            else ')')
    return ', '.join(now) or 'base'


def interrupted(connection, reason, database=None, at_once=False,
                running=None, mysql=False, progress=None):
    """The :class:`exception.Interrupted` of a run stopped by a signal,
    saying what is committed: read from the database, on a new connection
    when the migration's was cut. ``progress`` (the run's
    :class:`Progress`) reports the revisions that committed with a
    statement the signal cut (MySQL commits a group before a DDL
    statement runs: see :meth:`Progress.settle`)."""
    now = committed(connection, database, wait=0)
    if progress is not None:
        progress.settle(now)
    where = _where(now, wait=0)
    if not at_once:
        what = 'stopped before the next revision'
    elif running and mysql:
        what = (f'stopped at once, during revision {running}: MySQL '
                'committed its statements that completed, which the next '
                'upgrade skips')
    elif running:
        what = (f'stopped at once; revision {running} was rolled back')
    else:
        what = 'stopped at once'
    return exception.Interrupted(
        reason, message=f'{reason}: {what}; the database is at {where}, '
        'where a rerun starts')


def _kill_query(connection):
    """Stop the statement the migration's MySQL ``connection`` runs on the
    server (``KILL QUERY``, from a connection of its own)."""
    try:
        thread_id = connection.connection.dbapi_connection.thread_id()
        with connection.engine.connect() as other:
            other.exec_driver_sql(f'KILL QUERY {int(thread_id)}')
    except (sa.exc.SQLAlchemyError, AttributeError, KeyboardInterrupt,
            OSError) as exc:
        LOG.debug('could not kill the running statement: %s', exc)


def nothing_to_do(current, phase=None):
    """Log that the database is already where it was asked to be.

    :param phase: ``'expand'`` or ``'contract'`` when this is one phase
        of a plain ``upgrade``, which may still have work in another
        phase: only that phase is said to have nothing to do.
    """
    if phase is not None:
        LOG.info('%s: nothing to do', phase)
        return
    LOG.info('Nothing to do: the database is at %s',
             ', '.join(current) or 'base')


def failure(connection, progress, before, exc, database=None):
    """A :class:`exception.MigrationFailed` that says only what is true:
    which revision failed, the revisions the database holds now that the
    failed transaction is rolled back, which is where a rerun starts, and
    the statements of the failed revision that committed anyway (MySQL's
    DDL, any engine's ``autocommit_block``), as the progress journal
    (:mod:`enamel.journal`) records them in the database.
    """
    now = committed(connection, database)
    progress.settle(now)
    where = _where(now)
    revision = progress.failed_revision()
    what = f'revision {revision}' if revision else 'the migration'
    message = f'{what} failed: {exception.first_line(exc)}; '
    if now is None:
        message += 'what is committed could not be read'
    elif sorted(now) == sorted(before):
        message += 'no revision of this run was committed'
        if progress.rolled_back():
            message += (f' ({progress.rolled_back()} other revision(s) '
                        'ran and were rolled back with it)')
    elif progress.rolled_back():
        message += (f'the {progress.rolled_back()} other revision(s) since '
                    'the last commit were rolled back with it')
    else:
        message += 'the revisions before it are committed'
    recorded = _in_flight(connection, database)
    partly = len(recorded[2]) if recorded and recorded[1] == revision else 0
    if partly:
        message += (
            f', but its first {partly} statement(s) committed outside '
            'its transaction (an autocommit_block, or DDL on MySQL): the '
            'progress journal records them and the next upgrade skips '
            'them')
    elif recorded and revision and progress.ran(tuple(recorded[:2])):
        # MySQL, a group: a revision's DDL committed, its version row
        # rolled back with the failed revision's transaction.
        message += (
            f', but the DDL of revision {recorded[1]} before it committed: '
            'the progress journal records it in flight and the next '
            'upgrade resumes it')
    message += f'; the database is at {where}, where a rerun starts'
    if connection.dialect.name in ('mysql', 'mariadb') and revision:
        message += (
            '; MySQL commits each DDL statement: the statements of the '
            'failed revision that committed are recorded, and the next '
            'upgrade resumes after them (see "When a migration fails" in '
            'the operator guide)')
    return exception.MigrationFailed(message)


def _in_flight(connection, database):
    """What the progress journal records in flight (read from the
    database, after the failure): ``(operation, revision, [digests])``,
    or None: nothing, or the journal could not be read (the report then
    says nothing it does not know)."""
    if database is None:
        return None
    try:
        return journal.InFlight(database.lock_row).load(connection)
    except (sa.exc.SQLAlchemyError, exception.EnamelSyncError) as exc:
        LOG.debug('reading the journal after the failure: %s',
                  exception.first_line(exc))
        return None
