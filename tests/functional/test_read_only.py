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

"""Commands that only read never create or change a database or a file:
on a missing SQLite file they report an empty database and leave no file
behind; on an existing one they change neither it nor its directory."""

import os

from tests import base

HEAD_ARGS = ['show', 'heads']
READ_ONLY = (['version'], ['check'], ['current'], ['history'],
             ['history', '-i'], ['heads'], HEAD_ARGS, ['schema-dump'])
# Those that read the database, and so warn when its file is missing.
READS_DATABASE = (['version'], ['check'], ['current'], ['history', '-i'],
                  ['schema-dump'])


class ReadOnlyCommandsTest(base.TestCase):

    def snapshot(self):
        """Every file in the working directory: its bytes and mtime."""
        files = {}
        for name in sorted(os.listdir(self.workdir)):
            path = os.path.join(self.workdir, name)
            with open(path, 'rb') as f:
                files[name] = (f.read(), os.stat(path).st_mtime_ns)
        return files

    def test_missing_database_reads_as_empty_and_stays_missing(self):
        # No configuration: the default SQLite file in the working
        # directory, as on a fresh machine.
        for argv in READ_ONLY:
            result = self.sync_process(*argv)
            self.assertIn(result.code, (0, 3), (argv, result))
            self.assertEqual({}, self.snapshot(), argv)
        for argv in READS_DATABASE:
            self.assertIn('enamel.sqlite does not exist',
                          self.sync_process(*argv).stderr, argv)
        self.assertEqual('', self.sync_process('version').stdout)
        self.assertEqual(3, self.sync_process('check').code)

    def test_existing_database_is_not_touched(self):
        self.assertSucceeded(self.sync_process('upgrade'))
        os.remove(os.path.join(self.workdir, 'enamel.sqlite.lock'))
        before = self.snapshot()
        self.assertEqual(['enamel.sqlite'], list(before))
        for argv in READ_ONLY:
            self.assertSucceeded(self.sync_process(*argv))
            self.assertEqual(before, self.snapshot(), argv)

    def test_a_database_in_a_missing_directory_is_an_error(self):
        # Not an empty database: upgrade could not create it either.
        path = os.path.join(self.workdir, 'no-such-dir', 'enamel.sqlite')
        config = self.write_config(f'sqlite:///{path}')
        for argv in (['check'], ['version']):
            result = self.sync_process(*argv, config_file=config)
            self.assertEqual(1, result.code, (argv, result))
            self.assertIn('does not exist', result.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(path)))
