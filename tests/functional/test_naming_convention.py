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

"""Revisions run with the service's naming convention, not enamel's.

A history written without a convention (an explicitly named CHECK,
unnamed primary keys, unique constraints, foreign keys and indexes) runs
through plain ``alembic``, with an ``env.py`` of its own, and through
``enamel-sync`` with a database that declares no convention
(:attr:`enamel.databases.Database.naming_convention`): every constraint
and index gets the same name. enamel's own history keeps the names its
models' convention gives.
"""

import glob
import os
import subprocess
import sys

import sqlalchemy as sa

from enamel import databases
from enamel import environment
from enamel import heads_file
from tests import base

DEADLINE = 300  # seconds; a bound against hanging

REVISION = '''\
"""{doc}"""

from alembic import op
import sqlalchemy as sa

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{body}


def downgrade():
    pass
'''

# Written as a service without a convention writes them.
HISTORY = (
    ('n0000001', None, '''\
    op.create_table(
        'parent',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('code', sa.String(20), unique=True))
    op.create_table(
        'child',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('parent_id', sa.Integer(), sa.ForeignKey('parent.id')),
        sa.Column('x', sa.Integer()),
        sa.Column('a', sa.Integer()),
        sa.Column('b', sa.Integer()),
        sa.Column('y', sa.Integer(), index=True),
        sa.CheckConstraint('x > 0', name='check_x0y'),
        sa.UniqueConstraint('a', 'b'),
        sa.Index(None, 'a', 'y'))'''),
    ('n0000002', 'n0000001', '''\
    op.create_table(
        'grandchild',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('child_id', sa.Integer(),
                  sa.ForeignKey('child.id', ondelete='CASCADE')),
        sa.Column('c', sa.Integer()),
        sa.Column('d', sa.Integer()))
    op.create_index(None, 'grandchild', ['c', 'd'])
    with op.batch_alter_table('grandchild') as batch:
        batch.create_check_constraint('check_c0d', 'c > d')'''),
)

# The service's own env.py, run by plain alembic: its models' metadata has
# no naming convention.
PLAIN_ENV = '''\
from alembic import context
import sqlalchemy as sa

config = context.config
target_metadata = sa.MetaData()
engine = sa.create_engine(config.get_main_option('sqlalchemy.url'),
                          poolclass=sa.pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
'''

BOOKKEEPING = databases.OWN_TABLES


def names(engine):
    """Every table's primary key, foreign key, unique, CHECK and index
    names (with their columns), as the inspector reflects them; enamel's
    and alembic's bookkeeping tables left out."""
    found = {}
    inspector = sa.inspect(engine)
    for table in sorted(inspector.get_table_names()):
        if table in BOOKKEEPING:
            continue

        def named(items, columns='column_names'):
            return sorted((i['name'] or '', tuple(i.get(columns) or ()))
                          for i in items)

        found[table] = dict(
            pk=inspector.get_pk_constraint(table).get('name'),
            fks=named(inspector.get_foreign_keys(table),
                      'constrained_columns'),
            uniques=named(inspector.get_unique_constraints(table)),
            checks=named(inspector.get_check_constraints(table), None),
            indexes=named(inspector.get_indexes(table)))
    return found


class NamingConventionTests:

    def run_alembic(self, root, *argv):
        ini = os.path.join(root, 'alembic.ini')
        with open(ini, 'w') as f:
            f.write('[alembic]\n'
                    f'script_location = {root}\n'
                    'path_separator = os\n'
                    f'sqlalchemy.url = {self.url.replace("%", "%%")}\n')
        env = dict(os.environ, HOME=self.workdir, PYTHONDONTWRITEBYTECODE='1')
        result = subprocess.run(
            [sys.executable, '-m', 'alembic', '-c', ini, *argv],
            cwd=self.workdir, env=env, text=True, capture_output=True,
            stdin=subprocess.DEVNULL, timeout=DEADLINE)
        self.assertEqual(0, result.returncode, result.stderr)

    def empty_database(self):
        metadata = sa.MetaData()
        with self.engine.begin() as connection:
            metadata.reflect(connection)
            metadata.drop_all(connection)

    def write_history(self, versions):
        for revision, down, body in HISTORY:
            with open(os.path.join(versions, f'{revision}_.py'), 'w') as f:
                f.write(REVISION.format(doc=revision, revision=revision,
                                        down=down, body=body))

    def test_a_history_without_a_convention_gets_alembic_names(self):
        # Plain alembic: the service's own environment.
        plain = os.path.join(self.workdir, 'plain')
        os.makedirs(os.path.join(plain, 'versions'))
        with open(os.path.join(plain, 'env.py'), 'w') as f:
            f.write(PLAIN_ENV)
        with open(os.path.join(environment.ENV_DIR,
                               'script.py.mako')) as f:
            template = f.read()
        with open(os.path.join(plain, 'script.py.mako'), 'w') as f:
            f.write(template)
        self.write_history(os.path.join(plain, 'versions'))
        self.run_alembic(plain, 'upgrade', 'head')
        expected = names(self.engine)
        self.empty_database()

        # enamel-sync: the same revisions as the main database's, which
        # declares no convention (as such a service's Database does).
        env = self.scratch_environment('enamel')
        scratch = env['PYTHONPATH']
        versions = os.path.join(scratch, 'alembic_migrations', 'versions')
        for path in glob.glob(os.path.join(versions, '*.py')):
            if not path.endswith('__init__.py'):
                os.remove(path)
        self.write_history(versions)
        heads_file.write(versions)
        path = os.path.join(scratch, 'enamel', 'databases.py')
        with open(path) as f:
            source = f.read()
        declared = 'lock_row=1, naming_convention=naming.NAMING_CONVENTION)'
        self.assertIn(declared, source)
        with open(path, 'w') as f:
            f.write(source.replace(declared,
                                   'lock_row=1, naming_convention=None)'))
        # The SQL for a DBA names them alike (the first revision: SQLite's
        # batch mode in the second needs a live database to reflect).
        offline = self.assertSucceeded(self.sync_process(
            'upgrade', '--sql', 'n0000001', env=env)).stdout
        self.assertIn('CONSTRAINT check_x0y CHECK', offline)
        self.assertNotIn('ck_child', offline)
        self.assertSucceeded(self.sync_process('upgrade', env=env))

        self.assertEqual(['n0000002'], self.stored_version())
        self.assertEqual(expected, names(self.engine))
        # The names a convention would have changed are alembic's.
        checks = [name for table in expected.values()
                  for name, _ in table['checks']]
        self.assertIn('check_x0y', checks)
        self.assertIn('check_c0d', checks)
        self.assertIn(('ix_child_a', ('a', 'y')),
                      expected['child']['indexes'])
        self.assertIn(('ix_grandchild_c', ('c', 'd')),
                      expected['grandchild']['indexes'])

    def test_enamel_history_keeps_its_models_convention(self):
        # Plain alembic on the bundled environment: it runs the revisions
        # with the models' metadata (its naming convention).
        ini = os.path.join(self.workdir, 'alembic.ini')
        with open(ini, 'w') as f:
            f.write('[alembic]\n'
                    f'script_location = {environment.ENV_DIR}\n'
                    'path_separator = os\n'
                    f'version_locations = {environment.VERSIONS_DIR}\n'
                    f'sqlalchemy.url = {self.url.replace("%", "%%")}\n')
        env = dict(os.environ, HOME=self.workdir)
        env.pop('OS_DATABASE__CONNECTION', None)
        result = subprocess.run(
            [sys.executable, '-m', 'alembic', '-c', ini, 'upgrade', 'head'],
            cwd=self.workdir, env=env, text=True, capture_output=True,
            stdin=subprocess.DEVNULL, timeout=DEADLINE)
        self.assertEqual(0, result.returncode, result.stderr)
        expected = names(self.engine)
        self.empty_database()

        self.assertSucceeded(self.sync('upgrade'))

        self.assertEqual(expected, names(self.engine))
        if self.BACKEND == 'postgresql':
            # The convention names the primary keys (MySQL calls each
            # PRIMARY, SQLite reflects none).
            self.assertEqual({f'pk_{t}' for t in expected},
                             {v['pk'] for v in expected.values()})


base.for_each_backend(NamingConventionTests, globals())


class DeclaredConventionTest(base.TestCase):
    """Each bundled database declares the convention of its models."""

    def test_declared_conventions_are_the_models(self):
        for database in databases.ALL:
            self.assertEqual(
                dict(database.metadata().naming_convention),
                dict(database.running_metadata().naming_convention),
                database.name)

    def test_no_convention_is_sqlalchemy_default(self):
        database = databases.Database(
            name='service', group='database', versions_dir='/nowhere',
            version_table='alembic_version', models='service.models',
            lock_row=1)
        self.assertEqual(dict(sa.MetaData().naming_convention),
                         dict(database.running_metadata().naming_convention))
