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

"""The HEADS file: a database at head is recognised without loading a
revision file, and a stale or bypassed file never skips a revision.

Each test works on a scratch copy of ``alembic_migrations``; the
commands run in a fresh interpreter that reports which modules the command
imported, since "no revision file loaded" shows as "alembic not imported".
"""

import json
import os
import shutil
import subprocess
import sys

from enamel import heads_file
from tests import base
from tests import synthetic
from tests.functional import test_commands

# Runs main() and prints, on the last line of stdout, which of the modules
# that matter here the command imported.
PROBE = '''\
import json, sys
from enamel.cmd import sync
code = sync.main(sys.argv[1:], default_config_files=[])
print(json.dumps({name: name in sys.modules
                  for name in ('alembic', 'sqlalchemy.orm')}))
sys.exit(code)
'''


class HeadsFileTests:

    def setUp(self):
        super().setUp()
        self.env = self.scratch_environment()
        self.versions = os.path.join(self.env['PYTHONPATH'],
                                     'alembic_migrations', 'versions')

    def probe(self, *argv):
        """Run a command; (its Result, {module: imported})."""
        env = dict(os.environ, HOME=self.workdir, **self.env)
        env.pop('OS_DATABASE__CONNECTION', None)
        proc = subprocess.run(
            [sys.executable, '-c', PROBE, '--config-file', self.config_file,
             *argv], cwd=self.workdir, env=env, text=True,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        result = base.Result(proc.returncode, proc.stdout, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertTrue(lines, result)
        return result, json.loads(lines[-1])

    def add_revision(self, revision, down_revision):
        """Write a revision by hand, leaving the HEADS file as it was."""
        synthetic.write_revision(
            self.versions, revision, down_revision, 'added by hand',
            f'    create({synthetic.table_name(1)!r})',
            f'    op.drop_table({synthetic.table_name(1)!r})')

    def test_plain_alembic_revision_keeps_it_current(self):
        # The checkout's alembic.ini, beside the scratch environment.
        root = self.env['PYTHONPATH']
        shutil.copy(os.path.join(base.REPO_ROOT, 'alembic.ini'), root)
        env = dict(os.environ, HOME=self.workdir, **self.env)
        env['OS_DATABASE__CONNECTION'] = self.url
        subprocess.run(
            [sys.executable, '-m', 'alembic', '-c',
             os.path.join(root, 'alembic.ini'), 'revision', '-m', 'by hand',
             '--rev-id', 'abc1'], cwd=self.workdir, env=env, check=True,
            capture_output=True, timeout=300)
        self.assertEqual(('abc1',), heads_file.read(self.versions))

    def test_an_edited_head_line_is_not_trusted(self):
        path = os.path.join(self.versions, heads_file.NAME)
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(text.replace(f'head {test_commands.head()}',
                                 'head 000000000000'))
        self.assertIsNone(heads_file.read(self.versions))

    def test_the_bundled_heads_file_is_trusted(self):
        self.assertEqual((test_commands.head(),),
                         heads_file.read(self.versions))

    def test_upgrade_at_head_loads_no_revision_file(self):
        result, imported = self.probe('upgrade')
        self.assertSucceeded(result)
        self.assertTrue(imported['alembic'])
        # Running revisions needs the naming convention, not the models.
        self.assertFalse(imported['sqlalchemy.orm'])

        result, imported = self.probe('upgrade')
        self.assertSucceeded(result)
        self.assertIn(f'Nothing to do: the database is at '
                      f'{test_commands.head()}', result.stderr)
        self.assertEqual({'alembic': False, 'sqlalchemy.orm': False},
                         imported)
        self.assertEqual([test_commands.head()], self.stored_version())

    def test_version_imports_no_alembic(self):
        self.assertSucceeded(self.probe('upgrade')[0])
        result, imported = self.probe('version')
        self.assertSucceeded(result)
        self.assertEqual(test_commands.head(), result.stdout.split()[0])
        self.assertEqual({'alembic': False, 'sqlalchemy.orm': False},
                         imported)

    def test_a_stale_heads_file_skips_no_revision(self):
        self.assertSucceeded(self.probe('upgrade')[0])
        added = synthetic.revision_id(1)
        self.add_revision(added, test_commands.head())
        self.assertIsNone(heads_file.read(self.versions))

        result, _ = self.probe('check')
        self.assertEqual(3, result.code, result)  # upgrade pending
        result, imported = self.probe('upgrade')
        self.assertSucceeded(result)
        self.assertIn(f'Upgraded to {added}', result.stderr)
        self.assertTrue(imported['alembic'])
        self.assertEqual([added], self.stored_version())
        self.assertIn(synthetic.table_name(1), self.tables())

    def test_a_missing_heads_file_costs_only_time(self):
        os.remove(os.path.join(self.versions, heads_file.NAME))
        self.assertSucceeded(self.probe('upgrade')[0])
        result, imported = self.probe('upgrade')
        self.assertSucceeded(result)
        self.assertIn('Nothing to do', result.stderr)
        self.assertTrue(imported['alembic'])
        self.assertEqual([test_commands.head()], self.stored_version())

    def test_a_configure_callback_bypasses_the_heads_file(self):
        # The bundled HEADS file knows nothing of revisions a callback
        # adds from elsewhere (a plugin's): with a callback registered,
        # the revisions are always loaded.
        self.assertSucceeded(self.sync('upgrade'))
        extra = os.path.join(self.workdir, 'plugin_versions')
        os.mkdir(extra)
        added = synthetic.revision_id(1)
        synthetic.write_revision(
            extra, added, test_commands.head(), 'a plugin revision',
            f'    create({synthetic.table_name(1)!r})',
            f'    op.drop_table({synthetic.table_name(1)!r})')
        self.make_migration(version_path=extra).upgrade('heads')
        self.assertEqual([added], self.stored_version())

    def test_check_at_head_loads_no_revision_file(self):
        # A revision that leaves a mark when it is imported.
        added = synthetic.revision_id(1)
        self.add_revision(added, test_commands.head())
        marker = os.path.join(self.workdir, 'imported')
        path = [p for p in os.listdir(self.versions) if added in p][0]
        with open(os.path.join(self.versions, path), 'a') as f:
            f.write(f'\nopen({marker!r}, "w").close()\n')
        heads_file.write(self.versions)
        self.assertSucceeded(self.probe('upgrade')[0])
        os.remove(marker)

        result, _ = self.probe('check')

        # (The revision's table is not in the models: a difference.)
        self.assertIn(f'at head {added}', result.stdout)
        self.assertFalse(os.path.exists(marker))


base.for_each_backend(HeadsFileTests, globals())
