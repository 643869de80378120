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

"""The rolling-upgrade commands: ``upgrade --expand``,
``online-data-migrations``, ``upgrade --contract`` and the plain
``upgrade`` of a history in expand and contract branches (expand, data
migrations, contract). Each phase is planned, judged and run by the
:class:`enamel.migrator.Migrator`, under the same phase rules as every
other command (:func:`enamel.phases.judge`); the data migrations are run
by :mod:`enamel.data_migrations`.
"""

from enamel import data_migrations
from enamel import db
from enamel import exception
from enamel import phases
from enamel import runner


class RollingUpgrades:
    """The rolling-upgrade commands of one database.

    :param history: its :class:`enamel.history.History`.
    :param access: its :class:`enamel.access.Access`.
    :param migrator: its :class:`enamel.migrator.Migrator`.
    """

    def __init__(self, history, access, migrator):
        self.history = history
        self.access = access
        self.migrator = migrator

    def upgrade_expand(self, sql=False, tag=None, ignore_phase_rules=False):
        """See :meth:`enamel.migration.Migration.upgrade_expand`."""
        layout = self.history.planner.layout
        target = layout.target(phases.EXPAND)
        if sql:
            return self.migrator.offline('upgrade', target, tag=tag,
                                         ignore=ignore_phase_rules)
        branched = layout.branched
        self.migrator.upgrade(target, tag, ignore_phase_rules,
                              phase=phases.EXPAND if branched else None)

    def online_data_migrations(self, max_count=None, batch_size=None,
                               current=None):
        """See :meth:`enamel.migration.Migration.online_data_migrations`.

        :param current: the revisions the database is at, when the caller
            knows them (a plain upgrade, after its expand phase): not
            read again.
        """
        with self.access.connect() as connection:
            if current is None:
                # Read without the write lock: a service's long write
                # transaction on SQLite must not fail the run before it
                # starts.
                with db.read_transaction(connection):
                    current = self.migrator.current(connection)
            return data_migrations.run(
                connection,
                self.history.planner.ancestry.open_migrations(current),
                max_count=max_count, batch_size=batch_size)

    def upgrade_contract(self, sql=False, tag=None,
                         ignore_phase_rules=False):
        """See :meth:`enamel.migration.Migration.upgrade_contract`."""
        target = self.history.planner.layout.target(phases.CONTRACT)
        if target is None:
            if not sql:
                # Under the lock, as every writing command says it.
                with self.access.locked():
                    runner.LOG.info('Nothing to do: the revisions have no '
                                    'contract branch')
            return
        if sql:
            return self.migrator.offline('upgrade', target, tag=tag,
                                         ignore=ignore_phase_rules)
        self.migrator.upgrade(target, tag, ignore_phase_rules,
                              phase=phases.CONTRACT)

    def upgrade_phases(self, tag=None, ignore_phase_rules=False):
        """``upgrade`` of a branched history: expand, every data
        migration until done, contract.

        One plan to the heads is made and judged first, but for the rules
        about the contract phase, which are judged when it comes: a
        refusal there changes nothing. Each phase runs its part of that
        plan (:meth:`enamel.planner.Planner.part`); the database is read
        once before the migration lock and once under it for each phase
        that takes it (another process may have moved it meanwhile; only
        then is it planned again). "Nothing to do" is said once, and only
        when no phase has anything to do; otherwise each phase says what
        it did, or that it had nothing to do.
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
                migrator.judge(
                    connection, plan, phase_run=True,
                    skip=(phases.EXPAND_FIRST, phases.ROWS_LEFT))
            return plan

        def decide(connection, _look):
            """Under the lock: the plan to the heads (the look's, unless
            the database moved meanwhile), its expand part, judged unless
            the look judged it already, and whether no phase has anything
            to do."""
            current = migrator.current(connection)
            moved = set(current) != set(looked.current)
            plan = planner.pending(current) if moved else looked
            expand = planner.part(plan, phases.EXPAND, current)
            if moved or ignore:
                migrator.judge(connection, expand, ignore, phase_run=True,
                               pending=plan)
            # A data migration that cannot count is reported by its phase.
            settled = not plan and not self._rows_left(connection, current)
            return plan, expand, settled

        looked = migrator.look(look)
        # Nothing to do is said as a plain upgrade says it: under the
        # migration lock (a held lock with a zero timeout is an error, not
        # "Nothing to do"), decided again there.
        with migrator.locked(decide) as (connection, held, decided):
            plan, expand, settled = decided
            if settled:
                return runner.nothing_to_do(plan.current)
            migrator.run(connection, held, expand, tag, phase=phases.EXPAND)
        report = self.online_data_migrations(current=expand.after())
        if not report.outcomes:
            runner.LOG.info('data migrations: nothing to do (none open)')
        stuck = [o for o in report.outcomes if o.error or o.left]
        if stuck:
            raise exception.DataMigrationFailed(
                'data migration(s) ' + ', '.join(
                    f'{o.name} ({o.error or f"{o.left} rows left"})'
                    for o in stuck) +
                '; the expand phase is applied, the contract phase is not')

        def decide_contract(connection, look):
            current = migrator.current(connection)
            contract = planner.part(plan, phases.CONTRACT, current)
            if contract is None:  # moved elsewhere meanwhile
                contract = planner.upgrade(
                    planner.layout.target(phases.CONTRACT), current)
            migrator.judge(connection, contract, ignore, phase_run=True,
                           pending=plan if contract.current == plan.current
                           else None)
            return contract

        with migrator.locked(decide_contract) as locked:
            connection, held, contract = locked
            migrator.run(connection, held, contract, tag,
                         phase=phases.CONTRACT)

    def _rows_left(self, connection, current):
        """Has an open data migration rows left, or can one not say?"""
        try:
            return any(phases.rows_left(
                connection, self.history.planner.ancestry.open_migrations(
                    current)).values())
        except exception.DataMigrationFailed:
            return True
