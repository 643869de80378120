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

"""Tests skip for the right reason: a server that is up but not prepared
(no openstack_citest role or database) skips with the reason and the
command that prepares it; under CI it fails instead.

Each case runs one PostgreSQL test in a child Python whose admin URL names
a role the server does not have (oslo.db reads it once per process)."""

import os
import subprocess
import sys

from tests import base

TEST = ('tests.functional.test_db.PostgreSQLDriverTest.'
        'test_url_without_driver_uses_the_extras_driver')


class UnpreparedServerTest(base.TestCase):

    def run_child(self, ci):
        url = base._admin_url('postgresql')
        host, port = url.host or 'localhost', url.port or 5432
        if not base._listening(host, port):
            message = f'PostgreSQL is not listening on {host}:{port}'
            if base.UNDER_CI:
                self.fail(message)
            self.skipTest(message)
        env = dict(os.environ, CI='true' if ci else '',
                   OS_TEST_DBAPI_ADMIN_CONNECTION=url.set(
                       username='enamel_no_such_role').render_as_string(
                           hide_password=False))
        return subprocess.run(
            [sys.executable, '-m', 'unittest', '-v', TEST],
            cwd=base.REPO_ROOT, env=env, text=True, capture_output=True,
            stdin=subprocess.DEVNULL, timeout=300)

    def test_outside_ci_it_skips_naming_the_command(self):
        result = self.run_child(ci=False)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('skipped', result.stderr)
        self.assertIn('is up but not prepared for the tests', result.stderr)
        self.assertIn(base.PREPARE, result.stderr)

    def test_under_ci_it_fails(self):
        result = self.run_child(ci=True)
        self.assertNotEqual(0, result.returncode, result.stderr)
        self.assertIn('is up but not prepared for the tests', result.stderr)
        self.assertIn(base.PREPARE, result.stderr)
