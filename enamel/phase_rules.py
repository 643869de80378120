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

"""The phase rules applied to one database's plans: what
:func:`enamel.phases.judge` needs read first (the plan to the heads for a
phase run, the open data migrations' rows when contract revisions would
run), then :func:`enamel.phases.enforce`."""

import functools

from enamel import databases
from enamel import exception
from enamel import phases


class PhaseRules:
    """The phase rules of one database.

    :param history: its :class:`enamel.history.History`.
    """

    def __init__(self, history):
        self.history = history

    @functools.cached_property
    def database_option(self):
        """`` --database NAME`` in the advice's commands: ``''`` for main
        when it is the only database configured; with several, every
        database is named (the advice of one database must not act on
        the others, ``--ignore-phase-rules`` above all)."""
        database = self.history.database
        alone = len(databases.configured(self.history.conf)) == 1
        option = '' if database.name == databases.MAIN.name and alone else (
            f' --database {database.name}')
        if not database.bundled:
            option += f' -d {database.script_location}'
        return option

    def judge(self, connection, plan, ignore=False, phase_run=False,
              skip=(), pending=None, applied=None):
        """Apply the phase rules to ``plan`` (see
        :func:`enamel.phases.judge`), reading what they need: the plan
        to the heads for a phase run, and the open data migrations' rows
        (from ``connection``) only when ``plan`` runs contract
        revisions.

        :param skip: rules not to apply here (a plain upgrade judges its
            contract phase when it comes to it).
        :param pending: the plan to the heads from ``plan``'s state, if
            the caller has it (not made again).
        :param applied: what the run applied before this judgment, for
            a refusal's last words (see :func:`enamel.phases.judge`).
        :raises exception.PhaseRefused: a rule refused the plan.
        :raises exception.DataMigrationFailed: a data migration could not
            count its rows (not with ``ignore``: see :meth:`_rows_left`).
        """
        planner = self.history.planner
        rows = None
        # Revisions on neither branch are looked for in the whole history
        # once; only if there are any is the plan to the heads made.
        if planner.layout.branched and phase_run and planner.off_branches():
            if plan.target == 'heads':
                pending = plan
            elif pending is None:
                pending = planner.pending(plan.current)
        else:
            pending = None
        if (planner.layout.branched and plan.has(phases.CONTRACT)
                and phases.ROWS_LEFT not in skip):
            rows = self._rows_left(connection, plan, ignore, applied)
        refusals = phases.judge(planner, plan, pending, rows,
                                phase_run=phase_run,
                                database_option=self.database_option,
                                applied=applied)
        phases.enforce([r for r in refusals if r.rule not in skip],
                       ignore)

    def _rows_left(self, connection, plan, ignore, applied=None):
        """``{name: rows left}`` of the data migrations open at
        ``plan``'s state, each counted. One that cannot count leaves
        :data:`enamel.phases.ROWS_LEFT` undecided: refused with the way on
        (every such migration named), nothing changed (after what the
        run ``applied``, if any); or, with
        ``ignore``, gone past with a warning each, the others' rows left
        judged as usual.

        :raises exception.DataMigrationFailed: one could not count.
        """
        rows, failed = {}, []
        for migration in self.history.planner.ancestry.open_migrations(
                plan.current):
            try:
                rows[migration.name] = migration.count(connection)
            except exception.DataMigrationFailed as error:
                failed.append(str(error))
        if failed and not ignore:
            raise exception.DataMigrationFailed(
                f'{"; ".join(failed)}, so the phase rule {phases.ROWS_LEFT} '
                f'cannot be decided; {phases.unchanged(applied)}: ' +
                phases.past_data_migrations(self.database_option))
        for reason in failed:
            phases.overridden(phases.ROWS_LEFT, reason)
        return rows
