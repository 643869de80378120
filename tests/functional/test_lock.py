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

"""The migration lock object itself, on every engine and topology: its
fencing check, taking over a dead holder's lease, and the design it says
it uses. The lease row is changed by hand here, as a second holder would
change it."""

import logging
import time

import fixtures
from oslo_db import exception as db_exception
import sqlalchemy as sa

from enamel import exception
from enamel import lease
from enamel import lock
from tests import base


class LockTests:

    def conf(self, **options):
        conf = self.load_conf()
        for name, value in options.items():
            conf.set_override(name, value, group='database')
        return conf

    def set_row(self, **values):
        assignments = ', '.join(f'{k} = :{k}' for k in values)
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                f'UPDATE {lock.LOCK_TABLE} SET {assignments} WHERE id = 1'),
                values)

    def test_check_passes_while_held_and_the_row_is_freed(self):
        with lock.migration_lock(self.engine, self.conf()) as held:
            with self.engine.connect() as connection:
                with connection.begin():
                    held.check(connection)
        if self.BACKEND != 'sqlite':
            row = self.lock_row()
            self.assertIsNone(row['holder'])
            self.assertEqual(1, row['token'])

    # SQLite's lock is an flock: it cannot be lost while the process lives.
    @base.only_on(*base.SERVER_TARGETS)
    def test_check_refuses_once_another_process_holds_the_lease(self):
        with self.assertRaises(exception.LockLost) as caught:
            with lock.migration_lock(self.engine, self.conf()) as held:
                self.set_row(holder='another:1', token=held.token + 1)
                with self.engine.connect() as connection:
                    with connection.begin():
                        held.check(connection)
        self.assertIn('lost the migration lock', str(caught.exception))
        self.assertIn('now held by another:1', str(caught.exception))
        # The other holder's lease is left alone.
        self.assertEqual('another:1', self.lock_row()['holder'])

    # On SQLite the kernel frees a dead process's flock.
    @base.only_on(*base.SERVER_TARGETS)
    def test_a_dead_holder_is_taken_over_after_the_lease(self):
        with lock.migration_lock(self.engine, self.conf()):
            pass  # creates the table and its row
        self.set_row(holder='dead:1', token=5, heartbeat=7)
        logs = self.useFixture(fixtures.FakeLogger(
            name='enamel.lock', level=logging.INFO))
        started = time.monotonic()
        with lock.migration_lock(
                self.engine, self.conf(migration_lock_lease=1)) as held:
            waited = time.monotonic() - started
            self.assertEqual(6, held.token)
        # Never before the lease: a live holder renews within it.
        self.assertGreaterEqual(waited, 1)
        self.assertIn('Took over the migration lock from dead:1', logs.output)
        self.assertIn('Waiting up to 300s for the migration lock held by '
                      'another enamel-sync process (dead:1)', logs.output)
        self.assertIsNone(self.lock_row()['holder'])

    # PostgreSQL ends a frozen holder's sessions; MySQL's lock waits are
    # bounded instead.
    @base.only_on(*base.POSTGRESQL_TARGETS)
    def test_a_takeover_ends_the_dead_holders_sessions_and_no_other(self):
        with lock.migration_lock(self.engine, self.conf()):
            pass  # creates the table and its row
        self.set_row(holder='dead:1', token=5, heartbeat=7)
        other_database = sa.create_engine(
            sa.engine.make_url(self.url).set(database=base.CITEST),
            poolclass=sa.pool.NullPool)
        self.addCleanup(other_database.dispose)
        dead_name = lease.session_name(1, 5, 'dead:1')
        sessions = {
            # The frozen holder's migration session: ended.
            'dead': (self.engine, dead_name),
            # Another holder's with the same token in this database, and
            # the dead holder's very name in another database: neither is
            # the holder taken over.
            'same token': (self.engine,
                           lease.session_name(1, 5, 'alive:2')),
            'other database': (other_database, dead_name)}
        connections = {}
        for what, (engine, name) in sessions.items():
            connection = engine.connect()
            self.addCleanup(connection.close)
            # In a transaction, as a frozen migration is, so that a
            # transaction-pooling PgBouncer keeps its server connection.
            connection.exec_driver_sql(f"SET application_name = '{name}'")
            connection.exec_driver_sql('SELECT 1')
            connections[what] = connection
        with lock.migration_lock(
                self.engine, self.conf(migration_lock_lease=1)) as held:
            self.assertEqual(6, held.token)
        with self.assertRaises((sa.exc.DBAPIError, db_exception.DBError)):
            connections.pop('dead').exec_driver_sql('SELECT 1').all()
        for what, connection in connections.items():
            self.assertEqual(
                [(1,)], connection.exec_driver_sql('SELECT 1').all(), what)

    @base.only_on(*base.POSTGRESQL_TARGETS)  # only it names sessions
    def test_the_session_name_goes_with_the_migration(self):
        # A pooled server connection (PgBouncer's, transaction pooling)
        # must not carry the migration's name to the next client.
        self.assertSucceeded(self.sync('upgrade'))
        with self.engine.connect() as connection:
            names = connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE "
                "datname = current_database() AND "
                "application_name LIKE 'enamel-sync:%'")).scalar()
            mine = connection.exec_driver_sql(
                "SELECT current_setting('application_name')").scalar()
        self.assertEqual(0, names)
        self.assertNotIn('enamel-sync', mine)

    @base.only_on('Galera')
    def test_a_lease_within_galera_failure_detection_is_warned(self):
        logs = self.useFixture(fixtures.FakeLogger(
            name='enamel.lock', level=logging.WARNING))
        with lock.migration_lock(self.engine, self.conf(
                migration_lock_lease=5)):
            pass
        self.assertIn('migration_lock_lease = 5s is not longer than the '
                      'Galera cluster\'s failure detection '
                      '(evs.inactive_timeout = 15.0s)', logs.output)
        logs = self.useFixture(fixtures.FakeLogger(
            name='enamel.lock', level=logging.WARNING))
        with lock.migration_lock(self.engine, self.conf()):  # 30 s
            pass
        self.assertNotIn('failure detection', logs.output)

    def test_the_lock_design_is_named_at_debug(self):
        logs = self.useFixture(fixtures.FakeLogger(
            name='enamel.lock', level=logging.DEBUG))
        with lock.migration_lock(self.engine, self.conf()):
            pass
        expected = {
            'sqlite': 'flock on',
            'mysql': ('Galera node (wsrep_on=ON)' if self.TOPOLOGY
                      else 'MySQL/MariaDB server without wsrep'),
            'postgresql': 'transaction-pooling PgBouncer',
        }[self.BACKEND]
        self.assertIn(expected, logs.output)


base.for_each_backend(LockTests, globals(), topologies=True)
