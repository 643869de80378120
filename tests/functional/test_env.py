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

"""The bundled env.py run by something other than enamel-sync.

Plain ``alembic`` with an ini file, with or without ``sqlalchemy.url`` (then
env.py reads enamel's own configuration), and a Python caller that hands
env.py an ``Engine`` instead of a ``Connection``.
"""

import os
import subprocess
import sys

from alembic import command
import sqlalchemy as sa

from enamel import conf as enamel_conf
from enamel import environment
from enamel import exception
from enamel import migration
from tests import base
from tests import synthetic
from tests.functional import test_commands


class EnvTests:

    def alembic(self, url=None, env=None):
        """Run plain ``alembic upgrade head`` against the bundled env."""
        lines = ['[alembic]', f'script_location = {environment.ENV_DIR}']
        if url is not None:
            lines.append(f'sqlalchemy.url = {url.replace("%", "%%")}')
        ini = os.path.join(self.workdir, 'alembic.ini')
        with open(ini, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        process_env = dict(os.environ, HOME=self.workdir)
        process_env.pop('OS_DATABASE__CONNECTION', None)
        process_env.update(env or {})
        # Not the test's directory: the embedded default (enamel.sqlite in
        # the working directory) must not be what a test finds.
        self.elsewhere = os.path.join(self.workdir, 'elsewhere')
        os.makedirs(self.elsewhere, exist_ok=True)
        return subprocess.run(
            [sys.executable, '-m', 'alembic', '-c', ini, 'upgrade', 'heads'],
            cwd=self.elsewhere, env=process_env, capture_output=True,
            text=True, timeout=300)

    def version(self):
        return self.assertSucceeded(self.sync('version')).stdout.split()

    def test_plain_alembic_with_sqlalchemy_url(self):
        result = self.alembic(url=self.url)
        self.assertEqual(0, result.returncode, result)
        self.assertEqual([test_commands.head()], self.version())
        self.assertEqual(0, self.sync('check').code)

    def test_plain_alembic_reads_enamel_configuration(self):
        result = self.alembic(env={'OS_DATABASE__CONNECTION': self.url})
        self.assertEqual(0, result.returncode, result)
        self.assertEqual([test_commands.head()], self.version())
        self.assertEqual([], os.listdir(self.elsewhere))

    def test_engine_handed_to_env(self):
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        migrate = migration.Migration(conf)
        self.addCleanup(migrate.engine.dispose)
        config = migrate.get_config(connection=migrate.engine)
        command.upgrade(config, 'heads')
        self.assertEqual([test_commands.head()], migrate.version())
        self.assertEqual('at_head', migrate.check().state)


base.for_each_backend(EnvTests, globals())


class HandedInSQLiteEngineTest(base.SQLiteBackend, base.TestCase):
    """An engine a Python caller built gets enamel's SQLite transaction
    handling: a failing revision leaves no trace."""

    def migration_with(self, engine):
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        migrate = migration.Migration(conf, engine=engine)
        extra = os.path.join(self.workdir, 'extra')
        os.mkdir(extra)
        synthetic.write_revision(
            extra, synthetic.revision_id(1), test_commands.head(), 'first',
            "    create('first')", "    op.drop_table('first')")
        synthetic.write_revision(
            extra, synthetic.revision_id(2), synthetic.revision_id(1),
            'fails', "    create('second')\n"
            "    op.execute('INSERT INTO no_such_table VALUES (1)')",
            "    op.drop_table('second')")

        @migrate.configure
        def extra_versions(config):
            config.set_main_option('version_locations', os.pathsep.join(
                (environment.VERSIONS_DIR, extra)))

        return migrate

    def test_a_failing_revision_leaves_no_trace(self):
        caller_engine = sa.create_engine(self.url)
        self.addCleanup(caller_engine.dispose)
        migrate = self.migration_with(caller_engine)
        self.addCleanup(migrate.engine.dispose)

        error = self.assertRaises(exception.MigrationFailed,
                                  migrate.upgrade, 'heads')

        first = synthetic.revision_id(1)
        self.assertIn(f'the database is at {first}', str(error))
        self.assertEqual([first], self.stored_version())
        self.assertIn('first', self.tables())
        self.assertNotIn('second', self.tables())

    def test_an_in_memory_engine_is_refused(self):
        engine = sa.create_engine('sqlite://')
        self.addCleanup(engine.dispose)
        self.assertRaises(exception.ConfigError, migration.Migration,
                          None, engine=engine)
