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

"""Offline SQL: what ``--sql`` prints runs unchanged in each engine's own
client (``sqlite3``, ``psql``, ``mariadb``) and builds the schema that
``check`` accepts."""

import json
import os
import subprocess

import alembic

from enamel import migration
from enamel import models
from tests import base
from tests.functional import test_commands
from tests.functional import test_rolling_upgrade as rolling


def tables_after_offline_downgrade_to_base():
    """What the SQL of ``downgrade --sql head:base`` leaves behind: the
    (empty) version table from alembic 1.19 on; before, alembic's SQL ended
    by dropping it too."""
    version = tuple(int(part) for part in alembic.__version__.split('.')[:2])
    return {'alembic_version'} if version >= (1, 19) else set()


class OfflineTests:

    def client(self, sql):
        """Feed ``sql`` to the engine's command-line client, stopping at
        the first error, as a DBA would."""
        url = self.engine.url
        env = dict(os.environ)
        if self.BACKEND == 'sqlite':
            args = ['sqlite3', '-bail', url.database]
        elif self.BACKEND == 'postgresql':
            args = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
                    '-h', url.host, '-p', str(url.port or 5432),
                    '-U', url.username, url.database]
            env['PGPASSWORD'] = url.password or ''
        else:
            args = ['mariadb', '-h', url.host, '-P', str(url.port or 3306),
                    '-u', url.username, url.database]
            env['MYSQL_PWD'] = url.password or ''
        result = subprocess.run(args, input=sql, text=True, env=env,
                                capture_output=True, timeout=120)
        self.assertEqual(0, result.returncode, result)

    def offline(self, *argv):
        """Run a ``--sql`` command; its SQL."""
        result = self.assertSucceeded(self.sync(*argv, '--sql'))
        self.assertNotEqual('', result.stdout)
        return result.stdout

    def check(self):
        result = self.sync('check', '--format', 'json')
        return result.code, json.loads(result.stdout)

    def test_upgrade_sql_builds_a_database_at_head(self):
        self.client(self.offline('upgrade'))
        code, report = self.check()
        self.assertEqual(0, code, report)
        self.assertEqual([test_commands.head()], report['current'])
        self.assertEqual([], report['differences'])

    def test_downgrade_sql_range_empties_it_again(self):
        self.client(self.offline('upgrade', 'base:head'))
        self.client(self.offline('downgrade', 'head:base'))
        self.assertEqual(tables_after_offline_downgrade_to_base(),
                         self.tables())
        code, report = self.check()
        self.assertEqual(3, code, report)
        self.assertEqual([], report['current'])

    def test_downgrade_sql_needs_a_range(self):
        result = self.sync('downgrade', '--sql')
        self.assertEqual(2, result.code, result)
        self.assertEqual(1, len(result.stderr.splitlines()), result)

    def test_stamp_sql_adopts_a_create_all_database(self):
        models.Base.metadata.create_all(self.engine)
        self.assertEqual(6, self.check()[0])
        sql = self.offline('stamp', 'heads')
        self.assertNotIn('CREATE TABLE tasks', sql)
        self.client(sql)
        code, report = self.check()
        self.assertEqual(0, code, report)

    def test_sql_opens_no_connection(self):
        # The same dialect, at an address where nothing listens.
        if self.BACKEND == 'sqlite':
            url = f'sqlite:///{self.workdir}/missing/dir/enamel.sqlite'
        else:
            url = self.engine.url.set(host='127.0.0.1', port=1)
            url = url.render_as_string(hide_password=False)
        config_file = self.write_config(url, name='unreachable.conf',
                                        connect_timeout=1)
        result = self.assertSucceeded(
            self.sync('upgrade', '--sql', config_file=config_file))
        self.assertIn('CREATE TABLE tasks', result.stdout)
        self.assertSucceeded(
            self.sync('stamp', 'heads', '--sql', config_file=config_file))


base.for_each_backend(OfflineTests, globals())

# The table the tests' expand revision creates: a name no model uses.
NOTES = base.free_table_name('offline_notes')
NOTES_BODY = f'''

def upgrade():
    op.create_table('{NOTES}',
                    sa.Column('id', sa.Integer, primary_key=True),
                    sa.Column('body', sa.Text))
    op.create_index('ix_{NOTES}_body_id', '{NOTES}', ['id'])


def downgrade():
    op.drop_table('{NOTES}')
'''
DROP_ENDED_AT_BODY = '''

def upgrade():
    op.drop_column('tasks', 'ended_at')


def downgrade():
    op.add_column('tasks', sa.Column('ended_at', sa.DateTime(),
                                     nullable=True))
'''


class BranchedOfflineTests(rolling.RollingUpgradeSteps):
    """``--sql`` in the rolling-upgrade layout: a downgrade takes the
    same forms as an upgrade (``head`` there means every head), and the
    two scripts, run one after the other in the engine's own client,
    leave the schema as it was."""

    client = OfflineTests.client

    def offline(self, *argv):
        result = self.assertSucceeded(self.run_sync(*argv, '--sql'))
        self.assertNotEqual('', result.stdout)
        return result.stdout

    def scratch_script(self):
        """The scratch copy's script directory, read as enamel-sync reads
        it (its revisions only)."""
        migrate = migration.Migration(None)

        @migrate.configure
        def scratch_revisions(config):
            config.set_main_option('version_locations', self.versions)
            return config
        return migrate.script

    def heads(self):
        """What the version table holds at every head: alembic's heads,
        read from the script directory."""
        return base.upgraded_version(self.scratch_script())

    def round_trip(self, upgrade, downgrade):
        """Build the database with the upgrade script, empty it with the
        downgrade script."""
        self.client(self.offline('upgrade', *upgrade))
        self.assertEqual(self.heads(), sorted(self.stored_version()))
        self.client(self.offline('downgrade', downgrade))
        self.assertEqual(tables_after_offline_downgrade_to_base(),
                         self.tables())
        self.assertEqual([], self.stored_version())
        # From alembic 1.19 on the empty version table stays; the next
        # script from base creates it, as on a new database.
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                'DROP TABLE IF EXISTS alembic_version')

    def test_downgrade_sql_from_every_head_undoes_upgrade_sql(self):
        # The branches alone, then an expand and a contract revision.
        self.assertSucceeded(self.run_sync('revision', '--expand', '-m',
                                           'start the branches'))
        for shape in ('branches', 'expand and contract revisions'):
            if shape != 'branches':
                self.write_revision('expand', 'add notes', NOTES_BODY,
                                    rolling.EXPAND_IMPORTS)
                self.write_revision('contract', 'drop tasks.ended_at',
                                    DROP_ENDED_AT_BODY,
                                    rolling.EXPAND_IMPORTS)
            self.assertEqual(2, len(self.scratch_script().get_heads()))
            for upgrade, downgrade in (((), 'head:base'),
                                       (('base:head',), 'heads:base'),
                                       (('heads',), 'head:base')):
                with self.subTest(shape=shape, upgrade=upgrade,
                                  downgrade=downgrade):
                    self.round_trip(upgrade, downgrade)

    def test_downgrade_sql_from_every_head_to_a_revision_and_back(self):
        self.assertSucceeded(self.run_sync('revision', '--expand', '-m',
                                           'start the branches'))
        self.write_revision('expand', 'add notes', NOTES_BODY,
                            rolling.EXPAND_IMPORTS)
        self.write_revision('contract', 'drop tasks.ended_at',
                            DROP_ENDED_AT_BODY, rolling.EXPAND_IMPORTS)
        first = base.first_revision(self.scratch_script())
        self.client(self.offline('upgrade'))
        self.client(self.offline('downgrade', f'head:{first}'))
        self.assertEqual([first], self.stored_version())
        self.assertEqual({'alembic_version', 'tasks', 'task_items'},
                         self.tables())
        self.assertIn('ended_at', self.columns())
        self.client(self.offline('upgrade', f'{first}:head'))
        self.assertEqual(self.heads(), sorted(self.stored_version()))
        self.assertIn(NOTES, self.tables())
        self.assertNotIn('ended_at', self.columns())

    def test_a_relative_target_from_every_head_is_refused(self):
        self.assertSucceeded(self.run_sync('revision', '--expand', '-m',
                                           'start the branches'))
        result = self.run_sync('downgrade', '--sql', 'heads:-1')
        self.assertEqual(2, result.code, result)
        self.assertEqual('', result.stdout)
        self.assertIn('revision -1 is relative', result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)


base.for_each_backend(BranchedOfflineTests, globals())


class BrokenPipeTest(base.SQLiteBackend, base.TestCase):

    def test_closed_reader_ends_quietly(self):
        # Like "enamel-sync upgrade --sql | head -0": the reader is gone
        # before the first write.
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            process = subprocess.run(
                [base.enamel_sync_executable(), '--config-file',
                 self.config_file, 'upgrade', '--sql'],
                stdout=write_end, stderr=subprocess.PIPE, text=True,
                cwd=self.workdir, timeout=120)
        finally:
            os.close(write_end)
        self.assertEqual(1, process.returncode, process)
        self.assertEqual('', process.stderr)
