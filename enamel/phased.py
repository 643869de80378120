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

"""The plain ``upgrade`` of a history in expand and contract branches:
the expand phase, the online data migrations until done, the contract
phase, from one plan judged by the phase rules."""

import functools

from enamel import exception
from enamel import interrupt
from enamel import journal
from enamel import phases
from enamel import runner


class PhasedUpgrade:
    """``upgrade head`` of one branched history.

    :param history: its :class:`enamel.history.History`.
    :param migrator: its :class:`enamel.migrator.Migrator`.
    :param rules: its :class:`enamel.phase_rules.PhaseRules`.
    :param rolling: its :class:`enamel.rolling.RollingUpgrades` (which
        runs the data migrations).
    """

    def __init__(self, history, migrator, rules, rolling):
        self.history = history
        self.migrator = migrator
        self.rules = rules
        self.rolling = rolling

    def run(self, tag=None, ignore_phase_rules=False):
        """``upgrade`` of a branched history: expand, every data
        migration until done, contract.

        One plan to the heads is made and judged first, but for the rules about
        the contract phase, which are judged when it comes: a refusal there
        changes nothing more and says what ran. Each phase runs its part of
        that plan (:meth:`enamel.planner.Planner.part`); the database is read
        once before the migration lock and once under it for each phase that
        takes it (another process may have moved it meanwhile; only then is it
        planned again). "Nothing to do" is said once, and only when no phase
        has anything to do; otherwise each phase says what it did, or that it
        had nothing to do. The migration lock is let go while the data
        migrations run; when none is open after the expand phase, the contract
        phase is judged before anything runs (a refusal changes nothing) and
        both run in one alembic run under the lock (:meth:`_both`). A signal
        that asked to stop while the expand phase ran stops the run after it
        (:func:`enamel.interrupt`); a contract revision cut midway goes first
        (:func:`_finish_cut_contract`).
        """
        migrator = self.migrator
        planner = self.history.planner
        ignore = ignore_phase_rules

        def look(connection, _look):
            """The plan to the heads, judged but for the rules about the
            contract phase (not with ``ignore``: its warnings are logged
            once, under the lock)."""
            plan = planner.pending(migrator.current(connection))
            if not ignore:
                self.rules.judge(
                    connection, plan, phase_run=True,
                    skip=(phases.EXPAND_FIRST, phases.ROWS_LEFT))
            return plan

        def decide(connection, _look, applied=None):
            """Under the lock: the plan to the heads (the look's, unless
            the database moved meanwhile), its expand part, judged unless
            the look judged it already (``applied``: see :func:`_done`),
            and whether no phase has anything to do."""
            current = migrator.current(connection)
            moved = set(current) != set(looked.current)
            plan = planner.pending(current) if moved else looked
            expand = planner.part(plan, phases.EXPAND, current)
            if moved or ignore:
                self.rules.judge(connection, expand, ignore, phase_run=True,
                                 pending=plan, applied=applied)
            # A data migration that cannot count is reported by its phase.
            settled = not plan and not _rows_left(
                planner, connection, current)
            return plan, expand, settled

        def decide_contract(connection, look, current=None, applied=None):
            """The contract part of the plan from ``current`` (default:
            read; another process may have moved the database while the
            data migrations ran), judged (``applied``: see :func:`_done`)."""
            if current is None:
                current = migrator.current(connection)
            contract = planner.part(plan, phases.CONTRACT, current)
            if contract is None:  # moved elsewhere meanwhile
                contract = planner.upgrade(
                    planner.layout.target(phases.CONTRACT), current)
            self.rules.judge(
                connection, contract, ignore, phase_run=True,
                pending=plan if contract.current == plan.current else None,
                skip=(phases.ROWS_LEFT,) if past else (), applied=applied)
            return contract

        past = False  # the data migrations' refusal gone past

        looked = migrator.look(look)
        # Nothing to do is said as a plain upgrade says it: under the
        # migration lock (a held lock with a zero timeout is an error, not
        # "Nothing to do"), decided again there.
        with migrator.locked(decide) as (connection, held, decided):
            plan, expand, settled = decided
            if settled:
                return runner.nothing_to_do(plan.current)
            between = planner.ancestry.open_migrations(expand.after())
            cut = _finish_cut_contract(
                self, connection, held, plan, tag, ignore) if between else None
            if cut:
                plan, expand, settled = decide(connection, None, _done(cut))
                if settled:
                    return None
                between = planner.ancestry.open_migrations(expand.after())
            if not between:
                # No data migration stands between the phases: one alembic
                # run, the contract phase judged first.
                return self._both(connection, held, expand, decide_contract(
                    connection, False, expand.after(), _done(cut)), tag)
            migrator.run(connection, held, expand, tag, phase=phases.EXPAND)
            reason = interrupt.requested()
            if reason is not None:
                # A signal came while the expand phase's last revision ran
                # (the runner stops only between the revisions of a phase):
                # neither the data migrations nor the contract phase start.
                raise runner.interrupted(connection, reason,
                                         self.history.database)
        report = self.rolling.online_data_migrations(current=expand.after())
        if not report.outcomes:
            runner.LOG.info('data migrations: nothing to do (none open)')
        # Gone past (with ignore) here: the contract phase counts no rows.
        past = _past_stuck(report, plan, ignore, self.rules.database_option,
                           cut)
        with migrator.locked(functools.partial(
                decide_contract, applied=_done(cut, True))) as locked:
            connection, held, contract = locked
            migrator.run(connection, held, contract, tag,
                         phase=phases.CONTRACT)

    def _both(self, connection, held, expand, contract, tag):
        """Both phases, no data migration open between them, in one
        alembic run under the lock, the expand phase's revisions committed
        before the contract phase's (a signal stops the run between, see
        :class:`enamel.runner.Progress`; under an env.py's one transaction
        per run, the contract phase is a run of its own)."""
        none_open = 'data migrations: nothing to do (none open)'
        if not expand:
            runner.nothing_to_do(expand.current, phases.EXPAND)
            runner.LOG.info(none_open)
        if not (expand or contract):  # only with --ignore-phase-rules
            return runner.nothing_to_do(contract.current, phases.CONTRACT)
        first = frozenset(('upgrade', i) for i in expand.ids())
        applied = self.migrator.run(connection, held, expand.then(contract),
                                    tag, note=(first, none_open))
        if len(applied) < len(expand.alembic_steps) + len(
                contract.alembic_steps):  # it ended after the expand phase
            runner.LOG.info(none_open)
            self.migrator.run(connection, held, contract, tag,
                              phase=phases.CONTRACT)
        if not contract:
            runner.LOG.info(none_open)
            runner.nothing_to_do(contract.current, phases.CONTRACT)


def _finish_cut_contract(phased, connection, held, plan, tag,
                         ignore=False):
    """Run first, alone, a contract revision an earlier run cut midway
    (the journal's, see :mod:`enamel.journal`) that the expand phase
    would leave in flight: one that closes a data migration keeps it open
    until it is applied, which sends a plain upgrade down the path of two
    runs, and the expand run refuses to leave it. It is judged by the
    phase rules as a plan of its own (rows the previous release wrote
    since the cut are migrated first: the refusal says so), and left to
    the runner's refusal when that plan is more than the revision (its
    file changed since). Called only where a data migration is open after
    the expand phase; with none open, both phases run in one alembic run,
    where the runner puts the revision in flight first.

    :param phased: the :class:`PhasedUpgrade`.
    :param ignore: ``--ignore-phase-rules``.
    :returns: the revision's id when it ran (the database moved: plan
        again), else None.
    :raises exception.PhaseRefused: a phase rule refused it.
    :raises exception.MigrationFailed: it failed again.
    """
    planner = phased.history.planner
    recorded = journal.InFlight(
        phased.history.database.lock_row).load(connection)
    if recorded is None or recorded[0] != 'upgrade':
        return None
    revision = recorded[1]
    if revision not in plan.ids(phases.CONTRACT):
        return None
    alone = planner.upgrade(revision, plan.current)
    if alone.ids() != [revision]:
        return None
    phased.rules.judge(connection, alone, ignore, phase_run=True,
                       pending=plan)
    runner.LOG.info('Revision %s of the contract phase was cut midway by an '
                    'earlier run: it is finished first', revision)
    phased.migrator.run(connection, held, alone, tag)
    return revision


def _done(cut, data_migrations=False):
    """What a plain upgrade applied before a judgment, for a refusal's
    last words (see :func:`enamel.phases.unchanged`): the contract
    revision ``cut`` by an earlier run that it finished first, if any,
    and, with ``data_migrations``, its expand phase and data migrations.
    None: nothing."""
    done = [f'contract revision {cut} (cut by an earlier run) is applied'
            ] if cut else []
    if data_migrations:
        done.append('the expand phase is applied and the data migrations '
                    'ran')
    return ', '.join(done) or None


def _past_stuck(report, plan, ignore, database_option, cut=None):
    """After the data migrations of a plain upgrade (``report``, a
    :class:`enamel.data_migrations.Report`): if one failed or has rows
    left, refuse the contract phase of ``plan`` with the way on, or, with
    ``ignore``, go past it saying so. With no contract revision pending
    there is nothing to go past: the failure is the run's. ``cut``: the
    contract revision cut by an earlier run that this one finished
    first, if any (the message says it is applied).

    :returns: whether it went past a failure.
    :raises exception.DataMigrationFailed: one failed or has rows left.
    """
    stuck = [o for o in report.outcomes if o.error or o.left]
    if not stuck:
        return False
    what = 'data migration(s) ' + ', '.join(
        f'{o.name} ({o.error or f"{o.left} rows left"})' for o in stuck)
    done = 'the expand phase is applied' + (f', {_done(cut)}' if cut else '')
    if not plan.has(phases.CONTRACT):
        raise exception.DataMigrationFailed(
            f'{what}; {done}: ' +
            phases.past_data_migrations(database_option, again=None))
    if not ignore:
        # "this command": the run may have been over several databases.
        raise exception.DataMigrationFailed(
            f'{what}; {done}, the {"rest of the " if cut else ""}contract '
            'phase is not: ' + phases.past_data_migrations(database_option))
    phases.overridden(phases.ROWS_LEFT, what)
    return True


def _rows_left(planner, connection, current):
    """Has an open data migration at ``current`` rows left, or can one
    not say?"""
    try:
        return any(phases.rows_left(
            connection, planner.ancestry.open_migrations(current)).values())
    except exception.DataMigrationFailed:
        return True
