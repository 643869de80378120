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

"""The read-only look at an SQLite file opens it read-only, but for a
file that a killed writer left with a hot journal: only a connection that
may write rolls that journal back (else every read fails with "attempt to
write a readonly database", and every rerun after a kill -9 with it)."""

import os
import sqlite3

import fixtures
import sqlalchemy as sa
import testtools

from enamel import db

MAGIC = bytes.fromhex('d9d505f920a163d7')


class ReadOnlySQLiteTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'a.db')
        sqlite3.connect(self.path).close()
        self.url = sa.engine.make_url(f'sqlite:///{self.path}')

    def mode(self):
        return db._read_only_sqlite_url(self.url).query['mode']

    def test_a_file_without_a_journal_is_read_only(self):
        self.assertEqual('ro', self.mode())

    def test_a_hot_journal_is_opened_to_be_rolled_back(self):
        with open(self.path + '-journal', 'wb') as f:
            f.write(MAGIC + b'\0' * 24)
        self.assertEqual('rw', self.mode())

    def test_a_journal_never_synced_is_not_hot(self):
        with open(self.path + '-journal', 'wb') as f:
            f.write(b'\0' * 32)
        self.assertEqual('ro', self.mode())
