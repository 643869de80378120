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
``online-data-migrations`` and ``upgrade --contract`` (the plain
``upgrade`` of a branched history, which runs all three, is
:mod:`enamel.phased`'s). Each phase is planned, judged and run by the
:class:`enamel.migrator.Migrator`, under the same phase rules as every
other command (:func:`enamel.phases.judge`); the data migrations are run
by :mod:`enamel.data_migrations`.
"""

from enamel import data_migrations
from enamel import db
from enamel import phases
from enamel import runner
from enamel import state


class RollingUpgrades:
    """The rolling-upgrade commands of one database.

    :param history: its :class:`enamel.history.History`.
    :param access: its :class:`enamel.access.Access`.
    :param migrator: its :class:`enamel.migrator.Migrator`.
    :param offline: its :class:`enamel.offline.OfflineScripts`.
    """

    def __init__(self, history, access, migrator, offline):
        self.history = history
        self.access = access
        self.migrator = migrator
        self.offline = offline

    def upgrade_expand(self, sql=False, tag=None, ignore_phase_rules=False):
        """Apply the expand phase only (``expand@head``): the revisions
        that are safe while the previous release runs.

        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :param ignore_phase_rules: as for
            :meth:`enamel.moves.Moves.upgrade`.
        :raises exception.PhaseRefused: an expand revision depends on a
            pending contract revision, or a revision to apply is on
            neither branch; nothing was changed.
        :raises exception.MigrationFailed: a revision failed.
        """
        layout = self.history.planner.layout
        target = layout.target(phases.EXPAND)
        if sql:
            return self.offline.write('upgrade', target, tag=tag,
                                      ignore=ignore_phase_rules)
        branched = layout.branched
        self.migrator.upgrade(target, tag, ignore_phase_rules,
                              phase=phases.EXPAND if branched else None)

    def online_data_migrations(self, max_count=None, batch_size=None,
                               current=None):
        """Run the open data migrations in batches, each batch committed
        (see :mod:`enamel.data_migrations`); no migration lock is held.

        :param max_count: the most rows to change in this run; None:
            until nothing is left.
        :param batch_size: the most rows per transaction; None: the
            engine's default
            (:func:`enamel.data_migrations.default_batch_size`: 10,000 on
            SQLite, 1,000 elsewhere).
        :param current: the revisions the database is at, when the caller
            knows them (a plain upgrade, after its expand phase): not
            read again.
        :returns: a :class:`enamel.data_migrations.Report`, whose
            ``exit_code`` is 0 (done), 1 (rows left) or 2 (one failed).
        """
        with self.access.connect() as connection:
            if current is None:
                # Read without the write lock: a service's long write
                # transaction on SQLite must not fail the run before it
                # starts.
                with db.read_transaction(connection):
                    looked = state.read(connection, tables=False,
                                        database=self.history.database)
                # An unversioned database is read again, with its tables,
                # for the guard: state.read ends the read transaction.
                current = self.migrator.current(connection, snapshot=looked)
            return data_migrations.run(
                connection,
                self.history.planner.ancestry.open_migrations(current),
                max_count=max_count, batch_size=batch_size)

    def upgrade_contract(self, sql=False, tag=None,
                         ignore_phase_rules=False):
        """Apply the contract phase (``contract@head``), under the
        migration lock, only when nothing else is pending.

        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :param ignore_phase_rules: as for
            :meth:`enamel.moves.Moves.upgrade`.
        :raises exception.ContractRefused: expand revisions are pending
            or data migrations have rows left; nothing was changed.
        :raises exception.MigrationFailed: a revision failed.
        """
        target = self.history.planner.layout.target(phases.CONTRACT)
        if target is None:
            if not sql:
                # Under the lock, as every writing command says it.
                with self.access.locked():
                    runner.LOG.info('Nothing to do: the revisions have no '
                                    'contract branch')
            return
        if sql:
            return self.offline.write('upgrade', target, tag=tag,
                                      ignore=ignore_phase_rules)
        self.migrator.upgrade(target, tag, ignore_phase_rules,
                              phase=phases.CONTRACT)
