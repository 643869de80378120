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

"""Every kind of bad input, as a table: the exit code, one line on stderr,
no traceback, never the password, and nothing changed.

Each row runs ``main([...])`` in-process twice, without and with
``--debug`` (which shows tracebacks by design, but still no password).
Rows that need a process of their own (a scratch history; file
permissions, which root ignores unless it gives up its capabilities) run
the installed console script.
"""

import collections
import os
import re
import shutil
import socket
import subprocess

import sqlalchemy as sa

from tests import base
from tests import synthetic

PASSWORD = 'Pw-7c1e-NeverPrinted'
USAGE = 2
ERROR = 1

Row = collections.namedtuple('Row', 'name argv config code expected')


def closed_port():
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class SilentServer:
    """Accepts TCP connections and never says a word: an unresponsive
    database server, to prove that connect_timeout bounds the wait."""

    def __init__(self, test):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        test.addCleanup(self.sock.close)


class BadInputTests:

    def setUp(self):
        super().setUp()
        # A database with something in it, to show that nothing changes.
        self.assertSucceeded(self.sync('upgrade'))
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO tasks (id, uuid, action, state, created_at) "
                "VALUES (1, 'keep-me', 'keep', 'new', '2025-01-01')"))

    def state(self):
        with self.engine.connect() as connection:
            inspector = sa.inspect(connection)
            return (
                sorted(inspector.get_table_names()),
                list(connection.execute(sa.text(
                    'SELECT version_num FROM alembic_version')).scalars()),
                list(connection.execute(sa.text(
                    'SELECT id, uuid, action, state FROM tasks')).all()),
            )

    def url_with(self, **parts):
        return sa.engine.make_url(self.url).set(**parts).render_as_string(
            hide_password=False)

    @staticmethod
    def url_with_query_password(url, password):
        """``url`` with its password as ``?password=`` instead."""
        url = sa.engine.make_url(url)
        return sa.engine.URL.create(
            url.drivername, url.username, None, url.host, url.port,
            url.database, dict(url.query, password=password)
        ).render_as_string(hide_password=False)

    def rows(self):
        refused = closed_port()
        row_conf = os.path.join(self.workdir, 'row.conf')
        return [
            Row('unknown command', ['frobnicate'], None, USAGE,
                "invalid choice: 'frobnicate'"),
            Row('unknown option', ['upgrade', '--frobnicate'], None, USAGE,
                'unrecognized arguments: --frobnicate'),
            Row('unknown option value', ['version', '--format', 'xml'],
                None, USAGE, "invalid choice: 'xml'"),
            Row('unknown revision', ['upgrade', '0123456789ab'], None, USAGE,
                '0123456789ab'),
            Row('unknown revision downgrade', ['downgrade', 'nosuchrev'],
                None, USAGE, 'nosuchrev'),
            Row('unknown relative revision', ['downgrade', '-5'], None,
                USAGE, 'Relative revision -5 didn'),
            Row('two revisions', ['upgrade', 'head', '--revision', 'base'],
                None, USAGE, 'two different revisions given'),
            Row('stamp without revision', ['stamp'], None, USAGE,
                'stamp needs a revision'),
            Row('empty message', ['revision', '-m', ''], None, USAGE,
                'revision needs a message'),
            Row('blank message', ['revision', '-m', '   '], None, USAGE,
                'revision needs a message'),
            Row('no message', ['revision', '--autogenerate'], None, USAGE,
                'revision needs a message'),
            Row('merge without message', ['merge', 'heads'], None, USAGE,
                'merge needs a message'),
            Row('missing config file', ['upgrade'],
                os.path.join(self.workdir, 'no-such.conf'), ERROR,
                'Failed to find some config files'),
            Row('malformed config file', ['upgrade'], 'garbage [[[\n',
                ERROR, 'Failed to parse'),
            Row('unterminated section', ['upgrade'], '[database\n', ERROR,
                'Invalid section'),
            Row('invalid option value', ['upgrade'],
                {'connection': self.url, 'migration_lock_timeout': 'soon'},
                ERROR, '[database] migration_lock_timeout (in '
                f'{row_conf}) is not valid: expected an integer >= 0'),
            # oslo.config converts a value when it is read: every command
            # reads them all, not only those that use the option.
            Row('invalid option value: version', ['version'],
                {'connection': self.url, 'migration_lock_timeout': 'soon'},
                ERROR, '[database] migration_lock_timeout (in '
                f'{row_conf}) is not valid: expected an integer >= 0'),
            Row('negative timeout', ['version'],
                {'connection': self.url, 'connect_timeout': -5},
                ERROR, '[database] connect_timeout (in '
                f'{row_conf}) is not valid: expected an integer >= 1'),
            Row('unknown sub-command option value',
                ['lint', '--dialect', 'oracle'], None, USAGE,
                "argument --dialect: invalid choice: 'oracle'"),
            Row('unknown check format', ['check', '--format', 'xml'], None,
                USAGE, "argument --format: invalid choice: 'xml'"),
            Row('not a URL', ['upgrade'], {'connection': 'not a url'}, ERROR,
                'is not a valid SQLAlchemy URL'),
            Row('empty connection: check', ['check'], {'connection': ''},
                ERROR, '[database] connection is not set'),
            Row('empty connection: upgrade', ['upgrade'],
                {'connection': ''}, ERROR,
                '[database] connection is not set'),
            Row('an "@" in the password not escaped', ['check'], {
                'connection':
                    f'mysql+pymysql://enamel:{PASSWORD}@x@127.0.0.1:1/x'},
                ERROR, 'more than one "@"'),
            Row('missing config directory',
                ['--config-dir', os.path.join(self.workdir, 'no-such-dir'),
                 'check'], None, ERROR,
                'configuration error: Failed to read config file directory'),
            Row('offline range without its start', ['upgrade', '--sql',
                                                    ':head'],
                None, USAGE, 'a range needs both ends'),
            Row('bad port in URL', ['upgrade'], {
                'connection':
                    f'mysql+pymysql://enamel:{PASSWORD}@127.0.0.1:port/x'},
                ERROR, 'is not a valid SQLAlchemy URL'),
            Row('unknown dialect', ['upgrade'], {
                'connection': f'nosuchdb://enamel:{PASSWORD}@127.0.0.1/x'},
                ERROR, "unknown database dialect 'nosuchdb'"),
            Row('missing PostgreSQL driver', ['upgrade'], {
                'connection':
                    f'postgresql+pg8000://enamel:{PASSWORD}@127.0.0.1/x'},
                ERROR, "driver for 'postgresql+pg8000' is not installed"),
            Row('missing MySQL driver', ['upgrade'], {
                'connection':
                    f'mysql+mysqldb://enamel:{PASSWORD}@127.0.0.1/x'},
                ERROR, "driver for 'mysql+mysqldb' is not installed"),
            Row('a password as a query parameter', ['upgrade'], {
                'connection': f'{self.server_driver()}://enamel@127.0.0.1:'
                              f'{refused}/enamel?password={PASSWORD}',
                'connect_timeout': 1},
                ERROR, 'cannot connect to the database'),
            Row('libpq keywords with a password', ['upgrade'], {
                'connection': 'postgresql+psycopg:///enamel?host=127.0.0.1&'
                              f'port={refused}&user=enamel&'
                              f'password={PASSWORD}',
                'connect_timeout': 1},
                ERROR, 'cannot connect to the database'),
            Row('a password given twice', ['check'], {
                'connection': f'mysql+pymysql://enamel:x@127.0.0.1:1/x?'
                              f'passwd={PASSWORD}'},
                ERROR, 'gives the password more than once'),
            Row('closed port', ['upgrade'], {
                'connection': f'{self.server_driver()}://enamel:{PASSWORD}'
                              f'@127.0.0.1:{refused}/enamel',
                'connect_timeout': 1},
                ERROR, 'cannot connect to the database'),
        ] + self.engine_rows()

    def server_driver(self):
        return {'mysql': 'mysql+pymysql',
                'postgresql': 'postgresql+psycopg'}.get(
                    self.BACKEND, 'mysql+pymysql')

    def engine_rows(self):
        return []

    def server_rows(self, password_user=None):
        """Rows for a real server: it does not answer, refuses the
        password, or has no such database.

        :param password_user: a user the server asks for a password, where
            it trusts the test user without one.
        """
        silent = SilentServer(self)
        wrong_password = self.url_with(password=PASSWORD)
        if password_user:
            wrong_password = self.url_with(
                password=PASSWORD, username=password_user, host='127.0.0.1')
        return [
            Row('server never answers', ['upgrade'], {
                'connection': self.url_with(password=PASSWORD,
                                            port=silent.port),
                'connect_timeout': 1},
                ERROR, 'cannot connect to the database'),
            Row('wrong password', ['upgrade'], {
                'connection': wrong_password}, ERROR,
                self.REFUSED_PASSWORD),
            Row('wrong password as a query parameter', ['upgrade'], {
                'connection': self.url_with_query_password(
                    wrong_password, PASSWORD)}, ERROR,
                self.REFUSED_PASSWORD),
            Row('missing database', ['upgrade'], {
                'connection': self.url_with(
                    password=PASSWORD, database='enamel_no_such_database')},
                ERROR, 'enamel_no_such_database'),
        ]

    def config_for(self, row):
        if row.config is None:
            return self.config_file
        if isinstance(row.config, dict):
            return self.write_config(name='row.conf', **row.config)
        if row.config.startswith(self.workdir):
            return row.config  # a path
        path = os.path.join(self.workdir, 'row.conf')
        with open(path, 'w') as f:
            f.write(row.config)
        return path

    def assert_refused(self, row, result, debug=False):
        where = f'{row.name}{" with --debug" if debug else ""}: {result}'
        self.assertEqual(row.code, result.code, where)
        self.assertNotIn(PASSWORD, result.stdout + result.stderr, where)
        self.assertEqual('', result.stdout, where)
        # Also where argparse would name the sub-command ("enamel-sync
        # lint: error:"): every error line starts the same way.
        errors = [line for line in result.stderr.splitlines()
                  if re.match(r'enamel-sync: error: ', line)]
        self.assertEqual(1, len(errors), where)
        self.assertIn(row.expected, errors[0], where)
        if not debug:
            self.assertEqual(errors[0] + '\n', result.stderr, where)
            self.assertNotIn('Traceback', result.stderr, where)

    def test_every_bad_input(self):
        before = self.state()
        for row in self.rows():
            config_file = self.config_for(row)
            result = self.sync(*row.argv, config_file=config_file)
            self.assert_refused(row, result)
            result = self.sync('--debug', *row.argv, config_file=config_file)
            self.assert_refused(row, result, debug=True)
            self.assertEqual(before, self.state(), row.name)

    def test_invalid_boolean_in_a_file_is_a_configuration_error(self):
        path = os.path.join(self.workdir, 'debug.conf')
        with open(path, 'w') as f:
            f.write(f'[DEFAULT]\ndebug = maybe\n[database]\n'
                    f'connection = {self.url}\n')
        result = self.sync('version', config_file=path)
        self.assertEqual(ERROR, result.code, result)
        self.assertEqual(
            f'enamel-sync: error: configuration error: [DEFAULT] debug (in '
            f'{path}) is not valid: expected a boolean (true or false)\n',
            result.stderr)

    def test_invalid_value_in_the_environment_names_the_variable(self):
        result = self.sync_process(
            'version', env={'OS_DATABASE__MIGRATION_LOCK_TIMEOUT': 'abc'})
        self.assertEqual(ERROR, result.code, result)
        self.assertEqual(
            'enamel-sync: error: configuration error: [database] '
            'migration_lock_timeout (from the environment variable '
            'OS_DATABASE__MIGRATION_LOCK_TIMEOUT) is not valid: expected '
            'an integer >= 0\n', result.stderr)

    def test_dollar_in_password_names_the_option_never_the_value(self):
        # oslo.config reads "$zq7Wx" as a reference to an option.
        config_file = self.write_config(
            'mysql+pymysql://hunt:Pa$zq7Wx@127.0.0.1:3306/hunt',
            name='dollar.conf')
        before = self.state()
        for argv in (['upgrade'], ['--debug', 'upgrade'], ['version'],
                     ['--debug', 'check'], ['upgrade', '--sql']):
            result = self.sync(*argv, config_file=config_file)
            self.assertEqual(ERROR, result.code, (argv, result))
            for part in ('zq7Wx', 'Pa$', 'hunt'):
                self.assertNotIn(part, result.stdout + result.stderr,
                                 (argv, result))
            self.assertEqual('', result.stdout, argv)
            line, = result.stderr.splitlines()
            self.assertIn('configuration error: [database] connection', line)
            self.assertIn('"$$"', line)
        self.assertEqual(before, self.state())

    def test_ambiguous_revision(self):
        env = self.scratch_environment()
        versions = os.path.join(self.workdir, 'scratch',
                                'alembic_migrations', 'versions')
        synthetic.write_history(versions, 2, self.state()[1][0])
        before = self.state()
        # 5e0000000001 and 5e0000000002 share this prefix.
        row = Row('ambiguous revision', ['upgrade', '5e00000000'], None,
                  USAGE, "Multiple revisions start with '5e00000000'")
        result = self.sync_process(*row.argv, env=env)
        self.assert_refused(row, result)
        self.assertEqual(before, self.state())


def without_privileges(argv):
    """Run as the current user, but if that is root, without the
    capabilities that let root ignore file permissions."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which('setpriv')
    assert setpriv, 'running as root needs setpriv (util-linux) here'
    return [setpriv, '--bounding-set', '-all', '--inh-caps', '-all'] + argv


class BadInputSQLite(BadInputTests, base.SQLiteBackend, base.TestCase):

    def run_unprivileged(self, *argv, config_file):
        args = without_privileges(
            [base.enamel_sync_executable(), '--config-file', config_file] +
            list(argv))
        env = dict(os.environ, HOME=self.workdir)
        env.pop('OS_DATABASE__CONNECTION', None)
        process = subprocess.run(
            args, cwd=self.workdir, env=env, text=True,
            stdin=subprocess.DEVNULL, capture_output=True,
            timeout=120)
        return base.Result(process.returncode, process.stdout,
                           process.stderr)

    def test_unreadable_config_file(self):
        config_file = self.write_config(self.url, name='secret.conf')
        os.chmod(config_file, 0)
        before = self.state()
        result = self.run_unprivileged('upgrade', config_file=config_file)
        self.assert_refused(
            Row('unreadable config file', ['upgrade'], config_file, ERROR,
                'Failed to open some config files'), result)
        self.assertEqual(before, self.state())

    def test_read_only_sqlite_location(self):
        readonly = os.path.join(self.workdir, 'readonly')
        os.mkdir(readonly)
        os.chmod(readonly, 0o555)
        self.addCleanup(os.chmod, readonly, 0o755)
        database = os.path.join(readonly, 'enamel.sqlite')
        config_file = self.write_config(f'sqlite:///{database}',
                                        name='readonly.conf')
        result = self.run_unprivileged('upgrade', config_file=config_file)
        self.assert_refused(
            Row('read-only location', ['upgrade'], config_file, ERROR,
                'unable to open database file'), result)
        self.assertEqual([], os.listdir(readonly))


class BadInputMySQL(BadInputTests, base.MySQLBackend, base.TestCase):

    REFUSED_PASSWORD = 'Access denied for user'

    def engine_rows(self):
        return self.server_rows()

    def test_a_password_in_the_query_connects_and_is_hidden(self):
        # The server asks the test user for its password: it connects,
        # so the password reached the driver; alembic's "current -v"
        # prints the URL with the password hidden, not the query.
        url = sa.engine.make_url(self.url)
        config_file = self.write_config(
            self.url_with_query_password(self.url, url.password),
            name='query.conf')
        result = self.assertSucceeded(
            self.sync('current', '-v', config_file=config_file))
        self.assertIn(f'{url.username}:***@', result.stdout)
        self.assertNotIn('password=', result.stdout + result.stderr)


class BadInputPostgreSQL(BadInputTests, base.PostgreSQLBackend,
                         base.TestCase):

    REFUSED_PASSWORD = 'password authentication failed'

    def engine_rows(self):
        # The test server trusts local connections; tools/test-setup.sh
        # makes it ask this one role for its password.
        self.require_role('openstack_citest_pw')
        return self.server_rows(password_user='openstack_citest_pw')
