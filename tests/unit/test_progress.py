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

"""Progress reports (:mod:`enamel.progress`), on a clock the test moves."""

import io
import logging
import threading
import time

import fixtures

from enamel import progress
from tests import base


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class ProgressTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.clock = Clock()
        self.logged = self.useFixture(fixtures.FakeLogger(
            name='enamel.progress', format='%(message)s'))

    def lines(self):
        return self.logged.output.splitlines()

    def test_a_line_per_interval_with_rate_total_and_eta(self):
        work = progress.Progress('r.copy', 1000, interval=10,
                                 clock=self.clock, bar=False)
        self.clock.now += 4
        work.update(100, 900)
        self.assertEqual([], self.lines())  # not yet 10 s
        self.clock.now += 6
        work.update(250, 750)
        self.assertEqual(['Data migration r.copy: 250 of ~1000 rows (25%), '
                          '25 rows/s, about 30s left'], self.lines())
        self.clock.now += 5
        work.update(300, 700)
        self.assertEqual(1, len(self.lines()))
        self.assertEqual({'rows_done': 300, 'rows_total': 1000,
                          'seconds': 15.0, 'rows_per_second': 20.0,
                          'eta_seconds': 35.0}, work.close())

    def test_an_uncounted_batch_keeps_the_estimate(self):
        work = progress.Progress('r.copy', 10000, interval=1,
                                 clock=self.clock, bar=False)
        self.clock.now += 100
        work.update(3000, None)
        self.assertEqual(10000, work.total)
        self.assertEqual(7000, work.left)
        self.assertIn('3000 of ~10000 rows (30%), 30 rows/s, about 3m53s '
                      'left', self.lines()[0])

    def test_nothing_counted_and_nothing_done(self):
        work = progress.Progress('r.copy', None, clock=self.clock, bar=False)
        self.assertEqual({'rows_done': 0, 'rows_total': None,
                          'seconds': 0.0, 'rows_per_second': 0.0,
                          'eta_seconds': None}, work.figures())
        self.assertEqual('Data migration r.copy: 0 rows, 0 rows/s',
                         work.describe())

    def test_a_live_bar_on_a_terminal_instead_of_lines(self):
        stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', stderr))
        work = progress.Progress('r.copy', 100, interval=0,
                                 clock=self.clock, bar=True)
        self.clock.now += 1
        work.update(40, 60)
        work.close()
        self.assertEqual([], self.lines())
        self.assertIn('r.copy', stderr.getvalue())
        self.assertIn('40/100', stderr.getvalue())

    def test_no_bar_where_stderr_is_not_a_terminal(self):
        self.assertFalse(progress._bar_wanted())


class HeartbeatTest(base.TestCase):

    def test_a_long_revision_is_named_at_each_interval(self):
        said = threading.Event()
        lines = []

        class Handler(logging.Handler):
            def emit(self, record):
                lines.append(record.getMessage())
                said.set()

        logger = logging.getLogger('enamel.progress')
        handler = Handler()
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        self.addCleanup(logger.setLevel, logger.level)
        logger.setLevel(logging.INFO)
        started = time.monotonic() - 75
        with progress.Heartbeat(lambda: ('91fb61076b1a', 'add priority',
                                         started), interval=0.01):
            self.assertTrue(said.wait(30))
        self.assertRegex(lines[0], r'^Revision 91fb61076b1a \(add priority\) '
                                   r'still running after 1m1[5-9]s$')

    def test_nothing_running_says_nothing(self):
        logger = logging.getLogger('enamel.progress')
        self.addCleanup(logger.setLevel, logger.level)
        logger.setLevel(logging.WARNING)  # --quiet: no thread at all
        with progress.Heartbeat(lambda: None, interval=0.01) as beat:
            self.assertIsNone(beat._thread)
