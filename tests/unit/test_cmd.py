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
against an SQLite file in the test's own directory. Revision ids come
from the bundled script directory (never today's head written down), so
any history passes: linear, branched into expand and contract, merged.
"""

import dataclasses
import importlib.metadata
import io
import json
import logging
import os
import re
import subprocess
import sys

import fixtures
from oslo_config import cfg
import testtools

from enamel import conf as enamel_conf
from enamel import phases
from enamel.cmd import commands
from enamel.cmd import logs
from enamel.cmd import sync
from tests import base
from tests import synthetic


class CommandLineTest(base.SQLiteBackend, base.TestCase):

    def setUp(self):
        super().setUp()
        script = base.bundled_script()
        # What "upgrade" leaves in the version table, and the one
        # revision on base, which "+1" and a named target reach.
        self.heads = base.upgraded_version(script)
        self.first = base.first_revision(script)
        self.revisions = [r.revision for r in script.walk_revisions()]

    def version(self):
        return sorted(
            self.assertSucceeded(self.sync('version')).stdout.split())

    def unique_prefix(self, revision):
        """The shortest prefix of ``revision`` that no other revision
        starts with: alembic matches a prefix of any length."""
        for length in range(1, len(revision)):
            prefix = revision[:length]
            if [r for r in self.revisions
                    if r.startswith(prefix)] == [revision]:
                return prefix
        return revision

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

    def test_every_database_command_takes_directory(self):
        for name in commands.COMMANDS:
            if name == 'init':
                continue
            result = self.sync(name, '--help')
            self.assertIn('-d DIR, --directory DIR', result.stdout, name)

    def test_directory_that_is_no_environment_is_usage_error(self):
        self.assertUsageError(self.sync('heads', '-d', self.workdir),
                              'no env.py')
        self.assertUsageError(
            self.sync('version', '-d', os.path.join(self.workdir, 'none')),
            'is not a directory')

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

    def test_a_global_option_after_the_command_says_where_it_goes(self):
        for argv, option in ((['upgrade', '--debug'], '--debug'),
                             (['check', '--config-file=x.conf'],
                              '--config-file')):
            result = self.sync(*argv)
            self.assertUsageError(result, f'{option} is a global option: '
                                          'put it before the command')
            self.assertIn(f'enamel-sync {option} ... {argv[0]} ...',
                          result.stderr)

    def test_shell_completion_is_not_offered(self):
        # oslo.config's templates are missing from its wheels (10.7).
        self.assertNotIn('shell_completion', self.sync('--help').stdout)
        for shell in ('bash', 'zsh'):
            self.assertUsageError(self.sync('--shell_completion', shell),
                                  'unrecognized arguments: '
                                  '--shell_completion')

    def test_edit_with_an_empty_editor_says_so(self):
        for variable in ('EDITOR', 'VISUAL'):
            with fixtures.EnvironmentVariable(variable, ''):
                self.assertUsageError(
                    self.sync('edit', self.first),
                    f'{variable} is set but empty')

    def test_bad_format_is_usage_error(self):
        self.assertUsageError(self.sync('check', '--format', 'xml'),
                              'xml')

    # -- revision arguments -----------------------------------------------

    def test_upgrade_defaults_to_head(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.assertEqual(self.heads, self.version())

    def test_positional_revision(self):
        self.assertSucceeded(self.sync('upgrade', self.first))
        self.assertEqual([self.first], self.version())

    def test_revision_option(self):
        self.assertSucceeded(self.sync('upgrade', '--revision', self.first))
        self.assertEqual([self.first], self.version())

    def test_same_revision_both_ways_is_accepted(self):
        self.assertSucceeded(
            self.sync('upgrade', 'heads', '--revision', 'heads'))
        self.assertEqual(self.heads, self.version())

    def test_conflicting_revisions_are_usage_error(self):
        result = self.sync('upgrade', '+1', '--revision', 'head')
        self.assertUsageError(result, 'two different revisions given: '
                                      '+1 and head')
        self.assertEqual([], self.version())

    def test_revision_prefix_is_accepted(self):
        self.assertSucceeded(
            self.sync('upgrade', self.unique_prefix(self.first)))
        self.assertEqual([self.first], self.version())

    def test_unknown_short_revision_says_what_a_prefix_is(self):
        # alembic hints "at least four characters" for an unknown short
        # id, yet matches a unique prefix of any length (as above).
        unknown = next(a + b for a in '0123456789abcdef'
                       for b in '0123456789abcdef'
                       if not any(r.startswith(a + b)
                                  for r in self.revisions))
        result = self.sync('upgrade', unknown)
        self.assertUsageError(result, f"No such revision or branch "
                                      f"'{unknown}' (a revision is named by "
                                      "its id or any prefix of it")
        self.assertNotIn('four characters', result.stderr)

    def test_relative_upgrade_and_downgrade(self):
        self.assertSucceeded(self.sync('upgrade', '+1'))
        self.assertEqual([self.first], self.version())
        self.assertSucceeded(self.sync('downgrade', '-1'))
        self.assertEqual([], self.version())

    def test_downgrade_defaults_to_minus_one(self):
        self.assertSucceeded(self.sync('upgrade', self.first))
        self.assertSucceeded(self.sync('downgrade'))
        self.assertEqual([], self.version())

    def test_relative_revision_beyond_head_is_usage_error(self):
        self.assertSucceeded(self.sync('upgrade', 'heads'))
        result = self.sync('upgrade', '+1')
        self.assertUsageError(result, '+1')
        self.assertEqual(self.heads, self.version())

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
        for revision in self.revisions:
            self.assertIn(f'Upgraded to {revision} ', result.stderr)
        result = self.assertSucceeded(self.sync('version'))
        self.assertEqual(self.heads, sorted(result.stdout.splitlines()))
        self.assertEqual('', result.stderr)

    def test_stamp_logs_the_new_version(self):
        result = self.assertSucceeded(self.sync('stamp', 'heads'))
        for head in self.heads:
            self.assertIn(f'Stamped {head}', result.stderr)
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


class ConfigurationTrustTest(base.TestCase):
    """A configuration given is trusted only when it configures
    something; the SQLite default only when none is given at all."""

    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def assertRefused(self, result, *texts):
        self.assertEqual(1, result.code, result)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        for text in texts:
            self.assertIn(text, result.stderr)
        # Nothing migrated in the working directory instead.
        self.assertEqual([], [n for n in os.listdir(self.workdir)
                              if n.startswith('enamel.sqlite')])

    def test_a_misspelt_section_is_refused_with_the_close_name(self):
        path = self.write('svc.conf', '[databse]\nconnection = sqlite:///'
                                      f'{self.workdir}/real.sqlite\n')
        result = self.sync('upgrade', config_file=path)
        self.assertRefused(result, '[database] connection is not set',
                           path, 'did you mean [database]?')
        self.assertFalse(os.path.exists(f'{self.workdir}/real.sqlite'))

    def test_a_misspelt_option_is_refused_with_the_close_name(self):
        path = self.write('svc.conf', '[database]\nconection = sqlite:///'
                                      f'{self.workdir}/real.sqlite\n')
        self.assertRefused(self.sync('check', config_file=path),
                           path, 'conection', 'did you mean connection?')

    def test_a_config_dir_without_a_connection_names_its_files(self):
        directory = os.path.join(self.workdir, 'enamel.conf.d')
        os.mkdir(directory)
        first = self.write('enamel.conf.d/10-db.conf', '[DEFAULT]\n')
        second = self.write('enamel.conf.d/20-other.conf', '[keystone]\n')
        result = self.sync('--config-dir', directory, 'version')
        self.assertRefused(result, f'{first}, {second}')

    def test_a_typo_beside_a_connection_is_a_warning(self):
        url = f'sqlite:///{self.workdir}/real.sqlite'
        path = self.write('svc.conf', f'[database]\nconnection = {url}\n'
                                      'connect_timout = 3\n'
                                      '[keystone_authtoken]\nauth_url = x\n')
        result = self.assertSucceeded(self.sync('upgrade',
                                                config_file=path))
        self.assertIn('warning: ', result.stderr)
        self.assertIn('connect_timout', result.stderr)
        self.assertIn('did you mean connect_timeout?', result.stderr)
        # A section of the service's own, far from any enamel-sync name.
        self.assertNotIn('keystone_authtoken', result.stderr)
        self.assertTrue(os.path.exists(f'{self.workdir}/real.sqlite'))

    def test_the_environment_configures_the_connection(self):
        url = f'sqlite:///{self.workdir}/real.sqlite'
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_DATABASE__CONNECTION', url))
        path = self.write('svc.conf', '[DEFAULT]\n')
        self.assertSucceeded(self.sync('upgrade', config_file=path))
        self.assertTrue(os.path.exists(f'{self.workdir}/real.sqlite'))

    def test_no_configuration_at_all_uses_the_sqlite_default(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.assertTrue(os.path.exists(
            os.path.join(self.workdir, 'enamel.sqlite')))

    def test_reading_a_missing_sqlite_file_says_so(self):
        path = os.path.join(self.workdir, 'typo.sqlite')
        config = self.write('svc.conf', f'[database]\nconnection = '
                                        f'sqlite:///{path}\n')
        for command, code in (('check', 3), ('version', 0),
                              ('current', 0)):
            result = self.sync(command, config_file=config)
            self.assertEqual(code, result.code, result)
            self.assertIn(f'the SQLite database file {path} does not exist',
                          result.stderr)
        self.assertFalse(os.path.exists(path))


class EntryPointTest(base.SQLiteBackend, base.TestCase):
    """``python -m enamel`` and ``python -m enamel.cmd.sync`` are the
    console script."""

    def run_module(self, module, *argv):
        process = subprocess.run(
            [sys.executable, '-m', module, '--config-file',
             self.config_file] + list(argv),
            cwd=self.workdir, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=120)
        return base.Result(process.returncode, process.stdout,
                           process.stderr)

    def test_python_m_enamel_runs_the_commands(self):
        for module in ('enamel', 'enamel.cmd.sync'):
            self.assertSucceeded(self.run_module(module, 'upgrade'))
            version = self.assertSucceeded(self.run_module(module, 'version'))
            self.assertEqual(
                base.upgraded_version(base.bundled_script()),
                sorted(version.stdout.split()))
            self.assertEqual(2, self.run_module(module, 'frobnicate').code)
            self.assertSucceeded(self.run_module(module, 'downgrade', 'base'))


# A child that sends itself ``signal`` while Python imports the command
# line (when the import system first looks for SQLAlchemy, which enamel's
# console entry point does not import), then runs the entry point.
SIGNAL_WHILE_STARTING = """
import os, signal, sys

class Hook:
    def find_spec(self, name, path=None, target=None):
        if name == 'sqlalchemy':
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{signal})
        return None

sys.meta_path.insert(0, Hook())
sys.argv = ['enamel-sync', 'version']
from enamel.cmd import console
sys.exit(console.main())
"""


class StartingTest(testtools.TestCase):
    """The console script imports the command line with SIGTERM and SIGINT
    handled: a signal during that import is one line and the signal's
    exit code, never a traceback (SIGINT) or a silent death (SIGTERM)."""

    def test_a_signal_while_starting_is_one_line_and_its_exit_code(self):
        for name, code, word in (('SIGINT', 130, 'interrupted'),
                                 ('SIGTERM', 143, 'terminated')):
            process = subprocess.run(
                [sys.executable, '-c',
                 SIGNAL_WHILE_STARTING.format(signal=name)],
                cwd=base.REPO_ROOT, capture_output=True, text=True,
                stdin=subprocess.DEVNULL, timeout=120,
                env=dict(os.environ, PYTHONPATH=base.REPO_ROOT))
            self.assertEqual(code, process.returncode, process.stderr)
            self.assertEqual(
                f'enamel-sync: error: {word} while starting; nothing was '
                'done\n', process.stderr)
            self.assertEqual('', process.stdout)

    def test_the_console_script_is_the_entry_point_that_handles_them(self):
        scripts = importlib.metadata.entry_points(
            group='console_scripts', name='enamel-sync')
        self.assertEqual(['enamel.cmd.console:main'],
                         [script.value for script in scripts])


class LoggingTest(base.SQLiteBackend, base.TestCase):
    """oslo.log's options, set up as nova-manage and keystone-manage do;
    results stay on stdout and progress on stderr whatever they say."""

    def test_log_file_gets_the_records_and_stderr_keeps_progress(self):
        log_file = os.path.join(self.workdir, 'enamel-sync.log')
        result = self.assertSucceeded(
            self.sync('--log-file', log_file, 'upgrade'))
        self.assertIn('Upgraded to ', result.stderr)
        with open(log_file) as f:
            logged = f.read()
        self.assertIn('Upgraded to ', logged)
        self.assertIn('Running upgrade', logged)  # alembic's, INFO
        version = self.assertSucceeded(
            self.sync('--log-file', log_file, 'version'))
        self.assertEqual(base.upgraded_version(base.bundled_script()),
                         sorted(version.stdout.split()))

    def test_log_options_from_the_config_file(self):
        log_dir = os.path.join(self.workdir, 'logs')
        os.mkdir(log_dir)
        with open(self.config_file, 'a') as f:
            f.write(f'[DEFAULT]\nlog_dir = {log_dir}\n'
                    'log_file = enamel-sync.log\n')
        result = self.assertSucceeded(self.sync('upgrade'))
        self.assertNotIn('warning', result.stderr)
        with open(os.path.join(log_dir, 'enamel-sync.log')) as f:
            self.assertIn('Upgraded to ', f.read())

    def test_syslog_never_writes_to_stdout(self):
        # With no log file, oslo.log's setup() adds a stdout handler.
        self.assertSucceeded(self.sync('upgrade'))
        result = self.assertSucceeded(self.sync('--use-syslog', 'version'))
        self.assertEqual(base.upgraded_version(base.bundled_script()),
                         sorted(result.stdout.split()))

    def test_debug_is_not_sql_echo(self):
        result = self.assertSucceeded(self.sync('--debug', 'upgrade'))
        self.assertIn('DEBUG', result.stderr)
        self.assertNotIn('PRAGMA', result.stderr)
        self.assertNotIn('CREATE TABLE', result.stderr)

    def test_connection_debug_echoes_sql(self):
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_DATABASE__CONNECTION_DEBUG', '50'))
        result = self.assertSucceeded(self.sync('upgrade'))
        self.assertIn('CREATE TABLE', result.stderr)
        self.assertIn('Upgraded to ', result.stderr)

    def test_quiet_keeps_only_warnings_and_errors(self):
        result = self.assertSucceeded(self.sync('--quiet', 'upgrade'))
        self.assertEqual('', result.stderr)
        self.assertNotEqual([], self.version())
        error = self.sync('-q', 'upgrade', 'deadbeef')
        self.assertEqual(2, error.code, error)
        self.assertIn('deadbeef', error.stderr)

    def version(self):
        return self.assertSucceeded(self.sync('version')).stdout.split()

    def test_the_private_options_module_matches_oslo_log(self):
        # Canary: enamel.cmd.logs registers oslo.log's options from
        # oslo_log._options (importing oslo_log.log costs more than a
        # no-op version); they must be what oslo.log registers itself.
        from oslo_log import log as oslo_logging
        self.addCleanup(logs.restore, logs.snapshot())
        light, full = cfg.ConfigOpts(), cfg.ConfigOpts()
        logs.register_opts(light)
        oslo_logging.register_options(full)
        self.assertEqual(sorted(full), sorted(light))
        for name in logs.DESTINATIONS:
            if name != 'use_eventlog':  # gone from newer oslo.log
                self.assertIn(name, light)


class StderrLogTest(base.TestCase):
    """Without --debug, stderr gets plain lines: no traceback, and none
    of SQLAlchemy's pool's errors about a connection it discards (a
    restarted server's, which the command's own error reports)."""

    def stderr_after(self, *argv):
        self.addCleanup(logs.restore, logs.snapshot())
        conf = cfg.ConfigOpts()
        enamel_conf.register_opts(conf)
        logs.register_opts(conf)
        conf.register_cli_opt(cfg.BoolOpt('quiet', default=False))
        conf(list(argv), default_config_files=[])
        stream = io.StringIO()
        logs.setup(conf, stream)
        try:
            raise RuntimeError('lost connection')
        except RuntimeError:
            logging.getLogger('sqlalchemy.pool.impl.QueuePool').error(
                'Exception during reset or similar', exc_info=True)
            logging.getLogger('enamel.lock').warning(
                'Could not release the migration lock', exc_info=True)
        return stream.getvalue()

    def test_no_traceback_and_no_pool_errors_without_debug(self):
        self.assertEqual('Could not release the migration lock\n',
                         self.stderr_after())

    def test_debug_shows_both_with_their_tracebacks(self):
        stderr = self.stderr_after('--debug')
        self.assertIn('Exception during reset or similar', stderr)
        self.assertIn('Could not release the migration lock', stderr)
        self.assertEqual(2, stderr.count('Traceback'), stderr)


class InterruptTest(base.SQLiteBackend, base.ScratchEnvironment,
                    base.TestCase):
    """Ctrl-C while a revision runs names the revision."""

    def test_the_interrupted_revision_is_named(self):
        script = base.bundled_script()
        self.assertSucceeded(self.run_sync('upgrade', 'heads'))
        synthetic.write_revision(
            self.versions, 'c7c7c7c7c7c7', base.tip(script),
            'interrupted here', '    raise KeyboardInterrupt()', '    pass')
        result = self.run_sync('upgrade', 'heads')
        self.assertEqual(130, result.code, result)
        self.assertTrue(result.stderr.startswith(
            'enamel-sync: error: interrupted'), result)
        self.assertIn('revision c7c7c7c7c7c7', result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertNotIn('Traceback', result.stderr)
        version = self.run_sync('version').stdout.split()
        self.assertNotIn('c7c7c7c7c7c7', version)
        self.assertEqual(base.upgraded_version(script), sorted(version))


class CheckOutputTest(base.SQLiteBackend, base.TestCase):
    """check's text: one difference per line, grouped by table, in the
    same order on every run."""

    def test_the_cli_reference_names_every_key_of_the_json_report(self):
        report = json.loads(self.sync('check', '--format', 'json').stdout)
        keys = set(report) | {
            f.name for f in dataclasses.fields(phases.Pending)}
        path = os.path.join(base.REPO_ROOT, 'doc', 'source', 'reference',
                            'cli.rst')
        with open(path) as f:
            text = f.read()
        start = text.index('``json``: an object with ``state``')
        documented = set(re.findall(
            r'``(\w+)``', text[start:text.index('``schema-dump``', start)]))
        self.assertEqual(set(), keys - documented)

    def test_differences_one_per_line_grouped_by_table(self):
        self.assertSucceeded(self.sync('upgrade'))
        with self.engine.begin() as connection:
            for statement in (
                    'ALTER TABLE task_items ADD COLUMN zeta INTEGER',
                    'ALTER TABLE tasks ADD COLUMN beta INTEGER',
                    'ALTER TABLE tasks ADD COLUMN alpha INTEGER',
                    'CREATE INDEX ix_extra ON task_items (zeta)'):
                connection.exec_driver_sql(statement)
        first = self.sync('check')
        self.assertEqual(4, first.code, first)
        lines = first.stdout.splitlines()[1:]
        self.assertEqual([
            '  table task_items:',
            '    remove_column task_items.zeta',
            '    remove_index task_items.ix_extra',
            '  table tasks:',
            '    remove_column tasks.alpha',
            '    remove_column tasks.beta',
        ], lines)
        for _ in range(3):
            self.assertEqual(first.stdout, self.sync('check').stdout)
        report = self.sync('check', '--format', 'json')
        self.assertEqual([line.strip() for line in lines
                          if not line.startswith('  table ')],
                         json.loads(report.stdout)['differences'])
