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

"""``update_in_batches`` and the runner over it, on an in-memory SQLite
database (the engines are the functional tests' job)."""

import fixtures
import sqlalchemy as sa

from enamel import data_migrations
from tests import base

METADATA = sa.MetaData()
TASKS = sa.Table('tasks', METADATA,
                 sa.Column('id', sa.Integer, primary_key=True),
                 sa.Column('action', sa.String(20)),
                 sa.Column('name', sa.String(20)))


class UpdateInBatchesTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.engine = sa.create_engine('sqlite://')
        self.addCleanup(self.engine.dispose)
        METADATA.create_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(TASKS.insert(), [
                {'id': i, 'action': f'a{i}'} for i in range(1, 11)])
        self.copy = data_migrations.update_in_batches(
            'copy', TASKS, key=TASKS.c.id, where=TASKS.c.name.is_(None),
            values={'name': TASKS.c.action})
        self.conn = self.engine.connect()
        self.addCleanup(self.conn.close)

    def batch(self, limit):
        with self.conn.begin():
            return self.copy(self.conn, limit)

    def names(self):
        return self.conn.execute(
            sa.select(TASKS.c.name).order_by(TASKS.c.id)).scalars().all()

    def test_walks_by_key_and_counts_only_at_the_end(self):
        self.assertEqual('copy', self.copy.__name__)
        self.assertEqual((0, 10), self.batch(0))
        self.assertEqual([(3, None), (3, None), (3, None), (1, None)],
                         [self.batch(3) for _ in range(4)])
        self.assertEqual((0, 0), self.batch(3))
        self.assertEqual([f'a{i}' for i in range(1, 11)], self.names())

    def test_rows_behind_the_walk_or_after_its_end_are_the_next_runs(self):
        self.assertEqual((0, 10), self.batch(0))
        self.assertEqual((3, None), self.batch(3))
        self.assertEqual((3, None), self.batch(3))
        with self.conn.begin():
            self.conn.execute(TASKS.update().where(TASKS.c.id == 2)
                              .values(name=None))
            self.conn.execute(TASKS.insert().values(id=11, action='a11'))
        self.assertEqual([(3, None), (1, None), (0, 2), (0, 2)],
                         [self.batch(3) for _ in range(4)])
        # The next run starts with a count, and walks from the start.
        self.assertEqual((0, 2), self.batch(0))
        self.assertEqual([(1, None), (0, None), (0, None), (1, None),
                          (0, 0)], [self.batch(3) for _ in range(5)])
        self.assertEqual([f'a{i}' for i in range(1, 12)], self.names())

    def test_the_runner_counts_at_the_end_of_a_budget(self):
        migration = data_migrations.DataMigration('r.copy', 'r', self.copy)
        report = data_migrations.run(self.conn, [migration], max_count=4,
                                     batch_size=3)
        self.assertEqual([('r.copy', 4, 6, None)],
                         [(o.name, o.done, o.left, o.error)
                          for o in report.outcomes])
        self.assertEqual(1, report.exit_code)
        report = data_migrations.run(self.conn, [migration], batch_size=3)
        self.assertEqual([(6, 0)], [(o.done, o.left)
                                    for o in report.outcomes])
        self.assertEqual(0, report.exit_code)

    def test_a_migration_that_cannot_count_reports_no_rows_left(self):
        def broken(connection, limit):
            connection.exec_driver_sql('SELECT no_such_column FROM tasks')

        report = data_migrations.run(self.conn, [
            data_migrations.DataMigration('r.broken', 'r', broken)])
        self.assertEqual(2, report.exit_code)
        [outcome] = report.as_dict()['migrations']
        self.assertIsNone(outcome['left'])
        # The report names the migration once, in its own field.
        self.assertTrue(outcome['error'].startswith(
            'could not count its rows: '), outcome['error'])

    def test_the_runner_reports_progress_and_its_figures(self):
        # Every batch past the interval logs a line (0: every batch).
        self.useFixture(fixtures.MonkeyPatch(
            'enamel.progress.INTERVAL', 0.0))
        logged = self.useFixture(fixtures.FakeLogger(
            name='enamel.progress', format='%(message)s'))
        migration = data_migrations.DataMigration('r.copy', 'r', self.copy)
        report = data_migrations.run(self.conn, [migration], batch_size=3)
        lines = logged.output.splitlines()
        # A line after each batch: four that changed rows, a last that
        # found none left.
        self.assertEqual(5, len(lines), lines)
        self.assertTrue(lines[0].startswith(
            'Data migration r.copy: 3 of ~10 rows (30%), '), lines[0])
        self.assertIn(' rows/s, about ', lines[0])
        self.assertIn('10 of ~10 rows (100%)', lines[-1])
        [figures] = report.as_dict()['migrations']
        self.assertEqual((10, 0, 10, 0.0), (
            figures['done'], figures['left'], figures['total'],
            figures['eta_seconds']))
        self.assertGreater(figures['seconds'], 0)
        self.assertGreater(figures['rows_per_second'], 0)
