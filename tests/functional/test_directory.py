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

"""Any environment: enamel-sync on a service's own alembic history.

tests/fixtures/widgets_service is a migration environment of its own (its
env.py, its models, expand and contract branches in nested version
directories, a ``depends_on``, a data migration that reads the rows).
enamel-sync runs it with ``-d/--directory`` (or ``script_location``) and
must leave the database as plain ``alembic -c`` leaves it, while bringing
its lock, phases, check, lint and exit codes.
"""

import os
import shutil
import subprocess
import sys

import sqlalchemy as sa

from enamel import conf as enamel_conf
from enamel import exception
from enamel import journal
from enamel import lock
from enamel import migration
from tests import base
from tests.fixtures.widgets_service import models
from tests.functional import test_offline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
WIDGETS = os.path.join(ROOT, 'tests', 'fixtures', 'widgets_service')
INITIAL = '1f0c2b9e7a10'
EXPAND_HEAD = '3b8e5d2f0c30'
CONTRACT_HEAD = '4c9f6e3a1d40'
NAMES = ('Sprocket', 'Gear', 'Cog')
PLUGIN_REVISION = '''
from alembic import op
import sqlalchemy as sa

revision = '5d0a7f4b2e50'
down_revision = '3b8e5d2f0c30'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('widget_tags',
                    sa.Column('id', sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table('widget_tags')
'''


class DirectoryTests:

    DATABASE_OPTIONS = {'recursive_version_locations': 'true'}

    # -- helpers --------------------------------------------------------------

    def widgets(self, *argv, **kwargs):
        """enamel-sync ARGV -d <the widgets environment>."""
        return self.sync(*argv, '-d', WIDGETS, **kwargs)

    def alembic(self, *argv):
        """Plain ``alembic -c`` on the same environment and database."""
        ini = os.path.join(self.workdir, 'alembic.ini')
        with open(ini, 'w') as f:
            f.write('[alembic]\n'
                    f'script_location = {WIDGETS}\n'
                    f'prepend_sys_path = {ROOT}\n'
                    'path_separator = os\n'
                    f'version_locations = {WIDGETS}/versions\n'
                    'recursive_version_locations = true\n'
                    'sqlalchemy.url = '
                    f'{self.url.replace("%", "%%")}\n')
        process = subprocess.run(
            [sys.executable, '-m', 'alembic', '-c', ini] + list(argv),
            cwd=self.workdir, capture_output=True, text=True, timeout=300)
        self.assertEqual(0, process.returncode, process.stderr)

    def seed(self, run):
        """The initial revision, with widgets to label, then heads."""
        run('upgrade', INITIAL)
        with self.engine.begin() as connection:
            for name in NAMES:
                connection.execute(sa.text(
                    'INSERT INTO widgets (name) VALUES (:name)'),
                    dict(name=name))

    def snapshot(self):
        """Every table but enamel's bookkeeping: columns, primary key,
        foreign keys, indexes; the version rows and the widgets."""
        inspector = sa.inspect(self.engine)
        schema = {}
        for table in inspector.get_table_names():
            if table in (lock.LOCK_TABLE, journal.JOURNAL_TABLE):
                continue
            schema[table] = dict(
                columns=sorted(
                    (c['name'], str(c['type']), c['nullable'])
                    for c in inspector.get_columns(table)),
                pk=inspector.get_pk_constraint(table)['constrained_columns'],
                fks=sorted(
                    (tuple(f['constrained_columns']), f['referred_table'])
                    for f in inspector.get_foreign_keys(table)),
                indexes=sorted(
                    (i['name'], tuple(i['column_names']))
                    for i in inspector.get_indexes(table)
                    if i['name'] == 'ix_parts_widget_id'))
        with self.engine.connect() as connection:
            rows = []
            if 'widgets' in schema:
                rows = sorted(connection.execute(sa.text(
                    'SELECT * FROM widgets')).mappings().all(),
                    key=lambda r: r['id'])
                rows = [dict(r) for r in rows]
        return schema, sorted(self.stored_version()), rows

    def execute(self, statement):
        with self.engine.begin() as connection:
            connection.execute(sa.text(statement))

    def reset(self):
        """Drop every table: the next tool starts from an empty database."""
        metadata = sa.MetaData()
        metadata.reflect(self.engine)
        metadata.drop_all(self.engine)

    # -- the same database as plain alembic -----------------------------------

    def test_upgrade_leaves_what_plain_alembic_leaves(self):
        self.seed(lambda *a: self.alembic(*a))
        self.alembic('upgrade', 'heads')
        by_alembic = self.snapshot()
        self.reset()
        self.seed(lambda *a: self.assertSucceeded(self.widgets(*a)))
        self.assertSucceeded(self.widgets('upgrade'))
        self.assertEqual(by_alembic, self.snapshot())
        self.assertEqual([CONTRACT_HEAD], by_alembic[1])
        self.assertEqual([n.lower() for n in NAMES],
                         [r['label'] for r in by_alembic[2]])

    def test_downgrade_leaves_what_plain_alembic_leaves(self):
        self.seed(lambda *a: self.alembic(*a))
        self.alembic('upgrade', 'heads')
        self.alembic('downgrade', 'contract@-1')
        by_alembic = self.snapshot()
        self.reset()
        self.seed(lambda *a: self.assertSucceeded(self.widgets(*a)))
        self.assertSucceeded(self.widgets('upgrade'))
        self.assertSucceeded(self.widgets('downgrade', 'contract@-1'))
        self.assertEqual(by_alembic, self.snapshot())
        self.assertEqual([EXPAND_HEAD], by_alembic[1])

    def test_plain_alembic_continues_what_enamel_sync_began(self):
        self.seed(lambda *a: self.assertSucceeded(self.widgets(*a)))
        self.assertSucceeded(self.widgets('upgrade', '--expand'))
        self.alembic('upgrade', 'heads')
        self.assertEqual([CONTRACT_HEAD],
                         sorted(self.stored_version()))
        self.assertEqual(0, self.widgets('check').code)

    # -- phases, check, version, lock -----------------------------------------

    def test_upgrade_expand_leaves_contract_pending(self):
        self.assertSucceeded(self.widgets('upgrade', '--expand'))
        self.assertEqual([EXPAND_HEAD], self.stored_version())
        result = self.widgets('check')
        self.assertEqual(8, result.code, result)
        self.assertIn(CONTRACT_HEAD, result.stdout)

    def test_contract_before_expand_is_refused(self):
        self.assertSucceeded(self.widgets('upgrade', INITIAL))
        result = self.widgets('upgrade', '--contract')
        self.assertEqual(9, result.code, result)
        self.assertEqual([INITIAL], self.stored_version())

    def test_check_on_an_empty_database_is_pending(self):
        self.assertEqual(3, self.widgets('check').code)

    def test_check_at_head_compares_the_env_models(self):
        self.assertSucceeded(self.widgets('upgrade'))
        result = self.widgets('check')
        self.assertEqual(0, result.code, result)
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                'ALTER TABLE widgets ADD COLUMN extra INTEGER'))
        result = self.widgets('check')
        self.assertEqual(4, result.code, result)
        self.assertIn('widgets.extra', result.stdout)

    def test_version_prints_the_current_revisions(self):
        self.assertSucceeded(self.widgets('upgrade'))
        result = self.widgets('version')
        self.assertEqual([CONTRACT_HEAD],
                         sorted(result.stdout.split()))

    def test_upgrade_takes_the_migration_lock(self):
        if self.BACKEND == 'sqlite':
            # On SQLite, an flock on a file next to the database.
            taken = lambda: os.path.exists(self.db_path + '.lock')  # noqa
        else:
            taken = lambda: self.lock_row() is not None  # noqa
        self.assertFalse(taken())
        self.assertSucceeded(self.widgets('upgrade'))
        self.assertTrue(taken())

    def test_two_hosts_upgrading_at_once_run_each_revision_once(self):
        # The console script, as deploy hosts run it; the env.py imports
        # the service's models from the checkout.
        env = {'PYTHONPATH': ROOT}
        processes = [self.sync_process('upgrade', '-d', WIDGETS, env=env,
                                       wait=False) for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in processes]
        for process, (stdout, stderr) in zip(processes, outputs):
            self.assertEqual(0, process.returncode, stderr)
        stderr = ''.join(err for _out, err in outputs)
        for revision in (INITIAL, EXPAND_HEAD, CONTRACT_HEAD):
            self.assertEqual(1, stderr.count(f'Upgraded to {revision} '),
                             stderr)
        self.assertEqual([CONTRACT_HEAD], self.stored_version())

    # -- guardrails -----------------------------------------------------------

    def test_unversioned_database_of_the_env_models_is_refused(self):
        models.Base.metadata.create_all(self.engine)
        before = self.snapshot()
        result = self.widgets('upgrade')
        self.assertEqual(6, result.code, result)
        self.assertIn('no version table', result.stderr)
        self.assertIn(f'stamp -d {WIDGETS} --verify heads', result.stderr)
        self.assertEqual(before, self.snapshot())

    def test_enamel_models_do_not_decide_for_another_env(self):
        from enamel import models as enamel_models
        enamel_models.Base.metadata.create_all(self.engine)
        self.assertSucceeded(self.widgets('upgrade'))
        self.assertEqual([CONTRACT_HEAD],
                         sorted(self.stored_version()))

    def test_unknown_revision_is_never_touched(self):
        self.assertSucceeded(self.widgets('stamp', INITIAL))
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                "UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
        result = self.widgets('upgrade')
        self.assertEqual(5, result.code, result)
        self.assertEqual(['f00dfeedbeef'], self.stored_version())

    def test_stamp_verify_adopts_a_database_built_from_the_env_models(self):
        models.Base.metadata.create_all(self.engine)
        result = self.widgets('stamp', '--verify', 'heads')
        self.assertEqual(0, result.code, result)
        self.assertEqual([CONTRACT_HEAD],
                         sorted(self.stored_version()))

    def test_stamp_verify_refuses_the_expand_head_alone(self):
        models.Base.metadata.create_all(self.engine)
        result = self.widgets('stamp', '--verify', EXPAND_HEAD)
        self.assertEqual(2, result.code, result)
        self.assertIn('stamp --verify compares', result.stderr)
        self.assertEqual([], self.stored_version())

    # -- version locations ----------------------------------------------------

    def test_heads_reads_the_nested_version_directories(self):
        result = self.widgets('heads')
        self.assertEqual(0, result.code, result)
        self.assertIn(f'{CONTRACT_HEAD} (contract)', result.stdout)
        self.assertIn(f'{EXPAND_HEAD} (expand)', result.stdout)

    def test_without_recursive_version_locations_nested_ones_are_unread(self):
        config = self.write_config(self.url, name='flat.conf',
                                   recursive_version_locations='false')
        result = self.widgets('heads', config_file=config)
        self.assertEqual(0, result.code, result)
        self.assertEqual([INITIAL], [line.split()[0] for line in
                                     result.stdout.splitlines()])

    def test_version_locations_option_lists_directories(self):
        versions = os.path.join(WIDGETS, 'versions')
        config = self.write_config(
            self.url, name='listed.conf', recursive_version_locations='false',
            version_locations=','.join(
                [versions, os.path.join(versions, 'expand'),
                 os.path.join(versions, 'contract')]))
        self.assertSucceeded(self.widgets('upgrade', config_file=config))
        self.assertEqual([CONTRACT_HEAD],
                         sorted(self.stored_version()))

    def test_lint_reads_every_version_directory(self):
        result = self.widgets('lint')
        self.assertEqual(10, result.code, result)
        self.assertIn(f'{CONTRACT_HEAD} (contract) set-not-null',
                      result.stdout)
        self.assertIn('4 revision(s) linted', result.stdout)

    def test_script_location_relative_to_the_config_file(self):
        service = os.path.join(self.workdir, 'service')
        shutil.copytree(WIDGETS, os.path.join(service, 'migrations'))
        config = self.write_config(self.url, name='service/widgets.conf',
                                   script_location='migrations')
        self.assertSucceeded(self.sync('upgrade', config_file=config))
        self.assertEqual([CONTRACT_HEAD],
                         sorted(self.stored_version()))

    def test_configure_callback_adds_a_version_location(self):
        plugin = os.path.join(self.workdir, 'plugin_versions')
        os.mkdir(plugin)
        with open(os.path.join(plugin, '5d0a7f4b2e50_tags.py'), 'w') as f:
            f.write(PLUGIN_REVISION)
        migrate = migration.Migration(
            enamel_conf.load(['--config-file', self.config_file],
                             default_config_files=[]),
            directory=WIDGETS)

        @migrate.configure
        def plugin_revisions(config):
            locations = config.get_main_option('version_locations')
            config.set_main_option('version_locations',
                                   locations + os.pathsep + plugin)

        migrate.upgrade()
        self.assertIn('widget_tags', self.tables())
        result = migrate.check()
        # The plugin's revision created the table, which the env's models
        # do not declare: drift, found through the callback's location.
        self.assertEqual('schema_drift', result.state, result)
        self.assertIn('remove_table widget_tags', result.differences)

    def test_the_env_version_table_is_the_one_read(self):
        env = self.env_copy('target_metadata=target_metadata,',
                            'target_metadata=target_metadata, '
                            'version_table="widgets_version",')
        self.assertSucceeded(self.sync('upgrade', '-d', env))
        self.assertNotIn('alembic_version', self.tables())
        with self.engine.connect() as connection:
            self.assertEqual([CONTRACT_HEAD], connection.execute(sa.text(
                'SELECT version_num FROM widgets_version')).scalars().all())
        self.assertEqual(0, self.sync('check', '-d', env).code)
        self.assertEqual(CONTRACT_HEAD,
                         self.sync('version', '-d', env).stdout.strip())

    def test_upgrade_sql_writes_the_env_revisions(self):
        result = self.widgets('upgrade', '--sql')
        if self.BACKEND == 'sqlite':
            # The contract revision's batch ALTER needs a live database
            # on SQLite (plain alembic's --sql cannot write it either).
            self.assertEqual(1, result.code, result)
            self.assertEqual(1, len(result.stderr.splitlines()), result)
            self.assertIn(f'revision {CONTRACT_HEAD} cannot be written '
                          'as SQL', result.stderr)
            return
        self.assertSucceeded(result)
        self.assertEqual([], self.stored_version())
        test_offline.OfflineTests.client(self, result.stdout)
        self.assertEqual([CONTRACT_HEAD], self.stored_version())
        self.assertEqual(0, self.widgets('check').code)

    def test_api_database_runs_its_configured_environment(self):
        api_path = os.path.join(self.workdir, 'widgets.sqlite')
        config = os.path.join(self.workdir, 'two.conf')
        with open(config, 'w') as f:
            f.write(f'[database]\nconnection = {self.url}\n'
                    f'[api_database]\nconnection = sqlite:///{api_path}\n'
                    f'script_location = {WIDGETS}\n'
                    'recursive_version_locations = true\n')
        self.assertSucceeded(self.sync('upgrade', config_file=config))
        self.assertEqual(base.upgraded_version(base.bundled_script()),
                         sorted(self.stored_version()))
        api = sa.create_engine(f'sqlite:///{api_path}',
                               poolclass=sa.pool.NullPool)
        self.addCleanup(api.dispose)
        with api.connect() as connection:
            self.assertEqual([CONTRACT_HEAD], connection.execute(sa.text(
                'SELECT version_num FROM alembic_version')).scalars().all())
        self.assertEqual(0, self.sync('check', config_file=config).code)

    def env_copy(self, old, new):
        """A copy of the widgets environment whose env.py has ``new``
        instead of ``old``; its path."""
        env = os.path.join(self.workdir, 'migrations')
        shutil.copytree(WIDGETS, env)
        env_py = os.path.join(env, 'env.py')
        with open(env_py) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(env_py, 'w') as f:
            f.write(text.replace(old, new))
        return env

    def test_without_target_metadata_the_revision_tables_decide(self):
        env = self.env_copy('target_metadata = models.Base.metadata',
                            'target_metadata = None')
        self.execute('CREATE TABLE widgets (id INTEGER PRIMARY KEY)')
        refused = self.sync('upgrade', '-d', env)
        self.assertEqual(6, refused.code, refused)
        self.assertIn('(widgets)', refused.stderr)
        self.execute('DROP TABLE widgets')
        self.assertSucceeded(self.sync('upgrade', '-d', env))
        result = self.sync('check', '-d', env)
        self.assertEqual(0, result.code, result)
        self.assertIn('no target_metadata', result.stdout)

    def test_without_target_metadata_callback_revisions_decide_too(self):
        env = self.env_copy('target_metadata = models.Base.metadata',
                            'target_metadata = None')
        plugin = os.path.join(self.workdir, 'plugin_versions')
        os.mkdir(plugin)
        with open(os.path.join(plugin, '5d0a7f4b2e50_tags.py'), 'w') as f:
            f.write(PLUGIN_REVISION)
        self.execute('CREATE TABLE widget_tags (id INTEGER PRIMARY KEY)')
        migrate = migration.Migration(self.load_conf(), directory=env)

        @migrate.configure
        def plugin_revisions(config):
            locations = config.get_main_option('version_locations')
            config.set_main_option('version_locations',
                                   locations + os.pathsep + plugin)

        error = self.assertRaises(exception.UnversionedDatabase,
                                  migrate.upgrade)
        self.assertIn('(widget_tags)', str(error))
        self.assertEqual([], self.stored_version())

    def test_env_py_that_fails_is_one_line_and_exit_1(self):
        env = self.env_copy('config = context.config',
                            'config = context.config\n'
                            'raise RuntimeError("no widgets.conf")')
        heads = self.sync('heads', '-d', env)
        self.assertEqual(0, heads.code, heads)
        # A table: whether it is the service's needs the env's models.
        self.execute('CREATE TABLE notes (id INTEGER PRIMARY KEY)')
        result = self.sync('upgrade', '-d', env)
        self.assertEqual(1, result.code, result)
        self.assertEqual([], self.stored_version())
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertIn('env.py failed before context.configure',
                      result.stderr)
        self.assertIn('no widgets.conf', result.stderr)
        self.assertNotIn('Traceback', result.stderr)

    # -- bad input ------------------------------------------------------------

    def test_missing_directory_is_one_line_and_exit_2(self):
        missing = os.path.join(self.workdir, 'nowhere')
        result = self.sync('upgrade', '-d', missing)
        self.assertEqual(2, result.code, result)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertIn(f'{missing} is not a directory', result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertEqual([], self.stored_version())

    def test_directory_without_env_py_is_one_line_and_exit_2(self):
        result = self.sync('check', '--directory', self.workdir)
        self.assertEqual(2, result.code, result)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertIn('no env.py', result.stderr)

    def test_configured_script_location_missing_is_exit_1(self):
        config = self.write_config(self.url, name='bad.conf',
                                   script_location='gone')
        result = self.sync('upgrade', config_file=config)
        self.assertEqual(1, result.code, result)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertIn('[database] script_location', result.stderr)
        self.assertEqual([], self.stored_version())


base.for_each_backend(DirectoryTests, globals())
