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

"""Online data migrations next to a service on SQLite, where one writer
at a time holds the whole database (:class:`enamel.data_migrations.
_Pacer`)."""

import sqlite3
import threading

import fixtures
import sqlalchemy as sa

from enamel import data_migrations
from enamel import db
from tests import base

METADATA = sa.MetaData()
TASKS = sa.Table('tasks', METADATA,
                 sa.Column('id', sa.Integer, primary_key=True),
                 sa.Column('action', sa.String(20)),
                 sa.Column('name', sa.String(20)))
ROWS = 50000
SERVICE_ID = ROWS + 1


class SQLitePacingTest(base.SQLiteBackend, base.TestCase):

    def setUp(self):
        super().setUp()
        METADATA.create_all(self.engine)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO tasks (id, action) WITH RECURSIVE seq(n) AS "
                "(SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < "
                f"{ROWS}) SELECT n, 'a' || n FROM seq")
        self.migrate_engine = db.create_engine(self.load_conf(), 'database')
        self.addCleanup(self.migrate_engine.dispose)

    def test_a_waiting_service_write_gets_in_while_the_run_goes_on(self):
        # A writer alone is let in after ALONE seconds of batches at the
        # latest; shortened so that a small table shows it.
        self.useFixture(fixtures.MonkeyPatch(
            'enamel.data_migrations._Pacer.ALONE', 0.05))
        copy = data_migrations.update_in_batches(
            'copy', TASKS, key=TASKS.c.id, where=TASKS.c.name.is_(None),
            values={'name': TASKS.c.action})
        running = threading.Event()
        seen = []     # per batch: the service's row is there (0 or 1)

        def copy_and_watch(connection, limit):
            if limit:
                running.set()
                seen.append(connection.execute(
                    sa.select(sa.func.count()).select_from(TASKS)
                    .where(TASKS.c.id == SERVICE_ID)).scalar())
            return copy(connection, limit)

        errors = []

        def service():
            # A service's write through Python's sqlite3 module, whose busy
            # handler is SQLite's default one; it starts while the run
            # holds the database (the first batch has begun).
            running.wait()
            try:
                conn = sqlite3.connect(self.db_path, timeout=60)
                with conn:
                    conn.execute('INSERT INTO tasks (id, action) VALUES '
                                 '(?, ?)', (SERVICE_ID, 'service'))
                conn.close()
            except sqlite3.Error as exc:
                errors.append(exc)

        writer = threading.Thread(target=service)
        writer.start()
        with self.migrate_engine.connect() as connection:
            report = data_migrations.run(
                connection, [data_migrations.DataMigration(
                    'r.copy', 'r', copy_and_watch)], batch_size=25)
        writer.join()
        self.assertEqual([], errors)
        # The service's row appeared while batches were still to come, and
        # the run ended as usual (that row, written after the run began,
        # is the next run's).
        self.assertIn(1, seen[:-1])
        self.assertEqual([('r.copy', ROWS, 1, None)],
                         [(o.name, o.done, o.left, o.error)
                          for o in report.outcomes])
