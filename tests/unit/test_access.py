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


"""Which engines a command on SQLite builds: a reading one builds only
the read-only engine (the backend is read from the URL), a writing one
its own."""

import os

import fixtures

from enamel import access as db_access
from enamel import databases
from enamel import db
from enamel import migration
from tests import base


class EnginesTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.workdir, 'enamel.sqlite')
        self.config_file = self.write_config(f'sqlite:///{self.path}')
        self.built = self.useFixture(fixtures.MockPatchObject(
            db, 'create_engine', autospec=True,
            side_effect=db.create_engine)).mock

    def test_a_reading_command_builds_only_the_read_only_engine(self):
        access = db_access.Access(self.load_conf(), databases.MAIN)
        with access.connect(read_only=True) as connection:
            self.assertEqual(
                [], list(connection.exec_driver_sql(
                    'SELECT name FROM sqlite_master')))
        self.assertEqual([True], [call.kwargs.get('read_only')
                                  for call in self.built.call_args_list])
        self.assertFalse(os.path.exists(self.path))

    def test_version_on_sqlite_builds_one_engine(self):
        self.assertEqual(0, self.sync('version').code)
        self.assertEqual(1, self.built.call_count)
        self.assertFalse(os.path.exists(self.path))

    def test_a_writing_command_builds_the_writing_engine(self):
        migrate = migration.Migration(self.load_conf())
        migrate.upgrade('heads')
        self.assertIn(False, [call.kwargs.get('read_only', False)
                              for call in self.built.call_args_list])
        self.assertTrue(os.path.exists(self.path))
