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

"""Argument parsing and dispatch through the real ``main([...])``.

Every test runs ``enamel.cmd.sync.main`` with ``default_config_files=[]``
against an SQLite file in the test's own directory.
"""

from enamel.cmd import commands
from enamel.cmd import sync
from tests import base

HEAD = '6a1c2e9d4b01'


class CommandLineTest(base.SQLiteBackend, base.TestCase):

    def version(self):
        return self.assertSucceeded(self.sync('version')).stdout.split()

    def assertUsageError(self, result, text):
        self.assertEqual(2, result.code, result)
        self.assertIn(text, result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertNotIn('Traceback', result.stderr)

    # -- global options ---------------------------------------------------

    def test_help_lists_every_command_and_exits_0(self):
        result = self.sync('--help')
        self.assertEqual(0, result.code, result)
        for name in commands.COMMANDS:
            self.assertIn(name, result.stdout)

    def test_every_command_has_help(self):
        for name in commands.COMMANDS:
            result = self.sync(name, '--help')
            self.assertEqual(0, result.code, (name, result))
            self.assertIn(f'usage: enamel-sync {name}', result.stdout)

    def test_command_help_lists_its_options(self):
        result = self.sync('upgrade', '--help')
        for option in ('--revision', '--sql', '--tag', 'REVISION'):
            self.assertIn(option, result.stdout)

    def test_revision_help_lists_data_migration(self):
        result = self.sync('revision', '--help')
        self.assertEqual(0, result.code, result)
        for text in ('--data-migration NAME', 'implies --expand',
                     'Not with --contract'):
            self.assertIn(text, ' '.join(result.stdout.split()))

    def test_version_option_prints_package_version(self):
        result = self.sync('--version')
        self.assertEqual(0, result.code, result)
        self.assertEqual(sync._version(), result.stdout.strip())

    def test_no_command_is_usage_error(self):
        self.assertUsageError(self.sync(), 'enamel-sync --help')

    def test_unknown_command_is_usage_error(self):
        self.assertUsageError(self.sync('frobnicate'), "invalid choice")

    def test_unknown_option_is_usage_error(self):
        self.assertUsageError(self.sync('upgrade', '--fast'), '--fast')

    def test_bad_format_is_usage_error(self):
        self.assertUsageError(self.sync('check', '--format', 'xml'),
                              'xml')

    # -- revision arguments -----------------------------------------------

    def test_upgrade_defaults_to_head(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.assertEqual([HEAD], self.version())

    def test_positional_revision(self):
        self.assertSucceeded(self.sync('upgrade', HEAD))
        self.assertEqual([HEAD], self.version())

    def test_revision_option(self):
        self.assertSucceeded(self.sync('upgrade', '--revision', HEAD))
        self.assertEqual([HEAD], self.version())

    def test_same_revision_both_ways_is_accepted(self):
        self.assertSucceeded(
            self.sync('upgrade', 'head', '--revision', 'head'))
        self.assertEqual([HEAD], self.version())

    def test_conflicting_revisions_are_usage_error(self):
        result = self.sync('upgrade', '+1', '--revision', 'head')
        self.assertUsageError(result, 'two different revisions given: '
                                      '+1 and head')
        self.assertEqual([], self.version())

    def test_revision_prefix_is_accepted(self):
        self.assertSucceeded(self.sync('upgrade', HEAD[:4]))
        self.assertEqual([HEAD], self.version())

    def test_relative_upgrade_and_downgrade(self):
        self.assertSucceeded(self.sync('upgrade', '+1'))
        self.assertEqual([HEAD], self.version())
        self.assertSucceeded(self.sync('downgrade', '-1'))
        self.assertEqual([], self.version())

    def test_downgrade_defaults_to_minus_one(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.assertSucceeded(self.sync('downgrade'))
        self.assertEqual([], self.version())

    def test_relative_revision_beyond_head_is_usage_error(self):
        result = self.sync('upgrade', '+2')
        self.assertUsageError(result, '+2')
        self.assertEqual([], self.version())

    def test_unknown_revision_is_usage_error(self):
        result = self.sync('upgrade', 'deadbeef')
        self.assertUsageError(result, 'deadbeef')
        self.assertEqual([], self.version())

    def test_stamp_needs_a_revision(self):
        self.assertUsageError(self.sync('stamp'), 'stamp needs a revision')

    def test_show_needs_a_revision(self):
        self.assertUsageError(self.sync('show'), 'show needs a revision')

    def test_stamp_verify_with_sql_is_usage_error(self):
        self.assertUsageError(
            self.sync('stamp', '--verify', '--sql', 'head'), '--verify')

    def test_revision_needs_a_message(self):
        self.assertUsageError(self.sync('revision'), 'needs a message')

    def test_merge_needs_a_message(self):
        self.assertUsageError(self.sync('merge', 'heads'),
                              'needs a message')

    # -- dispatch ---------------------------------------------------------

    def test_dispatch_table_matches_the_subcommands(self):
        result = self.sync('--help')
        listed = result.stdout.split('{', 1)[1].split('}', 1)[0]
        self.assertEqual(sorted(commands.COMMANDS), sorted(listed.split(',')))

    def test_results_go_to_stdout_and_progress_to_stderr(self):
        result = self.assertSucceeded(self.sync('upgrade'))
        self.assertEqual('', result.stdout)
        self.assertIn(f'Upgraded to {HEAD}', result.stderr)
        result = self.assertSucceeded(self.sync('version'))
        self.assertEqual(f'{HEAD}\n', result.stdout)
        self.assertEqual('', result.stderr)

    def test_stamp_logs_the_new_version(self):
        result = self.assertSucceeded(self.sync('stamp', 'head'))
        self.assertIn(f'Stamped {HEAD}', result.stderr)
        result = self.assertSucceeded(self.sync('stamp', 'base'))
        self.assertIn('Stamped base', result.stderr)

    def test_error_is_one_line_without_traceback(self):
        config_file = self.write_config(
            'postgresql+psycopg://enamel:s3cret@127.0.0.1:1/nowhere',
            name='unreachable.conf', connect_timeout=1)
        result = self.sync('version', config_file=config_file)
        self.assertEqual(1, result.code, result)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertIn('cannot connect', result.stderr)
        self.assertNotIn('s3cret', result.stderr)

    def test_debug_shows_the_traceback(self):
        result = self.sync('--debug', 'upgrade', 'deadbeef')
        self.assertEqual(2, result.code, result)
        self.assertIn('Traceback', result.stderr)
