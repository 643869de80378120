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

"""Two databases, main and api, in one run of enamel-sync.

Each layout is run on every engine: the main database on the test's
engine with the API database on an SQLite file (two engines in one run),
the reverse (main on an SQLite file, api on the server), and both in one
and the same server database or SQLite file (their version tables, models
and locks must keep apart).
"""

import contextlib
import glob
import json
import os
import subprocess
import sys

import sqlalchemy as sa

from enamel import conf as enamel_conf
from enamel import databases
from enamel import lock
from enamel import migration
from tests import base
from tests.functional import test_commands

MAIN_TABLES = {'tasks', 'task_items'}
API_TABLES = {'quotas'}


def api_head():
    """The head revision of the API database's revisions."""
    (revision,) = base.upgraded_version(base.bundled_script('api'))
    return revision


class TwoDatabasesTests:
    """Needs ``main_url``/``main_engine`` and ``api_url``/``api_engine``
    from a layout below."""

    def setUp(self):
        super().setUp()
        self.layout()
        self.config_file = self.write_two(self.main_url, self.api_url)

    def write_two(self, main_url, api_url, **both):
        """A config file with both connections, and ``both`` (options)
        in both groups."""
        path = os.path.join(self.workdir, 'two.conf')
        lines = []
        for group, url in (('database', main_url),
                           ('api_database', api_url)):
            lines += [f'[{group}]', f'connection = {url}']
            lines.extend(f'{k} = {v}' for k, v in both.items())
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def tables_of(self, engine):
        return set(sa.inspect(engine).get_table_names())

    def version_of(self, engine, table):
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(table):
                return []
            return list(connection.execute(sa.text(
                f'SELECT version_num FROM {table}')).scalars())

    def main_version(self):
        return self.version_of(self.main_engine, 'alembic_version')

    def api_version(self):
        return self.version_of(self.api_engine, 'alembic_version_api')

    def execute(self, engine, statement):
        with engine.begin() as connection:
            connection.execute(sa.text(statement))

    def check(self, *args):
        result = self.sync('check', '--format', 'json', *args)
        report = json.loads(result.stdout)
        return result, report

    # -- every command over both ------------------------------------------

    def test_migrate_compares_each_database_with_its_own_models(self):
        # A scratch copy of the environment: each database's revision is
        # written to its own versions directory there.
        env = self.scratch_environment()
        self.assertSucceeded(self.sync('upgrade'))
        self.execute(self.main_engine,
                     'ALTER TABLE tasks ADD COLUMN main_extra INTEGER')
        self.execute(self.api_engine,
                     'ALTER TABLE quotas ADD COLUMN api_extra INTEGER')

        result = self.assertSucceeded(self.sync_process(
            'migrate', '-m', 'drop extras', env=env))

        paths = dict(line.split(' ', 1)
                     for line in result.stdout.splitlines())
        self.assertEqual({'[main]', '[api]'}, set(paths))
        root = os.path.join(env['PYTHONPATH'], 'alembic_migrations')
        self.assertEqual(os.path.join(root, 'versions'),
                         os.path.dirname(paths['[main]']))
        self.assertEqual(os.path.join(root, 'api_versions'),
                         os.path.dirname(paths['[api]']))
        for name, column in (('[main]', 'main_extra'),
                             ('[api]', 'api_extra')):
            with open(paths[name]) as f:
                text = f.read()
            self.assertIn(f"'{column}'", text, name)
            other = 'api_extra' if column == 'main_extra' else 'main_extra'
            self.assertNotIn(other, text, name)

    def test_upgrade_migrates_both_in_order_and_says_which(self):
        result = self.assertSucceeded(self.sync('upgrade'))
        lines = result.stderr.splitlines()
        self.assertEqual(
            [f'[main] Upgraded to {test_commands.head()} (create tasks '
             'and task items)',
             f'[api] Upgraded to {api_head()} (create quotas)'],
            [line.rsplit(' in ', 1)[0] for line in lines], result)
        self.assertEqual([test_commands.head()], self.main_version())
        self.assertEqual([api_head()], self.api_version())
        self.assertLessEqual(MAIN_TABLES, self.tables_of(self.main_engine))
        self.assertLessEqual(API_TABLES, self.tables_of(self.api_engine))
        if self.main_url != self.api_url:
            self.assertEqual(set(), API_TABLES & self.tables_of(
                self.main_engine))
            self.assertEqual(set(), MAIN_TABLES & self.tables_of(
                self.api_engine))

        version = self.assertSucceeded(self.sync('version'))
        self.assertEqual(f'[main] {test_commands.head()}\n'
                         f'[api] {api_head()}\n', version.stdout)
        self.assertEqual({'databases': {
            'main': {'current': [test_commands.head()]},
            'api': {'current': [api_head()]}}}, json.loads(self.sync(
                'version', '--format', 'json').stdout))
        again = self.assertSucceeded(self.sync('upgrade'))
        self.assertIn('[api] Nothing to do: the database is at '
                      f'{api_head()}', again.stderr)

        result, report = self.check()
        self.assertEqual(0, result.code, result)
        self.assertEqual({'main', 'api'}, set(report['databases']))
        self.assertEqual(0, report['exit_code'])
        self.assertEqual('at_head', report['databases']['api']['state'])
        self.assertEqual([api_head()],
                         report['databases']['api']['heads'])
        text = self.sync('check')
        self.assertEqual(
            f'[main] at head {test_commands.head()}; the schema matches '
            f'the models\n[api] at head {api_head()}; the schema matches '
            'the models\n', text.stdout)

    def test_database_option_picks_one(self):
        result = self.assertSucceeded(
            self.sync('upgrade', '--database', 'api'))
        self.assertIn(f'Upgraded to {api_head()}', result.stderr)
        self.assertNotIn('[api]', result.stderr)
        self.assertEqual([], self.main_version())
        self.assertEqual([api_head()], self.api_version())
        self.assertEqual(f'{api_head()}\n', self.assertSucceeded(
            self.sync('version', '--database', 'api')).stdout)
        self.assertEqual(0, self.sync('check', '--database', 'api').code)
        # main is still empty: upgrade pending.
        result, report = self.check()
        self.assertEqual(3, result.code, result)
        self.assertEqual('upgrade_pending',
                         report['databases']['main']['state'])

        self.assertSucceeded(self.sync('upgrade'))
        self.assertSucceeded(self.sync('downgrade', 'base',
                                       '--database', 'main'))
        self.assertEqual([], self.main_version())
        self.assertEqual([api_head()], self.api_version())
        self.assertSucceeded(self.sync('stamp', 'heads', '--database',
                                       'main'))
        self.assertEqual([test_commands.head()], self.main_version())

    def test_downgrade_and_stamp_every_database(self):
        self.assertSucceeded(self.sync('upgrade'))
        result = self.assertSucceeded(self.sync('downgrade', 'base'))
        self.assertIn(f'[main] Downgraded {test_commands.head()}',
                      result.stderr)
        self.assertIn(f'[api] Downgraded {api_head()}', result.stderr)
        self.assertEqual(([], []), (self.main_version(),
                                    self.api_version()))
        result = self.assertSucceeded(self.sync('stamp', 'heads'))
        self.assertIn(f'[api] Stamped {api_head()}', result.stderr)
        self.assertEqual([api_head()], self.api_version())

    def test_check_exits_with_the_most_urgent_code(self):
        self.assertSucceeded(self.sync('upgrade', '--database', 'main'))
        # api empty: pending (3); main at head (0).
        result, report = self.check()
        self.assertEqual(3, result.code)
        self.assertEqual(3, report['exit_code'])
        # api at an unknown revision (5) beats main's drift (4).
        self.assertSucceeded(self.sync('stamp', 'heads', '--database',
                                       'api'))
        self.execute(self.api_engine,
                     "UPDATE alembic_version_api SET version_num = 'f00d'")
        self.execute(self.main_engine,
                     'ALTER TABLE tasks ADD COLUMN extra INTEGER')
        result, report = self.check()
        self.assertEqual(5, result.code, result)
        self.assertEqual(
            {'main': 4, 'api': 5},
            {name: entry['exit_code']
             for name, entry in report['databases'].items()})
        text = self.sync('check')
        self.assertEqual(5, text.code)
        self.assertIn('[main] at head', text.stdout)
        self.assertIn(
            '[main]   table tasks:\n[main]     remove_column tasks.extra',
            text.stdout)
        self.assertIn('[api] the database is at f00d', text.stdout)

    def test_first_error_stops_the_run_and_names_its_database(self):
        self.assertSucceeded(self.sync('stamp', 'heads', '--database',
                                       'main'))
        self.execute(self.main_engine,
                     "UPDATE alembic_version SET version_num = 'f00d'")
        result = self.sync('upgrade')
        self.assertEqual(5, result.code, result)
        self.assertIn('enamel-sync: error: [main] the database is at '
                      'revision f00d', result.stderr)
        # api comes after main: not touched.
        self.assertEqual([], self.api_version())

    def test_sql_needs_one_database(self):
        result = self.sync('upgrade', '--sql')
        self.assertEqual(2, result.code, result)
        self.assertIn('--database', result.stderr)
        result = self.assertSucceeded(
            self.sync('upgrade', '--sql', '--database', 'api'))
        self.assertIn('alembic_version_api', result.stdout)
        self.assertIn('CREATE TABLE quotas', result.stdout)
        self.assertNotIn('tasks', result.stdout)

    def test_each_database_compares_with_its_own_models(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.execute(self.api_engine,
                     'ALTER TABLE quotas ADD COLUMN extra INTEGER')
        result, report = self.check()
        self.assertEqual(4, result.code, result)
        self.assertEqual('at_head', report['databases']['main']['state'])
        self.assertEqual(['remove_column quotas.extra'],
                         report['databases']['api']['differences'])

    def test_history_heads_current_per_database(self):
        self.assertSucceeded(self.sync('upgrade'))
        heads = self.assertSucceeded(self.sync('heads'))
        self.assertEqual(f'[main] {test_commands.head()} (head)\n'
                         f'[api] {api_head()} (head)\n', heads.stdout)
        history = self.assertSucceeded(self.sync('history', '-i'))
        self.assertIn(f'[api] <base> -> {api_head()} (head), create '
                      'quotas (current)', history.stdout)
        current = self.assertSucceeded(self.sync('current'))
        self.assertIn(f'[api] {api_head()} (head)', current.stdout)
        self.assertIn(f'[main] {test_commands.head()} (head)',
                      current.stdout)
        show = self.assertSucceeded(self.sync('show', api_head(),
                                              '--database', 'api'))
        self.assertIn('create quotas', show.stdout)

    def test_python_api_per_database(self):
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        migrations = migration.configured(conf)
        for migrate in migrations:
            self.addCleanup(migrate.engine.dispose)
        self.assertEqual(['main', 'api'],
                         [m.database.name for m in migrations])
        seen = []

        api = migrations[1]

        @api.configure
        def only_api(config):
            seen.append(config.attributes['enamel'].database.name)

        api.upgrade()
        self.assertEqual([api_head()], api.version())
        self.assertEqual([], migrations[0].version())
        self.assertEqual(['api'], sorted(set(seen)))
        self.assertEqual(0, api.check().exit_code)

    # -- the two locks ----------------------------------------------------

    @contextlib.contextmanager
    def holding(self, engine, database):
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        with lock.migration_lock(engine, conf, database):
            yield

    def test_the_two_locks_do_not_block_each_other(self):
        self.config_file = self.write_two(
            self.main_url, self.api_url, migration_lock_timeout=0)
        with self.holding(self.main_engine, databases.MAIN):
            result = self.assertSucceeded(
                self.sync('upgrade', '--database', 'api'))
            self.assertIn(f'Upgraded to {api_head()}', result.stderr)
            blocked = self.sync('upgrade', '--database', 'main')
            self.assertEqual(1, blocked.code, blocked)
            self.assertIn('([database] migration_lock_timeout)',
                          blocked.stderr)
        with self.holding(self.api_engine, databases.API):
            self.assertSucceeded(self.sync('upgrade', '--database', 'main'))
            blocked = self.sync('downgrade', '--database', 'api')
            self.assertEqual(1, blocked.code, blocked)
            self.assertIn('([api_database] migration_lock_timeout)',
                          blocked.stderr)
        self.assertEqual([test_commands.head()], self.main_version())
        self.assertEqual([api_head()], self.api_version())


def sqlite_file(case, name):
    """An SQLite file in the test's working directory: (url, engine)."""
    url = f'sqlite:///{os.path.join(case.workdir, name)}'
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    case.addCleanup(engine.dispose)
    return url, engine


class ApiOnSQLite:
    """main on the backend's database, api on an SQLite file."""

    def layout(self):
        self.main_url, self.main_engine = self.url, self.engine
        self.api_url, self.api_engine = sqlite_file(self, 'api.sqlite')


class MainOnSQLite:
    """main on an SQLite file, api on the backend's database."""

    def layout(self):
        self.main_url, self.main_engine = sqlite_file(self, 'main.sqlite')
        self.api_url, self.api_engine = self.url, self.engine


class SharedDatabase:
    """main and api in one and the same database."""

    def layout(self):
        self.main_url, self.main_engine = self.url, self.engine
        self.api_url, self.api_engine = self.url, self.engine


for _layout in (ApiOnSQLite, MainOnSQLite, SharedDatabase):
    for _backend, _engine in ((base.SQLiteBackend, 'SQLite'),
                              (base.MySQLBackend, 'MySQL'),
                              (base.PostgreSQLBackend, 'PostgreSQL')):
        if _layout is not SharedDatabase and _backend is base.SQLiteBackend:
            # Two SQLite files: covered by the other layouts' engines.
            if _layout is MainOnSQLite:
                continue
        _name = f'{_layout.__name__}{_engine}'
        globals()[_name] = type(_name, (
            _layout, TwoDatabasesTests, _backend, base.TestCase), {})


X_REVISION = '''"""made by -x

Revision ID: 5eed00000001
Revises: {down}
"""

from alembic import context
from alembic import op
import sqlalchemy as sa

revision = '5eed00000001'
down_revision = '{down}'
branch_labels = None
depends_on = None


def upgrade():
    table = context.get_x_argument(as_dictionary=True)['table']
    op.create_table(table, sa.Column('id', sa.Integer, primary_key=True))


def downgrade():
    pass
'''


class CommandSurfaceTests:
    """migrate, -x, heads --resolve-dependencies and an API database
    that is not configured."""

    def test_x_argument_reaches_env_py(self):
        env = self.scratch_environment()
        versions = os.path.join(env['PYTHONPATH'], 'alembic_migrations',
                                'versions')
        with open(os.path.join(versions, '5eed00000001_x.py'), 'w') as f:
            f.write(X_REVISION.format(down=test_commands.head()))
        result = self.sync_process('upgrade', '-x', 'table=made_by_x',
                                   '--x-arg', 'other=1', env=env)
        self.assertSucceeded(result)
        self.assertIn('made_by_x', self.tables())

    def test_x_arguments_in_the_python_api(self):
        from alembic.runtime import environment as alembic_environment
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        migrate = migration.Migration(conf, x_arguments=['a=1', 'b'])
        context = alembic_environment.EnvironmentContext(
            migrate.get_config(), migrate.script)
        self.assertEqual({'a': '1', 'b': ''},
                         context.get_x_argument(as_dictionary=True))

    def test_migrate_is_revision_autogenerate(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.execute('ALTER TABLE tasks ADD COLUMN extra INTEGER')
        target = os.path.join(self.workdir, 'new')
        os.mkdir(target)
        result = self.assertSucceeded(self.sync(
            'migrate', '-m', 'drop extra', '--version-path', target))
        path = result.stdout.strip()
        self.assertEqual(target, os.path.dirname(path))
        with open(path) as f:
            text = f.read()
        self.assertIn("drop_column(", text)
        self.assertIn("'extra'", text)

    def execute(self, statement):
        with self.engine.begin() as connection:
            connection.execute(sa.text(statement))

    def test_heads_resolve_dependencies(self):
        target = os.path.join(self.workdir, 'extra')
        os.mkdir(target)
        migrate = self.make_migration(version_path=target)
        other = migrate.revision(
            'another branch', head='base', branch_label='other',
            version_path=target, depends_on=[test_commands.head()],
            rev_id='0de9')
        self.assertEqual(
            {test_commands.head(), other.revision},
            {s.revision for s in migrate.heads()})
        self.assertEqual(
            [other.revision],
            [s.revision for s in migrate.heads(resolve_dependencies=True)])

    def test_heads_resolve_dependencies_option(self):
        result = self.assertSucceeded(
            self.sync('heads', '--resolve-dependencies'))
        self.assertEqual(f'{test_commands.head()} (head)\n', result.stdout)

    def test_api_database_not_configured(self):
        result = self.assertSucceeded(self.sync('upgrade'))
        self.assertNotIn('[main]', result.stderr)
        self.assertNotIn('alembic_version_api', self.tables())
        refused = self.sync('upgrade', '--database', 'api')
        self.assertEqual(1, refused.code, refused)
        self.assertEqual(
            'enamel-sync: error: the api database is not configured: set '
            '[api_database] connection\n', refused.stderr)
        # The API revisions are readable without a database.
        heads = self.assertSucceeded(self.sync('heads', '--database', 'api'))
        self.assertEqual(f'{api_head()} (head)\n', heads.stdout)
        unknown = self.sync('upgrade', '--database', 'nova')
        self.assertEqual(2, unknown.code, unknown)
        self.assertIn("invalid choice: 'nova'", unknown.stderr)

    def alembic(self, *argv, env=None):
        """Run plain ``alembic`` (installed beside this Python)."""
        executable = os.path.join(os.path.dirname(sys.executable),
                                  'alembic')
        process_env = dict(os.environ, HOME=self.workdir)
        process_env.update(env or {})
        process = subprocess.run(
            [executable] + list(argv), cwd=self.workdir, env=process_env,
            text=True, capture_output=True, timeout=300)
        self.assertEqual(0, process.returncode, process.stderr)
        return process.stdout

    def test_init_multidb_serves_both_databases_with_plain_alembic(self):
        api_url, api_engine = sqlite_file(self, 'api.sqlite')
        result = self.assertSucceeded(self.sync('init', 'plugin',
                                                '--multidb'))
        directory = os.path.join(self.workdir, 'plugin')
        self.assertEqual(
            [os.path.join(directory, name) for name in (
                'alembic.ini', 'env.py', 'script.py.mako', 'versions/.keep',
                'api_versions/.keep')],
            result.stdout.split())
        ini = os.path.join(directory, 'alembic.ini')
        env = {'OS_API_DATABASE__CONNECTION': api_url}
        self.alembic('-c', ini, 'revision', '-m', 'first', env=env)
        self.alembic('-c', ini, '--name', 'api', 'revision', '-m', 'api',
                     env=env)
        # The main database comes from the config file named with -x.
        self.alembic('-c', ini, '-x', f'config_file={self.config_file}',
                     'upgrade', 'heads', env=env)
        self.alembic('-c', ini, '--name', 'api', 'upgrade', 'heads', env=env)
        self.assertIn('plugin_alembic_version', self.tables())
        self.assertNotIn('alembic_version', self.tables())
        self.assertIn('plugin_alembic_version_api',
                      sa.inspect(api_engine).get_table_names())
        # enamel's own history is untouched and still upgrades.
        self.assertSucceeded(self.sync('upgrade'))

    def test_init_environment_keeps_its_version_table_under_sync_d(self):
        # A tester's report: under "enamel-sync -d DIR" (no alembic.ini
        # read) the generated env.py used enamel's alembic_version, so
        # plain "enamel-sync upgrade" then failed with exit 5.
        self.assertSucceeded(self.sync('init', 'plugin'))
        ini = os.path.join(self.workdir, 'plugin', 'alembic.ini')
        self.alembic('-c', ini, 'revision', '-m', 'first',
                     '--rev-id', 'p1')
        path = glob.glob(os.path.join(self.workdir, 'plugin', 'versions',
                                      'p1_*.py'))[0]
        with open(path) as f:
            text = f.read()
        with open(path, 'w') as f:
            f.write(text.replace(
                'def upgrade():\n    pass',
                "def upgrade():\n"
                "    op.create_table('plugin_things', "
                "sa.Column('id', sa.Integer, primary_key=True))"))
        self.assertSucceeded(self.sync('upgrade', '-d', 'plugin'))
        self.assertIn('plugin_things', self.tables())
        self.assertIn('plugin_alembic_version', self.tables())
        self.assertNotIn('alembic_version', self.tables())
        # enamel's own history is untouched and upgrades after it.
        self.assertSucceeded(self.sync('upgrade'))
        self.assertIn('alembic_version', self.tables())
        # Both tools read the same version table for the directory.
        current = self.assertSucceeded(
            self.sync('current', '-d', 'plugin'))
        self.assertIn('p1', current.stdout)
        self.alembic('-c', ini, '-x', f'config_file={self.config_file}',
                     'upgrade', 'head')

    def test_plain_alembic_runs_the_api_database_with_its_section(self):
        api_url, api_engine = sqlite_file(self, 'api.sqlite')
        self.alembic('-c', os.path.join(base.REPO_ROOT, 'alembic.ini'),
                     '--name', 'api', 'upgrade', 'heads',
                     env={'OS_API_DATABASE__CONNECTION': api_url})
        self.assertEqual({'alembic_version_api', 'quotas'},
                         set(sa.inspect(api_engine).get_table_names()))
        self.assertEqual(set(), self.tables() - {'spatial_ref_sys'})

    def test_init_refuses_a_directory_that_is_not_empty(self):
        self.assertSucceeded(self.sync('init', 'plugin'))
        result = self.sync('init', 'plugin')
        self.assertEqual(2, result.code, result)
        self.assertIn('is not an empty directory', result.stderr)


base.for_each_backend(CommandSurfaceTests, globals())
