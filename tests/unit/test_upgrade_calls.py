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

"""One upgrade reads the revisions once, plans once, and reads the
database once before the migration lock and once under it for each phase
that takes it (counted around the real functions by
:mod:`tests.upgrade_calls`, on SQLite)."""

import tempfile

import testtools

from tests import upgrade_calls


class UpgradeCallsTest(testtools.TestCase):

    def measure(self, branched):
        with tempfile.TemporaryDirectory() as directory:
            return upgrade_calls.measure(directory, branched)

    def assertOnce(self, counts):
        self.assertEqual(1, counts['heads_file_reads'], counts)
        self.assertEqual(1, counts['script_loads'], counts)
        self.assertEqual(1, counts['plans'], counts)

    def test_linear_upgrade_reads_the_state_before_and_under_the_lock(self):
        counts = self.measure(branched=False)
        self.assertOnce(counts)
        self.assertEqual(2, counts['state_reads'], counts)

    def test_branched_upgrade_plans_once_and_rechecks_per_locked_phase(self):
        # Before the lock, under it for expand, under it for contract (the
        # lock is not held while the data migrations run).
        counts = self.measure(branched=True)
        self.assertOnce(counts)
        self.assertEqual(3, counts['state_reads'], counts)
