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

"""Moving one database: plan (:mod:`enamel.planner`), judge
(:func:`enamel.phases.judge`), then let alembic run the very steps that
were judged (:mod:`enamel.runner`). ``upgrade`` to any target,
``downgrade`` and ``stamp`` come through here; the ``--sql`` scripts
through :mod:`enamel.offline`.
"""

import contextlib

from enamel import alembic_internals
from enamel import exception
from enamel import phases
from enamel import runner
from enamel import state


class Migrator:
    """Plans, judges and runs the commands that move one database.

    :param history: its :class:`enamel.history.History`.
    :param access: its :class:`enamel.access.Access`.
    :param rules: its :class:`enamel.phase_rules.PhaseRules`.
    """

    def __init__(self, history, access, rules):
        self.history = history
        self.access = access
        self.rules = rules

    def current(self, connection, adopt=False, snapshot=None):
        """The guarded revisions of the database (a tuple; see
        :func:`enamel.state.guard`). The table names are read only for a
        database without a version table (the guard needs them only
        there).

        :param snapshot: the :class:`enamel.state.Snapshot` already read
            from ``connection`` (without tables), if any: not read again.
        """
        database = self.history.database
        if snapshot is None:
            snapshot = state.read(connection, tables=False,
                                  database=database)
        if not snapshot.versioned:
            snapshot = state.read(connection, database=database)
        return state.guard(snapshot, self.history.script, adopt=adopt)

    def upgrade(self, target, tag=None, ignore=False, phase=None):
        """Plan ``upgrade target``, judge it, run it under the migration
        lock (see :meth:`locked`).

        :param phase: the phase of ``upgrade --expand``, ``--contract``
            or a plain upgrade's this is (judged as a phase run, and named
            when it has nothing to do), or None.
        :param ignore: ``--ignore-phase-rules``.
        """
        history = self.history
        recorded = history.recorded_heads(target)
        if recorded is None:
            history.preload()

        looked = []  # the plan made when looking, if any

        def decide(connection, look):
            snapshot = state.read(connection, tables=False,
                                  database=history.database)
            if recorded is not None and (
                    set(snapshot.current) == set(recorded)):
                return snapshot.current, None
            current = self.current(connection, snapshot=snapshot)
            same = bool(looked) and looked[0].current == current
            if same:
                plan = looked[0]  # the same history, the same state
            else:
                plan = history.planner.upgrade(target, current)
                looked.append(plan)
            # Judged when looking, and again under the lock only if the
            # judgement may differ there: another plan, rows a contract
            # step counts, or the warnings of ``ignore`` (logged once,
            # under the lock).
            if (not ignore if look else
                    ignore or not same or plan.has(phases.CONTRACT)):
                self.rules.judge(connection, plan, ignore,
                                 phase_run=phase is not None)
            return current, plan

        self.look(decide)
        with self.locked(decide) as (connection, held, (current, plan)):
            if plan is None:
                return runner.nothing_to_do(current, phase)
            self.run(connection, held, plan, tag, phase=phase)

    def downgrade(self, target, tag=None):
        """Plan ``downgrade target`` and run it under the migration lock
        (no phase rule refuses a downgrade: it is the way back)."""
        self.history.preload()

        def decide(connection, look):
            return self.history.planner.downgrade(
                target, self.current(connection))

        self.look(decide)
        with self.locked(decide) as (connection, held, plan):
            self.run(connection, held, plan, tag)

    def stamp(self, target, tag=None, purge=False, verify=False,
              ignore=False):
        """See :meth:`enamel.migration.Migration.stamp`."""
        self.history.preload()

        def decide(connection, look):
            current = () if purge else self.current(connection, adopt=True)
            if verify:
                differences, _accepted = self.history.accepted().split(
                    state.compare_models(
                        connection, self.history.database,
                        version_dirs=self.history.version_dirs()))
                if differences:
                    raise exception.SchemaMismatch(
                        f'the database schema differs from the models in '
                        f'{len(differences)} place(s), for example '
                        f'{differences[0]}; not stamped', differences)
            plan = self.history.planner.stamp(target, current)
            if not (look and ignore):
                self.rules.judge(connection, plan, ignore)
            return plan

        self.look(decide)
        with self.locked(decide) as (connection, held, plan):
            self.run(connection, held, plan, tag, purge=purge)

    def look(self, decide):
        """``decide(connection, look=True)`` on a connection that only
        reads (:meth:`enamel.access.Access.looking`; on a server the
        migration goes on on it), before the migration lock is taken: a
        refusal (an unversioned
        database, an unknown revision, a bad target, a phase rule) raises
        here and leaves the database as it was, without the lock's table,
        its row, the version table or the journal. Returns what
        ``decide`` returned."""
        with self.access.looking() as connection:
            return decide(connection, True)

    @contextlib.contextmanager
    def locked(self, decide):
        """Hold the migration lock and decide again under it (another
        process may have moved the database since :meth:`look`); yields
        the migration's connection, the held lock and what
        ``decide(connection, look=False)`` returned."""
        with self.access.locked() as (connection, held):
            yield connection, held, decide(connection, False)

    def run(self, connection, held, plan, tag=None, phase=None,
            purge=False, note=None):
        """Let alembic run ``plan``'s steps on the locked connection
        (``note``: see :func:`enamel.runner.run`); the applied steps'
        ``MigrationInfo``."""
        history = self.history
        return runner.run(
            history.get_config(connection, models=False,
                               grouped_commits=True),
            history.script, connection, _planned(plan), plan.target,
            tag=tag, lock=held, purge=purge, phase=phase,
            before=plan.current, note=note)


def _planned(plan):
    """The runner's ``plan(script, destination, current)``: the judged
    steps, as long as alembic reads the revisions they were planned from
    (under the lock it does). A stamp, which runs no revision, is planned
    again from what alembic read (``--purge`` starts from none)."""
    def steps(script, destination, current):
        if plan.command == 'stamp':
            return alembic_internals.stamp_steps(script, destination,
                                                 current)
        if set(current) != set(plan.current):
            raise exception.MigrationFailed(
                f'the database moved from {", ".join(plan.current)} to '
                f'{", ".join(current)} while the migration was planned; '
                'nothing was changed, run the command again')
        return plan.alembic_steps
    return steps
