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

"""Where enamel-sync finds its database: defaults, files, environment."""

import os

from oslo_config import generator

from tests import base


class ConfigurationTest(base.TestCase):

    def test_no_configuration_uses_sqlite_file_in_cwd(self):
        result = self.assertSucceeded(self.sync_process('upgrade'))
        self.assertIn('Upgraded to', result.stderr)
        self.assertTrue(
            os.path.exists(os.path.join(self.workdir, 'enamel.sqlite')))
        version = self.assertSucceeded(self.sync_process('version'))
        heads = self.assertSucceeded(self.sync_process('heads'))
        self.assertEqual(heads.stdout.split()[0], version.stdout.strip())

    def test_environment_variable_names_the_database(self):
        path = os.path.join(self.workdir, 'from-env.sqlite')
        env = {'OS_DATABASE__CONNECTION': f'sqlite:///{path}'}
        self.assertSucceeded(self.sync_process('upgrade', env=env))
        self.assertTrue(os.path.exists(path))
        self.assertFalse(
            os.path.exists(os.path.join(self.workdir, 'enamel.sqlite')))

    def test_config_file_names_the_database(self):
        path = os.path.join(self.workdir, 'from-file.sqlite')
        config_file = self.write_config(f'sqlite:///{path}')
        self.assertSucceeded(self.sync('upgrade', config_file=config_file))
        self.assertTrue(os.path.exists(path))

    def test_config_dir_is_read(self):
        path = os.path.join(self.workdir, 'from-dir.sqlite')
        conf_dir = os.path.join(self.workdir, 'enamel.conf.d')
        os.mkdir(conf_dir)
        with open(os.path.join(conf_dir, '10-db.conf'), 'w') as f:
            f.write(f'[database]\nconnection = sqlite:///{path}\n')
        self.assertSucceeded(self.sync('--config-dir', conf_dir, 'upgrade'))
        self.assertTrue(os.path.exists(path))

    def test_sample_config_lists_database_options(self):
        output = os.path.join(self.workdir, 'enamel.conf.sample')
        conf = generator.cfg.ConfigOpts()
        generator.register_cli_opts(conf)
        conf(['--namespace', 'enamel', '--output-file', output])
        generator.generate(conf)
        with open(output) as f:
            sample = f.read()
        for option in ('connection', 'connect_timeout',
                       'migration_lock_timeout'):
            self.assertIn(f'#{option} = ', sample)
