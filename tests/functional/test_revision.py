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

"""Writing revisions: autogenerate, plain-SQL revisions, where files go.

The tests that write revision files work on a scratch copy of
``alembic_migrations`` (and of ``enamel`` when a model changes) that the
installed ``enamel-sync`` imports instead of the real ones
(:meth:`tests.base.TestCase.scratch_environment`).
"""

import glob
import os
import sysconfig

import sqlalchemy as sa

from enamel import environment
from enamel import heads_file
from enamel import models
from tests import base
from tests.functional import test_commands

# A model change made in the scratch copy of enamel/models.py only.
ANCHOR = '    ended_at: orm.Mapped'
NEW_COLUMN = (
    '    priority: orm.Mapped[typing.Optional[int]] = orm.mapped_column(\n'
    '        sa.Integer, index=True)\n')

UPGRADE_SQL = """\
-- Reference data SQLAlchemy does not own.
CREATE TABLE audit_notes (
    id INTEGER NOT NULL PRIMARY KEY,
    note VARCHAR(80) NOT NULL
);
INSERT INTO audit_notes (id, note) VALUES (1, 'kept; not split');
INSERT INTO audit_notes (id, note) VALUES (2, 'second');
"""
DOWNGRADE_SQL = 'DROP TABLE audit_notes;\n'


class RevisionTests(base.ScratchEnvironment):

    def add_column_to_scratch_model(self):
        path = os.path.join(self.scratch, 'enamel', 'models.py')
        with open(path) as f:
            source = f.read()
        self.assertEqual(1, source.count(ANCHOR))
        with open(path, 'w') as f:
            f.write(source.replace(ANCHOR, NEW_COLUMN + ANCHOR))

    def test_autogenerate_round_trip(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.add_column_to_scratch_model()
        self.assertEqual(4, self.run_sync('check').code)
        before = self.revision_files()

        result = self.assertSucceeded(self.run_sync(
            'revision', '-m', 'add task priority', '--autogenerate'))
        # The column, then its index built concurrently in a revision of
        # its own (a failure of the build leaves a clean rerun point).
        path, index_path = result.stdout.split()
        self.assertEqual(set(before) | {path, index_path},
                         set(self.revision_files()))
        with open(path) as f:
            source = f.read()
        with open(index_path) as f:
            index_source = f.read()
        self.assertIn("sa.Column('priority', sa.Integer()", source)
        self.assertNotIn("'ix_tasks_priority'", source)
        self.assertIn("'ix_tasks_priority'", index_source)
        self.assertIn(f"down_revision = '{test_commands.head()}'", source)
        column_id = os.path.basename(path).split('_', 1)[0]
        self.assertIn(f"down_revision = '{column_id}'", index_source)
        new_head = os.path.basename(index_path).split('_', 1)[0]
        self.assertEqual((new_head,), heads_file.read(self.versions))
        for written in (path, index_path):
            lint = self.flake8(written)
            self.assertEqual(0, lint.returncode, lint.stdout + lint.stderr)

        self.assertSucceeded(self.run_sync('upgrade'))
        columns = {c['name'] for c in
                   sa.inspect(self.engine).get_columns('tasks')}
        self.assertIn('priority', columns)
        check = self.run_sync('check')
        self.assertEqual(0, check.code, check)
        # ... and the generated downgrades undo it.
        self.assertSucceeded(self.run_sync('downgrade', '-2'))
        columns = {c['name'] for c in
                   sa.inspect(self.engine).get_columns('tasks')}
        self.assertNotIn('priority', columns)

    def test_hand_written_revision_can_use_op_and_sa(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        path = self.assertSucceeded(self.run_sync(
            'revision', '-m', 'by hand', '--rev-id', 'bbbb0001')
        ).stdout.strip()
        # As generated (empty bodies), the file passes the linter...
        lint = self.flake8(path)
        self.assertEqual(0, lint.returncode, lint.stdout + lint.stderr)
        with open(path) as f:
            source = f.read()
        # ... and once its author writes the bodies, op and sa are there.
        source = source.replace(
            'def upgrade():\n    pass',
            "def upgrade():\n    op.create_table('by_hand', sa.Column("
            "'id', sa.Integer(), primary_key=True))", 1).replace(
            'def downgrade():\n    pass',
            "def downgrade():\n    op.drop_table('by_hand')", 1)
        with open(path, 'w') as f:
            f.write(source)
        lint = self.flake8(path)
        self.assertEqual(0, lint.returncode, lint.stdout + lint.stderr)
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertIn('by_hand', self.tables())

    def test_a_revision_id_in_use_is_refused_and_nothing_written(self):
        before = self.revision_files()
        result = self.run_sync('revision', '-m', 'again', '--rev-id',
                               test_commands.head())
        self.assertEqual(2, result.code, result)
        self.assertIn('a revision with that id exists', result.stderr)
        self.assertEqual(before, self.revision_files())

    def test_a_rev_id_the_version_table_cannot_hold_is_refused(self):
        # alembic's version_num is a VARCHAR(32): 32 fits, 33 does not.
        fits = 'a' * 32
        for argv, words in (
                (('revision', '-m', 'long', '--rev-id', fits + 'b'),
                 'longer than the 32'),
                (('revision', '--expand', '-m', 'long', '--rev-id',
                  fits + 'b'), 'longer than the 32'),
                (('merge', '-m', 'long', '--rev-id', fits + 'b', 'heads'),
                 'longer than the 32'),
                (('revision', '-m', 'dash', '--rev-id', 'ab-cd'),
                 'ASCII letters, digits and "_" only'),
                (('revision', '-m', 'space', '--rev-id', 'ab cd'),
                 'ASCII letters, digits and "_" only'),
                (('revision', '-m', 'empty', '--rev-id', ''),
                 'ASCII letters, digits and "_" only')):
            before = self.revision_files()
            result = self.run_sync(*argv)
            self.assertEqual(2, result.code, result)
            self.assertIn(words, result.stderr)
            self.assertEqual(1, len(result.stderr.splitlines()), result)
            self.assertEqual(before, self.revision_files(), argv)
        path = self.assertSucceeded(self.run_sync(
            'revision', '-m', 'fits', '--rev-id', fits)).stdout.strip()
        self.assertTrue(os.path.basename(path).startswith(fits + '_'))
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertEqual([fits], self.stored_version())

    def test_autogenerate_refuses_names_an_engine_cannot_hold(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        long_column = 'c' * 64  # one byte over PostgreSQL's 63
        indexed = 'p' * 56  # ix_tasks_ + 56 = 65: over both limits
        path = os.path.join(self.scratch, 'enamel', 'models.py')
        with open(path) as f:
            source = f.read()
        with open(path, 'w') as f:
            f.write(source.replace(ANCHOR, (
                f'    {long_column}: orm.Mapped[typing.Optional[int]] = '
                'orm.mapped_column(sa.Integer)\n'
                f'    {indexed}: orm.Mapped[typing.Optional[int]] = '
                'orm.mapped_column(sa.Integer, index=True)\n') + ANCHOR))
        before = self.revision_files()

        result = self.run_sync('revision', '-m', 'long names',
                               '--autogenerate')

        self.assertEqual(1, result.code, result)
        self.assertEqual(before, self.revision_files())
        self.assertEqual(1, len(result.stderr.strip().splitlines()), result)
        self.assertIn(f'the column name {long_column} is too long '
                      '(PostgreSQL holds 63 bytes, it has 64)', result.stderr)
        self.assertIn(f'the index name ix_tasks_{indexed} is too long '
                      '(PostgreSQL holds 63 bytes, it has 65; '
                      'MySQL/MariaDB holds 64 characters, it has 65)',
                      result.stderr)
        self.assertNotIn('Traceback', result.stderr)

    def test_sql_files_with_autogenerate_is_refused_and_nothing_written(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        for argv in ((), ('--expand',)):
            before = self.revision_files()
            result = self.run_sync('revision', '--sql-files',
                                   '--autogenerate', *argv, '-m', 'both')
            self.assertEqual(2, result.code, result)
            self.assertIn('--sql-files and --autogenerate exclude each '
                          'other', result.stderr)
            self.assertNotIn('Traceback', result.stderr)
            self.assertEqual(before, self.revision_files())

    def test_sql_files_revision_runs_online_and_offline(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        result = self.assertSucceeded(self.run_sync(
            'revision', '--sql-files', '-m', 'audit notes',
            '--rev-id', 'a0d1'))
        # Every file written is printed: the revision, then its two files.
        path, upgrade_sql, downgrade_sql = result.stdout.splitlines()
        stem = os.path.splitext(path)[0]
        self.assertEqual([f'{stem}_upgrade.sql', f'{stem}_downgrade.sql'],
                         [upgrade_sql, downgrade_sql])
        for direction in ('upgrade', 'downgrade'):
            with open(f'{stem}_{direction}.sql') as f:
                self.assertIn(f'-- {direction} of revision a0d1', f.read())
        lint = self.flake8(path)
        self.assertEqual(0, lint.returncode, lint.stdout + lint.stderr)
        with open(f'{stem}_upgrade.sql', 'a') as f:
            f.write(UPGRADE_SQL)
        with open(f'{stem}_downgrade.sql', 'a') as f:
            f.write(DOWNGRADE_SQL)

        self.assertSucceeded(self.run_sync('upgrade'))
        with self.engine.connect() as connection:
            notes = connection.execute(sa.text(
                'SELECT note FROM audit_notes ORDER BY id')).scalars().all()
        self.assertEqual(['kept; not split', 'second'], notes)
        self.assertSucceeded(self.run_sync('downgrade', '-1'))
        self.assertNotIn('audit_notes', sa.inspect(self.engine)
                         .get_table_names())

        offline = self.assertSucceeded(self.run_sync(
            'upgrade', '--sql', f'{test_commands.head()}:a0d1')).stdout
        self.assertIn('CREATE TABLE audit_notes', offline)
        self.assertIn("VALUES (1, 'kept; not split')", offline)
        offline = self.assertSucceeded(self.run_sync(
            'downgrade', '--sql', f'a0d1:{test_commands.head()}')).stdout
        self.assertIn('DROP TABLE audit_notes', offline)


base.for_each_backend(RevisionTests, globals())


class RevisionLocationTest(base.SQLiteBackend, base.TestCase):

    def test_installed_versions_dir_is_detected(self):
        purelib = sysconfig.get_paths()['purelib']
        self.assertTrue(environment.installed(
            os.path.join(purelib, 'alembic_migrations', 'versions')))
        self.assertFalse(environment.installed(self.workdir))

    def test_version_path_receives_the_file(self):
        target = os.path.join(self.workdir, 'elsewhere')
        os.mkdir(target)
        before = sorted(os.listdir(environment.VERSIONS_DIR))
        result = self.assertSucceeded(self.sync(
            'revision', '-m', 'out of tree', '--version-path', target))
        written = result.stdout.strip()
        self.assertEqual(target, os.path.dirname(written))
        self.assertTrue(os.path.exists(written))
        self.assertEqual(before, sorted(os.listdir(environment.VERSIONS_DIR)))

    def test_revision_in_phase_returns_every_revision_written(self):
        target = os.path.join(self.workdir, 'extra')
        os.mkdir(target)
        migrate = self.make_migration(version_path=target)
        written = migrate.revision_in_phase('expand', 'first',
                                            version_path=target)
        # The branch roots it created first, then the revision asked for.
        self.assertEqual(
            sorted(glob.glob(os.path.join(target, '*.py'))),
            sorted(s.path for s in written))
        expand_root, contract_root, first = written
        self.assertEqual(
            [test_commands.head()] * 2,
            [expand_root.down_revision, contract_root.down_revision])
        self.assertEqual({'expand'}, expand_root.branch_labels)
        self.assertEqual({'contract'}, contract_root.branch_labels)
        self.assertEqual(expand_root.revision, first.down_revision)
        second, = migrate.revision_in_phase('contract', 'second',
                                            version_path=target)
        self.assertEqual(contract_root.revision, second.down_revision)

    def test_version_path_must_exist(self):
        result = self.sync('revision', '-m', 'nowhere', '--version-path',
                           os.path.join(self.workdir, 'missing'))
        self.assertEqual(2, result.code, result)
        self.assertIn('is not a directory', result.stderr)

    def test_autogenerate_refuses_an_unversioned_database(self):
        env = self.scratch_environment()
        # The models' tables without a version table (a table the models
        # never declared alone would be an empty database for enamel).
        models.Base.metadata.create_all(self.engine)
        result = self.sync_process('revision', '-m', 'x', '--autogenerate',
                                   env=env)
        self.assertEqual(6, result.code, result)
        self.assertEqual([], glob.glob(os.path.join(
            env['PYTHONPATH'], 'alembic_migrations', 'versions', '*_x.py')))
