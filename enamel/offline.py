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

"""``upgrade``, ``downgrade`` and ``stamp`` with ``--sql``: the SQL of a
revision range written to stdout, an upgrade's range planned and judged
by the phase rules first (:mod:`enamel.phase_rules`)."""

from enamel import phases
from enamel import scripts


class OfflineScripts:
    """The ``--sql`` scripts of one database.

    :param history: its :class:`enamel.history.History`.
    :param rules: its :class:`enamel.phase_rules.PhaseRules`.
    """

    def __init__(self, history, rules):
        self.history = history
        self.rules = rules

    def write(self, name, revision, tag=None, purge=False, ignore=False):
        """``upgrade``, ``downgrade`` or ``stamp`` with ``--sql``: the SQL
        on stdout. An upgrade's range is planned and judged first, and a
        script that applies contract revisions to an existing database
        starts with a comment saying when to run it.

        :raises exception.OfflineRefused: a phase rule refused the range
            (exit 1); nothing was written.
        """
        scripts.require_range(revision)
        history = self.history
        preamble = None
        kw = {'purge': purge} if name == 'stamp' else {}
        if name == 'upgrade':
            if history.branched():
                revision = phases.every_head(revision)
            plan = history.planner.offline(revision)
            phases.enforce(
                phases.judge(history.planner, plan,
                             database_option=self.rules.database_option),
                ignore, offline=True)
            preamble = phases.contract_comment(plan)
        elif name == 'downgrade' and history.branched():
            revision = phases.every_head_from(revision)
        scripts.offline(history.get_config(models=False), history.script,
                        name, revision, tag=tag, preamble=preamble, **kw)
