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

"""A database that answered earlier in a run is tried again when a later
connection fails (a server or pooler restarting between the read-only
look and the migration's connection); a first connection fails at once.

The database "goes away" for real: its SQLite file's directory is moved
aside (SQLite's "unable to open database file", a DBAPI error at
connect), and moved back by the engine's own ``do_connect`` event on a
chosen attempt, so the test knows how many attempts were made without
timing anything.
"""

import os

import fixtures
import sqlalchemy as sa
from sqlalchemy import event
import testtools

from enamel import access as db_access
from enamel import databases
from enamel import db
from enamel import exception


class ReconnectTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        root = self.useFixture(fixtures.TempDir()).path
        self.home = os.path.join(root, 'data')
        self.aside = os.path.join(root, 'aside')
        os.mkdir(self.home)
        self.url = f'sqlite:///{os.path.join(self.home, "enamel.sqlite")}'
        self.access = db_access.Access(
            None, databases.MAIN, sa.create_engine(self.url))
        self.attempts = 0

    def go_away(self, back_on_attempt=None):
        """Move the database aside; with ``back_on_attempt``, move it
        back when that connection attempt starts."""
        os.rename(self.home, self.aside)
        self.access.engine.dispose()  # as a restart ends pooled sessions

        @event.listens_for(self.access.engine, 'do_connect')
        def count(dialect, record, cargs, cparams):
            self.attempts += 1
            if self.attempts == back_on_attempt:
                os.rename(self.aside, self.home)

    def test_a_database_that_answered_is_tried_again(self):
        with self.access.connect() as connection:
            connection.exec_driver_sql('CREATE TABLE t (x INTEGER)')
            connection.commit()
        self.go_away(back_on_attempt=3)
        with self.access.connect() as connection:
            self.assertEqual(
                ['t'], sa.inspect(connection).get_table_names())
        self.assertEqual(3, self.attempts)

    def test_a_first_connection_fails_at_once(self):
        self.go_away()
        error = self.assertRaises(exception.DatabaseError,
                                  self.access.connect().__enter__)
        self.assertEqual(1, self.attempts)
        self.assertTrue(str(error).startswith(
            'cannot connect to the database sqlite:///'), error)
        self.assertNotIn('again', str(error))

    def test_a_database_that_stays_away_is_reported_after_the_wait(self):
        with self.access.connect():
            pass
        self.useFixture(fixtures.MonkeyPatch('enamel.db.RECONNECT', 0.5))
        self.go_away()
        error = self.assertRaises(exception.DatabaseError,
                                  self.access.connect().__enter__)
        self.assertGreater(self.attempts, 1)
        self.assertIn('again (it answered earlier in this run; tried for '
                      '0.5s): unable to open database file', str(error))

    def test_connect_tries_once_without_a_wait(self):
        self.go_away()
        self.assertRaises(sa.exc.OperationalError, db.connect,
                          self.access.engine)
        self.assertEqual(1, self.attempts)
