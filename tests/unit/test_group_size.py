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

"""How many revisions share a commit (:func:`enamel.runner.group_size`),
as "How revisions commit" in the operator guide states it."""

import testtools

from enamel import runner


class GroupSizeTest(testtools.TestCase):

    def test_a_deploys_run_commits_each_revision(self):
        for steps in (0, 1, 24, 99):
            self.assertEqual(1, runner.group_size(steps), steps)

    def test_a_long_run_commits_a_fiftieth_of_it_at_most(self):
        self.assertEqual(2, runner.group_size(100))
        self.assertEqual(16, runner.group_size(800))
        self.assertEqual(16, runner.group_size(849))
