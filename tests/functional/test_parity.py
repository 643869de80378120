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

"""enamel-sync against plain alembic: the same env.py and revisions, run
once by each on the same engine, must leave the same database.

Each case writes revisions into a scratch copy of the environment (and
sometimes changes its env.py), runs a sequence of commands with plain
``alembic`` (its own command line, or ``alembic.command`` with a
``Config``), records the outcome, empties the database, runs the same
sequence with ``enamel-sync`` (or the Python API), and compares: whether
each command succeeded, the version table, the schema (tables, columns,
indexes), the rows the revisions wrote (each records the heads that
``get_current_heads()`` showed it and the keyword arguments it got from
``run_migrations``) and what ``on_version_apply`` callbacks saw.
"""

import os
import subprocess
import sys

from alembic import command
from alembic import config as alembic_config
import sqlalchemy as sa

from enamel import environment
from tests import base
from tests.functional import test_commands
from tests import walker

DEADLINE = 300  # seconds; a bound against hanging

REVISION = '''\
"""{doc}"""

from alembic import op
import sqlalchemy as sa

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def record(**kw):
    heads = ' '.join(sorted(op.get_context().get_current_heads()))
    op.execute(sa.text(
        'INSERT INTO parity_log (revision, seen_heads, marker) '
        'VALUES (:revision, :heads, :marker)').bindparams(
            revision=revision, heads=heads, marker=kw.get('marker', '')))


def upgrade(**kw):
{body}
    record(**kw)


def downgrade(**kw):
    pass
'''

LOG_TABLE = '''\
    op.create_table(
        'parity_log',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('revision', sa.String(32), nullable=False),
        sa.Column('seen_heads', sa.String(255), nullable=False),
        sa.Column('marker', sa.String(32), nullable=False))'''

INDEX_BUILT_OUTSIDE_A_TRANSACTION = '''\
    op.create_table('indexed', sa.Column('id', sa.Integer(), primary_key=True),
                    sa.Column('x', sa.Integer()))
    with op.get_context().autocommit_block():
        # What CREATE INDEX CONCURRENTLY needs on PostgreSQL.
        op.create_index('ix_indexed_x', 'indexed', ['x'],
                        postgresql_concurrently=True)
    op.create_table('after_index',
                    sa.Column('id', sa.Integer(), primary_key=True))'''

FAILING = '''\
    op.create_table('half_done',
                    sa.Column('id', sa.Integer(), primary_key=True))
    op.execute('INSERT INTO no_such_table (id) VALUES (1)')'''

FIXED = '''\
    op.create_table('half_done',
                    sa.Column('id', sa.Integer(), primary_key=True))'''

PLAIN = '''\
    op.create_table({table!r},
                    sa.Column('id', sa.Integer(), primary_key=True))'''

# env.py variants: (text to find, what to replace it with, everywhere).
CALLBACK_IN_ENV = ('def run_migrations_offline', '''\
def _parity_callback(ctx, step, heads, run_args):
    import os
    with open(os.environ['PARITY_CALLBACK_LOG'], 'a') as f:
        f.write(f'env {step.up_revision_id} {sorted(heads)} '
                f'{sorted(run_args)}\\n')


config.attributes['on_version_apply'] = _parity_callback


def run_migrations_offline''')
PER_RUN_TRANSACTION = ('    context.configure(\n', '''\
    kwargs['transaction_per_migration'] = False
    context.configure(
''')
RUN_MIGRATIONS_KW = ('context.run_migrations()',
                     'context.run_migrations(marker="from-env")')


class ParityCase:
    """Runs the same commands through plain alembic and enamel-sync."""

    def scratch(self, revisions, *patches):
        """A scratch environment with ``revisions`` ([(id, body)], each
        after the previous one, the first after the bundled head) and
        env.py ``patches``; the environment variables to use it."""
        env = self.scratch_environment()
        root = env['PYTHONPATH']
        self.versions = os.path.join(root, 'alembic_migrations', 'versions')
        env_py = os.path.join(root, 'alembic_migrations', 'env.py')
        with open(env_py) as f:
            text = f.read()
        for find, replacement in patches:
            self.assertIn(find, text)
            text = text.replace(find, replacement)
        with open(env_py, 'w') as f:
            f.write(text)
        down = test_commands.head()
        for revision, body in revisions:
            self.write(revision, down, body)
            down = revision
        self.callback_log = os.path.join(self.workdir, 'callbacks.log')
        env.update(PYTHONDONTWRITEBYTECODE='1',
                   PARITY_CALLBACK_LOG=self.callback_log)
        self.env = env
        return env

    def write(self, revision, down, body):
        path = os.path.join(self.versions, f'{revision}_parity.py')
        with open(path, 'w') as f:
            f.write(REVISION.format(doc=f'parity {revision}',
                                    revision=revision, down=down, body=body))

    def alembic_ini(self):
        path = os.path.join(self.workdir, 'alembic.ini')
        with open(path, 'w') as f:
            f.write('[alembic]\n'
                    f'script_location = {self.env["PYTHONPATH"]}/'
                    'alembic_migrations\n'
                    'path_separator = os\n'
                    f'sqlalchemy.url = {self.url.replace("%", "%%")}\n')
        return path

    def alembic(self, *argv):
        """Plain ``alembic`` (its command line) on the scratch env; True
        when it succeeded."""
        process_env = dict(os.environ, HOME=self.workdir, **self.env)
        process_env.pop('OS_DATABASE__CONNECTION', None)
        result = subprocess.run(
            [sys.executable, '-m', 'alembic', '-c', self.alembic_ini(),
             *argv], cwd=self.workdir, env=process_env, text=True,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=DEADLINE)
        return result.returncode == 0

    def enamel(self, *argv):
        """``enamel-sync`` on the scratch env; True when it succeeded."""
        result = self.sync_process(*argv, env=self.env, timeout=DEADLINE)
        self.assertNotIn('Traceback', result.stderr)
        return result.code == 0

    def outcome(self, succeeded):
        """What the database and the callbacks show now."""
        rows = []
        if 'parity_log' in self.tables():
            with self.engine.connect() as connection:
                rows = [tuple(r) for r in connection.execute(sa.text(
                    'SELECT revision, seen_heads, marker FROM parity_log '
                    'ORDER BY id'))]
        callbacks = []
        if os.path.exists(self.callback_log):
            with open(self.callback_log) as f:
                callbacks = f.read().splitlines()
        return dict(succeeded=succeeded, version=sorted(self.stored_version()),
                    schema=walker.schema(self.engine), rows=rows,
                    callbacks=callbacks)

    def empty_database(self):
        metadata = sa.MetaData()
        with self.engine.begin() as connection:
            metadata.reflect(connection)
            metadata.drop_all(connection)
        if os.path.exists(self.callback_log):
            os.remove(self.callback_log)

    def compare(self, sequence):
        """Run ``sequence(run)`` with plain alembic, then with enamel-sync,
        on the same emptied database; assert the outcomes are equal after
        every step and return enamel-sync's.

        ``sequence`` is a generator: it calls ``run(*argv)`` (True when
        the command succeeded), yields what it ran, and may change the
        revisions between steps.
        """
        outcomes = {}
        for name, run in (('alembic', self.alembic),
                          ('enamel-sync', self.enamel)):
            self.empty_database()
            outcomes[name] = []
            for step in sequence(run):
                outcomes[name].append(self.outcome(step))
        for step, (plain, ours) in enumerate(zip(outcomes['alembic'],
                                                 outcomes['enamel-sync'])):
            self.assertEqual(plain, ours, f'step {step}')
        return outcomes['enamel-sync']

    def recover(self):
        """The documented recovery after FAILING on MySQL, which
        committed its CREATE TABLE: drop what it left."""
        if self.BACKEND == 'mysql':
            with self.engine.begin() as connection:
                connection.execute(sa.text('DROP TABLE half_done'))


class ParityTests(ParityCase):

    def test_autocommit_block_then_a_failure_then_the_fixed_rerun(self):
        self.scratch([('a0000001', LOG_TABLE),
                      ('a0000002', INDEX_BUILT_OUTSIDE_A_TRANSACTION),
                      ('a0000003', FAILING)])

        def sequence(run):
            self.write('a0000003', 'a0000002', FAILING)
            yield run('upgrade', 'heads')
            self.recover()
            self.write('a0000003', 'a0000002', FIXED)
            yield run('upgrade', 'heads')

        failed, fixed = self.compare(sequence)

        self.assertFalse(failed['succeeded'])
        # The version names what is committed: the revision with the
        # autocommitted index, not the failed one.
        self.assertEqual(['a0000002'], failed['version'])
        self.assertIn('ix_indexed_x', str(failed['schema']['indexed']))
        self.assertIn('after_index', failed['schema'])
        self.assertTrue(fixed['succeeded'])
        self.assertEqual(['a0000003'], fixed['version'])
        self.assertIn('half_done', fixed['schema'])
        # Each revision saw the one before it as the current revision.
        self.assertEqual([('a0000001', test_commands.head(), ''),
                          ('a0000002', 'a0000001', ''),
                          ('a0000003', 'a0000002', '')], fixed['rows'])

    def test_transaction_per_run_set_in_env_py(self):
        self.scratch([('b0000001', LOG_TABLE),
                      ('b0000002', PLAIN.format(table='second')),
                      ('b0000003', FAILING)], PER_RUN_TRANSACTION)

        def sequence(run):
            self.write('b0000003', 'b0000002', FAILING)
            yield run('upgrade', 'heads')
            self.recover()
            self.write('b0000003', 'b0000002', FIXED)
            yield run('upgrade', 'heads')

        failed, fixed = self.compare(sequence)

        self.assertFalse(failed['succeeded'])
        self.assertTrue(fixed['succeeded'])
        self.assertEqual(['b0000003'], fixed['version'])
        self.assertIn('second', fixed['schema'])
        self.assertIn('half_done', fixed['schema'])

    def test_on_version_apply_set_in_env_py(self):
        self.scratch([('c0000001', LOG_TABLE),
                      ('c0000002', PLAIN.format(table='second'))],
                     CALLBACK_IN_ENV)

        (done,) = self.compare(lambda run: iter([run('upgrade', 'heads')]))

        self.assertTrue(done['succeeded'])
        self.assertEqual(
            [f"env {test_commands.head()} ['{test_commands.head()}'] []",
             "env c0000001 ['c0000001'] []",
             "env c0000002 ['c0000002'] []"], done['callbacks'])

    def test_run_migrations_keyword_arguments_reach_the_revisions(self):
        self.scratch([('d0000001', LOG_TABLE),
                      ('d0000002', PLAIN.format(table='second'))],
                     RUN_MIGRATIONS_KW)
        # Every revision gets the arguments: the bundled one must take them.
        bundled = os.path.join(
            self.versions, [n for n in os.listdir(self.versions)
                            if n.startswith(test_commands.head())][0])
        with open(bundled) as f:
            text = f.read()
        with open(bundled, 'w') as f:
            f.write(text.replace('def upgrade():', 'def upgrade(**kw):'))

        (done,) = self.compare(lambda run: iter([run('upgrade', 'heads')]))

        self.assertTrue(done['succeeded'])
        self.assertEqual([('d0000001', test_commands.head(), 'from-env'),
                          ('d0000002', 'd0000001', 'from-env')],
                         done['rows'])

    def test_downgrade_and_stamp(self):
        self.scratch([('e0000001', LOG_TABLE),
                      ('e0000002', PLAIN.format(table='second')),
                      ('e0000003', PLAIN.format(table='third'))])

        def sequence(run):
            yield run('upgrade', 'heads')
            yield run('downgrade', 'e0000001')
            yield run('stamp', 'e0000003')
            yield run('stamp', '--purge', 'e0000002')
            yield run('downgrade', 'base')

        outcomes = self.compare(sequence)

        self.assertEqual([['e0000003'], ['e0000001'], ['e0000003'],
                          ['e0000002'], []],
                         [o['version'] for o in outcomes])

    def test_on_version_apply_set_in_a_configure_callback(self):
        # The bundled env.py, with revisions from a directory of their own.
        self.versions = os.path.join(self.workdir, 'extra_versions')
        os.mkdir(self.versions)
        self.write('f0000001', test_commands.head(), LOG_TABLE)
        self.write('f0000002', 'f0000001', PLAIN.format(table='second'))
        self.callback_log = os.path.join(self.workdir, 'callbacks.log')
        seen = {}

        def callback_for(name):
            def callback(ctx, step, heads, run_args):
                seen.setdefault(name, []).append(
                    (step.up_revision_id, sorted(heads)))
            return callback

        # Plain alembic's Python API, with a Config whose attributes carry
        # the callback for env.py.
        config = alembic_config.Config()
        config.set_main_option('script_location', environment.ENV_DIR)
        config.set_main_option('path_separator', 'os')
        config.set_main_option('version_locations', os.pathsep.join(
            (environment.VERSIONS_DIR, self.versions)))
        config.set_main_option('sqlalchemy.url',
                               self.url.replace('%', '%%'))
        config.attributes['on_version_apply'] = callback_for('alembic')
        command.upgrade(config, 'heads')
        plain = self.outcome(True)
        self.empty_database()
        # enamel's Python API, with a configure callback.
        migrate = self.make_migration(version_path=self.versions)

        @migrate.configure
        def add_callback(config):
            config.attributes['on_version_apply'] = callback_for('enamel')

        migrate.upgrade('heads')

        self.assertEqual(plain, self.outcome(True))
        self.assertEqual(seen['alembic'], seen['enamel'])
        self.assertEqual([(test_commands.head(), [test_commands.head()]),
                          ('f0000001', ['f0000001']),
                          ('f0000002', ['f0000002'])], seen['enamel'])


base.for_each_backend(ParityTests, globals())


class ConcurrentIndexParityTest(base.PostgreSQLBackend, ParityCase,
                                base.TestCase):
    """Three enamel-sync upgrades at once, one revision building an index
    CONCURRENTLY, end where one plain alembic upgrade ends (plain alembic
    has no lock: it runs alone)."""

    def test_three_concurrent_upgrades_end_as_one_alembic_upgrade(self):
        self.scratch([('g0000001', LOG_TABLE),
                      ('g0000002', INDEX_BUILT_OUTSIDE_A_TRANSACTION),
                      ('g0000003', PLAIN.format(table='third'))])
        self.assertTrue(self.alembic('upgrade', 'heads'))
        plain = self.outcome(True)
        self.empty_database()

        processes = [self.sync_process('upgrade', env=self.env, wait=False)
                     for _ in range(3)]
        results = [p.communicate(timeout=DEADLINE) for p in processes]

        for process, (stdout, stderr) in zip(processes, results):
            self.assertEqual(0, process.returncode, stderr)
        self.assertEqual(plain, self.outcome(True))
        applied = sum(stderr.count('Upgraded to g0000002')
                      for _, stderr in results)
        self.assertEqual(1, applied)
        with self.engine.connect() as connection:
            valid = connection.execute(sa.text(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                "'ix_indexed_x'::regclass")).scalar()
        self.assertTrue(valid)
