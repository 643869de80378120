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

"""The rolling-upgrade commands of :class:`enamel.migration.Migration`:
``upgrade --expand``, ``online-data-migrations``, ``upgrade --contract``
and the plain ``upgrade`` of a history in expand and contract branches
(expand, data migrations, contract). A mixin: it uses the ``Migration``'s
script, connections and runner; the phases themselves are planned in
:mod:`enamel.phases`, the data migrations run by
:mod:`enamel.data_migrations`.
"""

from enamel import alembic_internals
from enamel import data_migrations
from enamel import db
from enamel import exception
from enamel import phases
from enamel import runner
from enamel import state


class RollingUpgrades:
    """The rolling-upgrade half of :class:`enamel.migration.Migration`."""

    def upgrade_expand(self, sql=False, tag=None):
        """Apply the expand phase only (``expand@head``): the revisions
        that are safe while the previous release runs.

        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :raises exception.MigrationFailed: a revision failed.
        """
        return self.upgrade(phases.target(self.script, phases.EXPAND),
                            sql=sql, tag=tag)

    def online_data_migrations(self, max_count=None, batch_size=None):
        """Run the open data migrations in batches, each batch committed
        (see :mod:`enamel.data_migrations`); no migration lock is held.

        :param max_count: the most rows to change in this run; None:
            until nothing is left.
        :param batch_size: the most rows per transaction; None: the
            engine's default (:func:`enamel.data_migrations.
            default_batch_size`: 10,000 on SQLite, 1,000 elsewhere).
        :returns: a :class:`enamel.data_migrations.Report`, whose
            ``exit_code`` is 0 (done), 1 (rows left) or 2 (one failed).
        """
        with self._connect() as connection:
            # Read without the write lock: a service's long write
            # transaction on SQLite must not fail the run before it starts.
            with db.read_transaction(connection):
                current = state.guard(
                    state.read(connection, database=self.database),
                    self.script)
            return data_migrations.run(
                connection,
                data_migrations.open_migrations(self.script, current),
                max_count=max_count, batch_size=batch_size)

    def upgrade_contract(self, sql=False, tag=None):
        """Apply the contract phase (``contract@head``), under the
        migration lock, only when nothing else is pending.

        :param sql: write the SQL to stdout instead of running it (no
            database is read, so nothing is verified).
        :param tag: passed to env.py.
        :raises exception.ContractRefused: expand revisions are pending
            or data migrations have rows left; nothing was changed.
        :raises exception.MigrationFailed: a revision failed.
        """
        target = phases.target(self.script, phases.CONTRACT)
        if target is None:
            if not sql:
                runner.LOG.info('Nothing to do: the revisions have no '
                                'contract branch')
            return
        if sql:
            return self._offline('upgrade', target, tag=tag)
        self._upgrade_contract(target, tag)

    def _upgrade_contract(self, target, tag, phase=None):
        with self._locked() as (connection, held):
            current = state.guard(
                state.read(connection, database=self.database), self.script)
            phases.refuse_contract(
                phases.pending(connection, self.script, current))
            self._migrate(connection, held, alembic_internals.upgrade_steps,
                          target, tag, phase=phase)

    def _upgrade_phases(self, tag):
        """``upgrade`` of a branched history: expand, every data
        migration until done, contract.

        "Nothing to do" is said once, and only when no phase has anything
        to do; otherwise each phase says what it did, or that it had
        nothing to do. An unfinished data migration anywhere in the plan
        is refused before any phase runs.
        """
        # Only reads (as check does): no write lock on SQLite.
        with self._connect(read_only=True) as connection:
            current = state.guard(
                state.read(connection, database=self.database), self.script)
            steps = alembic_internals.upgrade_steps(self.script, 'heads',
                                                    current)
            phases.refuse_unfinished(step.revision for step in steps)
            # A data migration that cannot count is reported by its phase.
            if not steps and not self._rows_left(connection, current):
                return runner.nothing_to_do(current)
        self._upgrade(phases.target(self.script, phases.EXPAND), tag,
                      phase=phases.EXPAND)
        report = self.online_data_migrations()
        if not report.outcomes:
            runner.LOG.info('data migrations: nothing to do (none open)')
        stuck = [o for o in report.outcomes if o.error or o.left]
        if stuck:
            raise exception.DataMigrationFailed(
                'data migration(s) ' + ', '.join(
                    f'{o.name} ({o.error or f"{o.left} rows left"})'
                    for o in stuck) +
                '; the expand phase is applied, the contract phase is not')
        self._upgrade_contract(phases.target(self.script, phases.CONTRACT),
                               tag, phase=phases.CONTRACT)

    def _rows_left(self, connection, current):
        """Has an open data migration rows left, or can one not say?"""
        try:
            return bool(phases.pending(connection, self.script,
                                       current).rows_left)
        except exception.DataMigrationFailed:
            return True
