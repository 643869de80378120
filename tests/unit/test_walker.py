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

"""The walker's order of revisions (:func:`tests.walker.rounds`), on
histories written into a scratch directory; no database needed."""

import os

from alembic import script as alembic_script

from tests import base
from tests import walker

REVISION = '''"""{revision}"""

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = {branch_labels!r}
depends_on = {depends_on!r}


def upgrade():
    pass


def downgrade():
    pass
'''


class RoundsTest(base.TestCase):

    def script(self, *revisions):
        """A ``ScriptDirectory`` of ``(revision, down_revision,
        branch_labels, depends_on)`` tuples."""
        versions = os.path.join(self.workdir, 'versions')
        os.mkdir(versions)
        for revision, down, labels, depends_on in revisions:
            with open(os.path.join(versions, f'{revision}_r.py'), 'w') as f:
                f.write(REVISION.format(
                    revision=revision, down_revision=down,
                    branch_labels=labels, depends_on=depends_on))
        return alembic_script.ScriptDirectory(
            self.workdir, version_locations=[versions])

    def rounds(self, script):
        return [([r.revision for r in expand], [r.revision for r in contract])
                for expand, contract in walker.rounds(script)]

    def test_a_linear_history_is_one_round_without_contract(self):
        script = self.script(('a1', None, None, None),
                             ('b2', 'a1', None, None))
        self.assertEqual([(['a1', 'b2'], [])], self.rounds(script))

    def test_a_round_per_contract_revision_with_what_it_needs(self):
        script = self.script(
            ('a0', None, None, None),
            # The branch roots, as revision --expand writes them.
            ('e1', 'a0', ('expand',), None),
            ('c1', 'a0', ('contract',), 'e1'),
            # Release N: two expand revisions; N+1 contracts the first.
            ('e2', 'e1', None, None),
            ('e3', 'e2', None, None),
            ('c2', 'c1', None, 'e2'),
            # Needs nothing that c2 did not: it joins c2's round.
            ('c3', 'c2', None, 'e1'),
            # Expand revisions no contract revision needs come last.
            ('e4', 'e3', None, None),
        )
        self.assertEqual([
            (['a0', 'e1'], ['c1']),
            (['e2'], ['c2', 'c3']),
            (['e3', 'e4'], []),
        ], self.rounds(script))

    def test_every_revision_once_after_what_it_stands_on(self):
        script = self.script(
            ('a0', None, None, None),
            ('e1', 'a0', ('expand',), None),
            ('c1', 'a0', ('contract',), 'e1'),
            ('e2', 'e1', None, None),
            ('c2', 'c1', None, 'e2'),
            ('e3', 'e2', None, None),
            ('c3', 'c2', None, 'e3'),
        )
        order = [r for expand, contract in self.rounds(script)
                 for r in expand + contract]
        self.assertEqual(['a0', 'e1', 'c1', 'e2', 'c2', 'e3', 'c3'], order)
