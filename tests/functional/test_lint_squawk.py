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

"""``enamel-sync lint`` against squawk on the corpus of
``tests/lint_corpus.py`` (both tools run for real; no database needed).

The lint must flag every hazard squawk flags, unless the case documents
why squawk is wrong for a rolling upgrade; flag every bad form and no safe
one, unless the case documents that the form hides what the lint would
need; and, in each form, miss fewer hazards and raise fewer false alarms
than squawk. The table published in the developer guide is the one these
verdicts give.
"""

from tests import base
from tests import lint_corpus
from tools import lint_comparison


class LintAgainstSquawkTest(base.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.verdicts = lint_corpus.verdicts()

    def test_squawk_runs(self):
        self.assertIsNotNone(lint_corpus.squawk_executable(),
                             'squawk-cli is in test-requirements.txt')
        self.assertEqual(['require-concurrent-index-creation'],
                         self.verdicts[0].squawk)

    def test_no_hazard_squawk_finds_is_missed(self):
        missed = [f'{v.case.name} ({v.form}): squawk {v.squawk}'
                  for v in self.verdicts
                  if v.hazard and v.squawk and not v.enamel
                  and not v.case.squawk_wrong]
        self.assertEqual([], missed)

    def test_each_form_gets_its_verdict(self):
        wrong = [f'{v.case.name} ({v.form}): enamel {v.enamel}'
                 for v in self.verdicts
                 if bool(v.enamel) != v.hazard
                 and v.form not in v.case.enamel_blind]
        self.assertEqual([], wrong)

    def test_fewer_misses_and_false_alarms_than_squawk(self):
        tally = lint_corpus.tally(self.verdicts)
        for form in ('ops', 'sql'):
            enamel, squawk = tally['enamel'][form], tally['squawk'][form]
            self.assertLess(enamel['missed'], squawk['missed'], form)
            self.assertLess(enamel['false alarms'], squawk['false alarms'],
                            form)

    def test_the_published_table_is_current(self):
        with open(lint_comparison.OUTPUT) as f:
            published = f.read()
        self.assertEqual(lint_comparison.render(self.verdicts), published,
                         'run: PYTHONPATH=. python tools/lint_comparison.py')
        with open(lint_comparison.RULES) as f:
            self.assertEqual(lint_comparison.render_rules(), f.read())
