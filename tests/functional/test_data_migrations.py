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
at a time holds the whole database (:class:`enamel.pacer.Pacer`)."""

import sqlite3
import threading

import fixtures
import sqlalchemy as sa

from enamel import data_migrations
from enamel import db
from enamel import state
from tests import base

METADATA = sa.MetaData()
TASKS = sa.Table('tasks', METADATA,
                 sa.Column('id', sa.Integer, primary_key=True),
                 sa.Column('action', sa.String(20)),
                 sa.Column('name', sa.String(20)))
LABELS = sa.Table('labels', METADATA,
                  sa.Column('id', sa.String(20), primary_key=True),
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
            'enamel.pacer.Pacer.ALONE', 0.05))
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


class SQLiteReadsTest(base.SQLiteBackend, base.TestCase):
    """The reads of a run (the version table, the counts) take no write
    lock, so a service's long write transaction does not fail the run
    before it starts."""

    def test_reads_do_not_wait_for_a_service_holding_the_write_lock(self):
        METADATA.create_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(TASKS.insert(), [{'action': 'a'}, {'action': 'b'}])
            conn.exec_driver_sql('CREATE TABLE alembic_version (version_num '
                                 'VARCHAR(32) PRIMARY KEY)')
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('r')")
        copy = data_migrations.DataMigration(
            'r.copy', 'r', data_migrations.update_in_batches(
                'copy', TASKS, key=TASKS.c.id,
                where=TASKS.c.name.is_(None),
                values={'name': TASKS.c.action}))
        service = sqlite3.connect(self.db_path, isolation_level=None)
        self.addCleanup(service.close)
        service.execute('BEGIN IMMEDIATE')
        service.execute("INSERT INTO tasks (action) VALUES ('c')")
        # A busy timeout of 0: a read that wanted the write lock would
        # fail at once instead of after the default five seconds.
        conf = self.load_conf()
        engine = db.create_engine(conf, 'database')
        self.addCleanup(engine.dispose)
        with engine.connect() as connection:
            connection.connection.driver_connection.execute(
                'PRAGMA busy_timeout = 0')
            with db.read_transaction(connection):
                snapshot = state.read(connection)
            self.assertEqual(['r'], snapshot.current)
            self.assertEqual(2, copy.count(connection))
            # The writing transactions still take the lock (and wait).
            error = self.assertRaises(sa.exc.OperationalError,
                                      connection.begin)
            self.assertEqual(5, error.orig.sqlite_errorcode)


def copy_migration(table):
    return data_migrations.DataMigration(
        'r.copy', 'r', data_migrations.update_in_batches(
            'copy', table, key=table.c.id, where=table.c.name.is_(None),
            values={'name': table.c.action}))


class UpdateInBatchesTests:
    """``update_in_batches`` on each engine: its own rows only, keys
    compared by the database."""

    def make_tables(self):
        # Not in setUp: the backend's setUp, which makes self.engine, runs
        # this class's setUp first (see base.for_each_backend).
        METADATA.create_all(self.engine)
        self.addCleanup(METADATA.drop_all, self.engine)

    def run_copy(self, migration, **kw):
        with self.engine.connect() as connection:
            return data_migrations.run(connection, [migration], **kw)

    def names_left(self, table=TASKS):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(
                table).where(table.c.name.is_(None))).scalar()

    def test_a_change_that_leaves_rows_matching_fails_instead_of_looping(self):
        self.make_tables()
        with self.engine.begin() as conn:
            conn.execute(TASKS.insert(), [
                {'id': i, 'action': None if i % 4 == 0 else f'a{i}'}
                for i in range(1, 41)])
        report = self.run_copy(copy_migration(TASKS), batch_size=10)
        self.assertEqual(2, report.exit_code)
        [outcome] = report.outcomes
        # The first batch (ids 1 to 10) copied NULL into ids 4 and 8 and
        # was rolled back; nothing was changed, and the error says why.
        self.assertEqual((0, 40), (outcome.done, outcome.left))
        self.assertEqual('2 of the rows it set (id up to 10) still match '
                         'its condition: the change must make the condition '
                         'false; fix the data or the migration',
                         outcome.error)
        self.assertEqual(40, self.names_left())

    def test_string_keys_are_walked_in_the_databases_order(self):
        # Mixed case: under a case-insensitive collation (MariaDB's
        # default) or a linguistic one the database's order is not
        # Python's ('a1' < 'B2' < 'D1' there, 'B2' < 'D1' < 'a1' here).
        keys = ['a1', 'a2', 'a3', 'b1', 'B2', 'C1', 'C2', 'D1']
        self.make_tables()
        with self.engine.begin() as conn:
            conn.execute(LABELS.insert(), [
                {'id': k, 'action': k.lower()} for k in keys])
        migration = copy_migration(LABELS)
        report = self.run_copy(migration, max_count=1, batch_size=1)
        self.assertEqual([(1, 7)], [(o.done, o.left)
                                    for o in report.outcomes])
        self.assertEqual(1, report.exit_code)
        report = self.run_copy(migration, batch_size=3)
        self.assertEqual([(7, 0)], [(o.done, o.left)
                                    for o in report.outcomes])
        self.assertEqual(0, self.names_left(LABELS))


base.for_each_backend(UpdateInBatchesTests, globals())


class ServiceRowsPostgreSQLTest(base.PostgreSQLBackend, base.TestCase):

    def test_a_row_committed_into_the_range_is_left_not_a_failure(self):
        # A service's row arriving in a batch's key range while the batch
        # runs (here: a trigger inserting one, in that same transaction) is
        # the next run's work, not a row the change left matching.
        METADATA.create_all(self.engine)
        self.addCleanup(METADATA.drop_all, self.engine)
        with self.engine.begin() as conn:
            conn.execute(TASKS.insert(), [
                {'id': i, 'action': f'a{i}'} for i in range(1, 21)])
            conn.exec_driver_sql('CREATE SEQUENCE service_ids')
            conn.exec_driver_sql(
                "CREATE FUNCTION service_insert() RETURNS trigger AS $$ "
                "BEGIN INSERT INTO tasks (id, action) VALUES "
                "(-nextval('service_ids'), 'service'); RETURN NULL; END "
                "$$ LANGUAGE plpgsql")
            conn.exec_driver_sql(
                'CREATE TRIGGER service_insert AFTER UPDATE ON tasks FOR '
                'EACH STATEMENT EXECUTE FUNCTION service_insert()')
        with self.engine.connect() as connection:
            report = data_migrations.run(
                connection, [copy_migration(TASKS)], batch_size=10)
        # Two batches, each bringing a service row with a negative id (in
        # the first batch's range, which has no lower bound).
        self.assertEqual([(20, 2, None)], [(o.done, o.left, o.error)
                                           for o in report.outcomes])
        self.assertEqual(1, report.exit_code)
