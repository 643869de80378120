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

"""Rolling upgrades, step by step: the worked example of the developer
guide (renaming ``tasks.action`` to ``tasks.name`` over two releases) on
every engine.

The revisions and model changes are written into a scratch copy of
``alembic_migrations`` and ``enamel`` (the real ones are not changed);
the previous release's services are played by ``tests.previous_models``.
"""

import ast
import glob
import json
import logging
import os
import re
import signal

from alembic import script as alembic_script
import fixtures
import sqlalchemy as sa
from sqlalchemy import orm

from enamel import heads_file
from enamel import migration
from enamel import phases
from tests import base
from tests import previous_models
from tests import walker


def todays_version():
    """The version table's rows, sorted, once ``upgrade`` applied every
    bundled revision: where the worked example starts. Read from the
    script directory, so that a new revision keeps the tests green."""
    return base.upgraded_version(base.bundled_script())


def todays_revisions():
    """Every bundled revision id, oldest first (each after the revisions
    it revises: the order a walk takes in a linear history)."""
    return [r.revision for r in base.bundled_script().walk_revisions()][::-1]


def branched_today():
    """Does today's history already have the expand and contract
    branches? (Then a first ``revision --expand`` writes no roots.)"""
    return phases.branched(base.bundled_script())


# Release N, expand: the new column and the data migration that fills it.
EXPAND_IMPORTS = 'from alembic import op\nimport sqlalchemy as sa\n'
DATA_MIGRATION_IMPORTS = EXPAND_IMPORTS + (
    '\nfrom enamel import data_migrations as online_data_migrations\n')
EXPAND_BODY = '''

def upgrade():
    op.add_column('tasks', sa.Column('name', sa.String(255), nullable=True))


def downgrade():
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('name')


TASKS = sa.table('tasks', sa.column('id', sa.Integer),
                 sa.column('action', sa.String),
                 sa.column('name', sa.String))


# Copy tasks.action to tasks.name where name is not set yet, paging by id.
copy_action_to_name = online_data_migrations.update_in_batches(
    'copy_action_to_name', TASKS, key=TASKS.c.id,
    where=TASKS.c.name.is_(None), values={'name': TASKS.c.action})


data_migrations = (copy_action_to_name,)
'''

# Release N, expand, as its author writes it: "revision --data-migration
# copy_action_to_name", then these edits of the skeleton (old text, new
# text, how often the old text occurs).
FILL_IN = (
    ('from alembic import op  # noqa: F401\n', 'from alembic import op\n',
     1),
    ('def upgrade():\n    pass\n',
     "def upgrade():\n    op.add_column('tasks', sa.Column('name', "
     "sa.String(255), nullable=True))\n", 1),
    ('def downgrade():\n    pass\n',
     "def downgrade():\n    with op.batch_alter_table('tasks') as batch:\n"
     "        batch.drop_column('name')\n", 1),
    ("'TODO_table'", "'tasks'", 1),
    ('TODO_old_column', 'action', 2),
    ('TODO_new_column', 'name', 3),
    ('copy_action_to_name = online_data_migrations.unfinished('
     'copy_action_to_name)\n', '', 1),
)

# Release N+1, contract: the old column goes, the new one becomes NOT NULL.
CONTRACT_BODY = '''

def upgrade():
    postgresql = op.get_context().dialect.name == 'postgresql'
    if postgresql:
        # NOT NULL without scanning tasks under ACCESS EXCLUSIVE: a
        # validated CHECK first (PostgreSQL 12+; lint: set-not-null).
        op.create_check_constraint(op.f('ck_tasks_name_not_null'), 'tasks',
                                   'name IS NOT NULL',
                                   postgresql_not_valid=True)
        with op.get_context().autocommit_block():
            op.execute('ALTER TABLE tasks VALIDATE CONSTRAINT '
                       'ck_tasks_name_not_null')
    with op.batch_alter_table('tasks') as batch:
        batch.alter_column('name', existing_type=sa.String(255),
                           nullable=False)
        batch.drop_column('action')
    if postgresql:
        op.drop_constraint(op.f('ck_tasks_name_not_null'), 'tasks',
                           type_='check')


def downgrade():
    with op.batch_alter_table('tasks') as batch:
        batch.add_column(sa.Column('action', sa.String(255), nullable=True))
    op.execute('UPDATE tasks SET action = name')
    with op.batch_alter_table('tasks') as batch:
        batch.alter_column('action', existing_type=sa.String(255),
                           nullable=False)
        batch.alter_column('name', existing_type=sa.String(255),
                           nullable=True)
'''

# An expand revision that adds tasks.note, then waits on a FIFO (named in
# ENAMEL_TEST_BLOCK_FIFOS: it writes the first, reads the second); the
# contract revision after it drops the column.
BLOCK_ON_FIFOS = '''\
    fifos = os.environ.get('ENAMEL_TEST_BLOCK_FIFOS')
    if fifos:
        reached, release = fifos.split(os.pathsep)
        with open(reached, 'w') as f:
            f.write('reached')
        with open(release) as f:  # until the test writes it
            f.read()
'''
BLOCKING_EXPAND_BODY = '''

def upgrade():
    op.add_column('tasks', sa.Column('note', sa.String(255), nullable=True))
''' + BLOCK_ON_FIFOS + '''

def downgrade():
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('note')
'''
DROP_NOTE_BODY = '''

def upgrade():
    with op.batch_alter_table('tasks') as batch:
        batch.drop_column('note')


def downgrade():
    op.add_column('tasks', sa.Column('note', sa.String(255), nullable=True))
'''
# Release N+1's contract revision, blocked on the FIFOs between its two
# statements, the first committed (by MySQL itself; on PostgreSQL in an
# autocommit block).
BLOCKING_CONTRACT_BODY = '''

def upgrade():
    with op.get_context().autocommit_block():
        op.alter_column('tasks', 'name', existing_type=sa.String(255),
                        nullable=False)
''' + BLOCK_ON_FIFOS + '''    op.drop_column('tasks', 'action')
''' + CONTRACT_BODY[CONTRACT_BODY.index('\n\ndef downgrade():'):]
# The same, its first statement one that leaves the previous release
# writing (a table of its own, dropped after the FIFOs).
BLOCKING_CONTRACT_WRITABLE_BODY = '''

def upgrade():
    with op.get_context().autocommit_block():
        op.create_table('contract_started',
                        sa.Column('id', sa.Integer, primary_key=True))
''' + BLOCK_ON_FIFOS + '''    op.drop_table('contract_started')
    op.alter_column('tasks', 'name', existing_type=sa.String(255),
                    nullable=False)
    op.drop_column('tasks', 'action')
''' + CONTRACT_BODY[CONTRACT_BODY.index('\n\ndef downgrade():'):]
EMPTY_BODY = '''

def upgrade():
    pass


def downgrade():
    pass
'''
DEADLINE = 120  # seconds; a bound against hanging, not a speed target

TASK_ACTION = ('    action: orm.Mapped[str] = orm.mapped_column(\n'
               '        sa.String(255), nullable=False)\n')
ENDED_AT = '    ended_at: orm.Mapped'
NAME_NULLABLE = ('    name: orm.Mapped[typing.Optional[str]] = '
                 'orm.mapped_column(\n        sa.String(255))\n')
NAME_NOT_NULL = ('    name: orm.Mapped[str] = orm.mapped_column(\n'
                 '        sa.String(255), nullable=False)\n')
DATA_MIGRATION = 'copy_action_to_name'


class RollingUpgradeSteps(base.ScratchEnvironment):
    """The steps of a rolling upgrade that the tests take: writing
    revisions, editing models, the previous release at work."""

    def check(self):
        result = self.run_sync('check', '--format', 'json')
        report = json.loads(result.stdout)
        self.assertEqual(result.code, report['exit_code'], result)
        return report

    def write_revision(self, phase, message, body, imports=''):
        """``revision --<phase>``, then replace its empty body; the
        revision id."""
        result = self.assertSucceeded(self.run_sync(
            'revision', f'--{phase}', '-m', message))
        # The last path printed: the branch roots come first.
        path = result.stdout.splitlines()[-1]
        with open(path) as f:
            source = f.read()
        head, _ = source.split('\n\ndef upgrade():', 1)
        head = head.replace('"""\n\n', '"""\n\n' + imports, 1)
        with open(path, 'w') as f:
            f.write(head + body)
        return re.search(r"^revision = '(\w+)'", source, re.M).group(1)

    def scratch_script(self):
        """The ``ScriptDirectory`` of the scratch copy, as it is now."""
        return alembic_script.ScriptDirectory(
            os.path.join(self.scratch, 'alembic_migrations'))

    def expected_version(self, *revisions):
        """The version table's rows, sorted, once today's revisions and
        ``revisions`` (with what they need) are applied: the applied
        revisions no other applied one descends from or depends on, read
        from the scratch copy's script directory (one row after a first
        expand revision on a linear history; the contract head too on a
        branched one)."""
        script = self.scratch_script()
        held, below = set(), set()
        for revision in todays_version() + list(revisions):
            held |= phases.applied(script, (revision,))
        for revision in held:
            below |= phases.applied(script, (revision,)) - {revision}
        return sorted(held - below)

    def added(self, phase=None):
        """The ids of the revisions the test added to the scratch copy,
        oldest first: what it wrote, with the branch roots a first
        ``revision --expand`` wrote when today's history had no branches;
        only those on ``phase``'s branch (alembic's branch labels) when
        given. Counts and orders are read from here, so that the tests
        hold on whatever history today's is."""
        today = set(todays_revisions())
        return [r.revision
                for r in list(self.scratch_script().walk_revisions())[::-1]
                if r.revision not in today
                and (phase is None or phase in r.branch_labels)]

    def history_before_the_branches(self):
        """For a test of the move into the rolling-upgrade layout: make
        the scratch history one without the expand and contract branches.
        When today's history has them, the files of every revision on or
        after them go (the revisions before the branches' roots stay) and
        the HEADS file is rewritten; a history without them is kept. The
        scratch history's heads."""
        script = self.scratch_script()
        if phases.branched(script):
            kept = phases.Layout(script).before_branches()
            for revision in script.walk_revisions():
                if revision.revision not in kept:
                    stem = os.path.splitext(revision.path)[0]
                    for path in [revision.path] + glob.glob(f'{stem}_*.sql'):
                        os.remove(path)
            heads_file.write(self.versions)
        return self.scratch_script().get_heads()

    def assertContractWaits(self, reason):
        """``upgrade --contract`` before its time changes nothing: refused
        (9) with ``reason`` while a contract revision the test added is
        pending (release N's only one is the contract branch's root, which
        its first expand revision wrote where today's history had no
        branches); with none pending, "nothing to do"."""
        version = sorted(self.stored_version())
        pending = set(self.added('contract')) - phases.applied(
            self.scratch_script(), version)
        result = self.run_sync('upgrade', '--contract')
        if pending:
            self.assertEqual(9, result.code, result)
            self.assertIn(reason, result.stderr)
        else:
            self.assertSucceeded(result)
            self.assertEqual('contract: nothing to do\n', result.stderr)
        self.assertEqual(version, sorted(self.stored_version()))

    def revision_path(self, revision_id):
        path, = glob.glob(os.path.join(self.versions, f'{revision_id}_*.py'))
        return path

    def fill_in(self, path, edits):
        """Edit the file at ``path``: ``(old, new, count)`` each, where
        ``old`` must occur exactly ``count`` times."""
        with open(path) as f:
            source = f.read()
        for old, new, count in edits:
            self.assertEqual(count, source.count(old), old)
            source = source.replace(old, new)
        with open(path, 'w') as f:
            f.write(source)
        return source

    def start_branches(self):
        """Today's head, then the expand and contract branches (written
        by a first ``revision --expand``), applied."""
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertSucceeded(self.run_sync('revision', '--expand', '-m',
                                           'start the branches'))
        self.assertSucceeded(self.run_sync('upgrade'))

    def edit_models(self, old, new):
        path = os.path.join(self.scratch, 'enamel', 'models.py')
        with open(path) as f:
            source = f.read()
        self.assertIn(old, source)
        with open(path, 'w') as f:
            f.write(source.replace(old, new, 1))

    def release_n(self):
        """Release N: an expand revision with its data migration, from
        the skeleton of ``revision --data-migration``, and the model
        gaining ``name``; returns the expand revision id."""
        path = self.assertSucceeded(self.run_sync(
            'revision', '--data-migration', DATA_MIGRATION, '-m',
            'add tasks.name')).stdout.splitlines()[-1]
        source = self.fill_in(path, FILL_IN)
        self.edit_models(ENDED_AT, NAME_NULLABLE + ENDED_AT)
        return re.search(r"^revision = '(\w+)'", source, re.M).group(1)

    def release_n_plus_1(self, body=CONTRACT_BODY, imports=''):
        """Release N+1: the contract revision (``body``, with ``imports``
        before alembic's and SQLAlchemy's); ``action`` leaves the model
        and ``name`` becomes NOT NULL."""
        contract = self.write_revision('contract', 'drop tasks.action',
                                       body, imports + EXPAND_IMPORTS)
        self.edit_models(NAME_NULLABLE, NAME_NOT_NULL)
        self.edit_models(TASK_ACTION, '')
        return contract

    def previous_release_writes(self, count, start=0):
        """The previous release inserts ``count`` tasks."""
        with orm.Session(self.engine) as session:
            for i in range(start, start + count):
                session.add(previous_models.Task(
                    uuid=f'00000000-0000-0000-0000-{i:012d}',
                    action=f'action-{i}', project_id='p'))
            session.commit()

    def previous_release_reads_and_updates(self):
        with orm.Session(self.engine) as session:
            tasks = session.scalars(sa.select(previous_models.Task)
                                    .order_by(previous_models.Task.id)).all()
            self.assertTrue(tasks)
            first = tasks[0].id
            tasks[0].state = 'running'
            tasks[0].items.append(previous_models.TaskItem(
                uuid='10000000-0000-0000-0000-000000000000',
                action='step'))
            session.commit()
        with orm.Session(self.engine) as session:
            task = session.get(previous_models.Task, first)
            self.assertEqual('running', task.state)
            self.assertEqual(['step'], [i.action for i in task.items])

    def names(self):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(
                'SELECT name FROM tasks ORDER BY id')).scalars().all()

    def columns(self):
        return {c['name']: c for c in
                sa.inspect(self.engine).get_columns('tasks')}


class RollingUpgradeTests(RollingUpgradeSteps):

    # -- the worked example --------------------------------------------------

    def test_rename_a_column_over_two_releases(self):
        # The previous release runs on a database at today's head.
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertEqual(0, self.check()['exit_code'])
        self.previous_release_writes(25)

        # Release N arrives: expand pending (3), contract refused (9).
        expand = self.release_n()
        # What release N added: its expand revision, and the branches'
        # roots when today's history had none (the first --expand wrote
        # them).
        roots = [r for r in self.added() if r != expand]
        self.assertEqual(0 if branched_today() else 2, len(roots))
        # The skeleton, filled in, passes flake8 and the lint.
        lint = self.flake8(self.revision_path(expand))
        self.assertEqual(0, lint.returncode, lint.stdout + lint.stderr)
        self.assertSucceeded(self.run_sync('lint'))
        report = self.check()
        self.assertEqual(3, report['exit_code'])
        self.assertEqual('upgrade_pending', report['state'])
        self.assertEqual(sorted(self.added('expand')),
                         sorted(report['phases']['expand']))
        self.assertIn(expand, report['phases']['expand'])
        self.assertEqual(self.added('contract'),
                         report['phases']['contract'])
        self.assertContractWaits('expand revision(s) pending')
        self.assertEqual(todays_version(), sorted(self.stored_version()))

        # Expand, while the previous release keeps working.
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        self.assertIn('name', self.columns())
        self.previous_release_reads_and_updates()
        self.previous_release_writes(5, start=25)
        report = self.check()
        self.assertEqual(7, report['exit_code'])
        self.assertEqual([], report['phases']['expand'])
        self.assertEqual({f'{expand}.{DATA_MIGRATION}': 30},
                         report['phases']['data_migrations'])
        version_after_expand = sorted(self.stored_version())

        # Contract is refused while rows are left, and changes nothing.
        self.assertContractWaits(f'{expand}.{DATA_MIGRATION}: 30')
        self.assertEqual(version_after_expand, sorted(self.stored_version()))

        # The data migration, in batches: 1 while rows are left, then 0.
        result = self.run_sync('online-data-migrations', '--max-count',
                               '12', '--batch-size', '5')
        self.assertEqual(1, result.code, result)
        self.assertIn(f'{expand}.{DATA_MIGRATION}: 12 rows done, 18 left',
                      result.stderr)
        result = self.run_sync('online-data-migrations', '--max-count',
                               '12', '--format', 'json')
        self.assertEqual(1, result.code, result)
        report = json.loads(result.stdout)
        self.assertEqual(1, report['exit_code'])
        [outcome] = report['migrations']
        # With the progress figures (enamel.progress): an estimated total,
        # the time it ran, the rate, the time the rows left would take.
        figures = {key: outcome.pop(key) for key in (
            'seconds', 'rows_per_second', 'eta_seconds')}
        self.assertEqual(
            {'name': f'{expand}.{DATA_MIGRATION}', 'done': 12, 'left': 6,
             'total': 18, 'error': None}, outcome)
        self.assertGreater(figures['rows_per_second'], 0)
        self.assertAlmostEqual(
            6 / figures['rows_per_second'], figures['eta_seconds'], delta=1)
        self.assertEqual(7, self.check()['exit_code'])
        result = self.assertSucceeded(self.run_sync(
            'online-data-migrations'))
        self.assertIn('6 rows done, 0 left', result.stderr)
        self.assertEqual([f'action-{i}' for i in range(30)], self.names())
        result = self.assertSucceeded(self.run_sync(
            'online-data-migrations'))
        # Nothing left: one short line, no figures.
        self.assertIn(f'{expand}.{DATA_MIGRATION}: nothing to do',
                      result.stderr)
        self.assertNotIn('rows done', result.stderr)

        # Only the contract branch's root is left, when release N wrote
        # it: 8; then contract. (Nothing is left on a history that had
        # the branches: 0.)
        contract_root = self.added('contract')
        report = self.check()
        self.assertEqual(8 if contract_root else 0, report['exit_code'])
        self.assertEqual(contract_root, report['phases']['contract'])
        self.assertEqual({f'{expand}.{DATA_MIGRATION}': 0},
                         report['phases']['data_migrations'])
        self.assertSucceeded(self.run_sync('upgrade', '--contract'))
        self.assertEqual(0, self.check()['exit_code'])

        # Release N+1: the contract revision.
        contract = self.release_n_plus_1()
        # The worked example passes the lint as written.
        self.assertSucceeded(self.run_sync('lint'))
        report = self.check()
        self.assertEqual(8, report['exit_code'])
        self.assertEqual([contract], report['phases']['contract'])
        self.assertSucceeded(self.run_sync('upgrade', '--contract'))
        columns = self.columns()
        self.assertNotIn('action', columns)
        self.assertFalse(columns['name']['nullable'])
        report = self.check()
        self.assertEqual(0, report['exit_code'], report)
        # The data migration closed with its contract revision.
        self.assertEqual({}, report['phases']['data_migrations'])
        self.assertEqual(30, len(self.names()))

    def test_plain_upgrade_runs_expand_data_migrations_contract(self):
        # A database at today's head moves into the branched layout with
        # a plain upgrade: no stamp, no manual step.
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(7)
        self.release_n()
        self.release_n_plus_1()
        result = self.assertSucceeded(self.run_sync('upgrade'))
        order = [line.split()[2] for line in result.stderr.splitlines()
                 if line.startswith('Upgraded to ')]
        # Every revision the releases added, each once, the expand ones
        # (the branch roots' too) before the contract ones.
        self.assertEqual(sorted(self.added()), sorted(order), result.stderr)
        contract = self.added('contract')
        self.assertEqual(contract, order[len(order) - len(contract):],
                         result.stderr)
        self.assertIn('7 rows done, 0 left', result.stderr)
        report = self.check()
        self.assertEqual(0, report['exit_code'], report)
        self.assertEqual([f'action-{i}' for i in range(7)], self.names())
        again = self.assertSucceeded(self.run_sync('upgrade'))
        self.assertNotIn('Upgraded', again.stderr)

    def test_a_signal_during_the_expand_phase_never_starts_the_contract(
            self):
        self.assertSucceeded(self.run_sync('upgrade'))
        expand = self.write_revision('expand', 'add tasks.note',
                                     BLOCKING_EXPAND_BODY,
                                     'import os\n\n' + EXPAND_IMPORTS)
        contract = self.write_revision('contract', 'drop tasks.note',
                                       DROP_NOTE_BODY, EXPAND_IMPORTS)
        process, _, release = self.start_blocked_upgrade(self.env, DEADLINE)
        process.send_signal(signal.SIGTERM)
        seen = []
        if self.BACKEND != 'postgresql':
            # The running revision finishes (PostgreSQL stops at once).
            for line in process.stderr:
                seen.append(line)
                if 'the running revision finishes' in line:
                    break
            with open(release, 'w') as f:
                f.write('go')
        _, stderr = process.communicate(timeout=DEADLINE)
        stderr = ''.join(seen) + stderr
        self.assertEqual(143, process.returncode, stderr)
        self.assertNotIn('Traceback', stderr)
        self.assertIn('enamel-sync: error: terminated: stopped ',
                      stderr.splitlines()[-1])
        # No revision of the contract phase ran, its branch root (when
        # this test wrote one) included.
        for revision in self.added('contract'):
            self.assertNotIn(f'Upgraded to {revision}', stderr)
            self.assertNotIn(revision, self.stored_version())
        # The column the contract revision drops is still there.
        columns = {c['name'] for c in sa.inspect(self.engine).get_columns(
            'tasks')}
        if self.BACKEND == 'postgresql':
            self.assertNotIn('note', columns)
        else:
            self.assertIn(f'Upgraded to {expand}', stderr)
            self.assertIn('note', columns)
        # A rerun finishes both phases.
        result = self.assertSucceeded(self.run_sync('upgrade'))
        self.assertIn(f'Upgraded to {contract}', result.stderr)

    # A cut revision's first statement committed (not on SQLite).
    @base.only_on('MySQL', 'PostgreSQL')
    def test_a_contract_revision_cut_midway_is_finished_by_upgrade(self):
        # Cut after its first statement, the contract revision that closes
        # the data migration leaves it open: the plain upgrade, which runs
        # the expand phase first when one is open, finishes the revision
        # in flight first (it refused, naming itself as the way out).
        contract = self.cut_in_contract_revision(BLOCKING_CONTRACT_BODY)
        self.assertFalse(self.columns()['name']['nullable'])
        self.assertIn('action', self.columns())
        self.assertNotIn(contract, self.stored_version())
        # An expand revision written since (alembic plans it first).
        expand = self.write_revision('expand', 'nothing', EMPTY_BODY)
        # The expand phase alone leaves it in flight: refused, with the
        # plain upgrade as the way on.
        refused = self.run_sync('upgrade', '--expand')
        self.assertEqual(1, refused.code, refused)
        self.assertIn(f'Run "enamel-sync upgrade" (or the upgrade that '
                      f'includes {contract})', refused.stderr)

        result = self.assertSucceeded(self.run_sync('upgrade'))

        self.assertIn(f'Revision {contract} of the contract phase was cut '
                      'midway by an earlier run: it is finished first',
                      result.stderr)
        self.assertIn(f'Resuming revision {contract}', result.stderr)
        self.assertIn(f'Upgraded to {contract}', result.stderr)
        self.assertIn(f'Upgraded to {expand}', result.stderr)
        self.assertNotIn('action', self.columns())
        self.assertEqual([f'action-{i}' for i in range(5)], self.names())
        self.assertEqual(0, self.check()['exit_code'])

    # A cut revision's first statement committed (not on SQLite).
    @base.only_on('MySQL', 'PostgreSQL')
    def test_a_refusal_after_a_cut_contract_revision_says_it_ran(self):
        # The plain upgrade finishes the cut contract revision first; a
        # data migration of an expand revision written since, stuck, then
        # stops the run: the message says the finished revision is
        # applied, not only the expand phase.
        contract = self.cut_in_contract_revision(BLOCKING_CONTRACT_BODY)
        expand = self.write_revision(
            'expand', 'stuck', EMPTY_BODY + STUCK_DATA_MIGRATION)

        refused = self.run_sync('upgrade')

        self.assertEqual(1, refused.code, refused)
        self.assertIn(f'{expand}.stuck (3 rows left); the expand phase is '
                      f'applied, contract revision {contract} (cut by an '
                      'earlier run) is applied', refused.stderr)
        self.assertIn(contract, self.stored_version())
        self.assertIn(expand, self.stored_version())
        self.assertNotIn('action', self.columns())

    # A cut revision's first statement committed (not on SQLite).
    @base.only_on('MySQL', 'PostgreSQL')
    def test_a_cut_contract_revision_waits_for_rows_written_since(self):
        contract = self.cut_in_contract_revision(
            BLOCKING_CONTRACT_WRITABLE_BODY)
        self.previous_release_writes(3, start=5)

        refused = self.run_sync('upgrade')

        # Refused as the contract phase is, nothing changed; its advice,
        # followed, finishes it.
        self.assertEqual(9, refused.code, refused)
        self.assertIn('enamel-sync online-data-migrations', refused.stderr)
        self.assertNotIn(contract, self.stored_version())
        self.assertIn('action', self.columns())
        self.assertSucceeded(self.run_sync('online-data-migrations'))
        result = self.assertSucceeded(self.run_sync('upgrade'))
        self.assertIn(f'Resuming revision {contract}', result.stderr)
        self.assertNotIn('action', self.columns())
        self.assertNotIn('contract_started', self.tables())
        self.assertEqual([f'action-{i}' for i in range(8)], self.names())
        self.assertEqual(0, self.check()['exit_code'])

    def cut_in_contract_revision(self, body):
        """Five rows of the previous release, release N, and release
        N+1's contract revision (``body``, blocking on the FIFOs after
        its first statement) cut there by kill -9 in a plain upgrade;
        the contract revision's id."""
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(5)
        self.release_n()
        contract = self.release_n_plus_1(body, 'import os\n\n')
        process, _, _ = self.start_blocked_upgrade(self.env, DEADLINE)
        process.kill()
        process.communicate(timeout=DEADLINE)
        return contract

    def test_a_failing_data_migration_exits_2_and_the_others_progress(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(4)
        expand = self.write_revision(
            'expand', 'add tasks.name', EXPAND_BODY.replace(
                'data_migrations = (copy_action_to_name,)',
                BROKEN_DATA_MIGRATION), DATA_MIGRATION_IMPORTS)
        # The contract revision that completes it, pending below.
        self.write_revision('contract', 'drop tasks.action', CONTRACT_BODY,
                            EXPAND_IMPORTS)
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        result = self.run_sync('online-data-migrations', '--format',
                               'json')
        self.assertEqual(2, result.code, result)
        outcomes = json.loads(result.stdout)['migrations']
        self.assertEqual([f'{expand}.broken', f'{expand}.{DATA_MIGRATION}'],
                         [o['name'] for o in outcomes])
        self.assertIn('no such column', outcomes[0]['error'].lower()
                      .replace('unknown column', 'no such column')
                      .replace('does not exist', 'no such column'))
        self.assertEqual((4, 0, None), (outcomes[1]['done'],
                                        outcomes[1]['left'],
                                        outcomes[1]['error']))
        self.assertIn(f'Data migration {expand}.broken failed',
                      result.stderr)
        # check cannot count the broken one's rows: an error, not a state.
        self.assertEqual(1, self.run_sync('check').code)
        refused = self.run_sync('upgrade', '--contract')
        self.assertEqual(1, refused.code, refused)
        self.assertIn(f'{expand}.broken could not count', refused.stderr)

    def test_data_migrations_run_next_to_each_other(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(300)
        self.release_n()
        # Release N+1's contract revision: what is left once the rows
        # are copied (8).
        self.release_n_plus_1()
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        runs = [self.sync_process('online-data-migrations', '--batch-size',
                                  '7', env=self.env, wait=False)
                for _ in range(3)]
        for process in runs:
            stdout, stderr = process.communicate(timeout=300)
            self.assertEqual(0, process.returncode, stderr)
        self.assertEqual([f'action-{i}' for i in range(300)], self.names())
        self.assertEqual(8, self.check()['exit_code'])


class AutogenerateSplitTest(RollingUpgradeSteps, base.SQLiteBackend,
                            base.TestCase):
    """``revision --autogenerate`` in a branched history writes one
    revision per phase."""

    def test_additions_to_expand_removals_to_contract(self):
        self.start_branches()
        self.edit_models(ENDED_AT, NAME_NULLABLE + ENDED_AT)
        self.edit_models(
            '    user_id: orm.Mapped[typing.Optional[str]] = '
            'orm.mapped_column(\n        sa.String(255))\n', '')
        result = self.assertSucceeded(self.run_sync(
            'revision', '--autogenerate', '-m', 'name in, user_id out'))
        expand, contract = result.stdout.split()
        with open(expand) as f:
            expand_source = f.read()
        with open(contract) as f:
            contract_source = f.read()
        expand_up = expand_source.split('def downgrade')[0]
        contract_up = contract_source.split('def downgrade')[0]
        self.assertIn("add_column(sa.Column('name'", expand_up)
        self.assertNotIn('drop_column', expand_up)
        self.assertIn("drop_column('user_id')", contract_up)
        self.assertNotIn('add_column', contract_up)
        expand_id = re.search(r"^revision = '(\w+)'", expand_source,
                              re.M).group(1)
        self.assertIn(f"depends_on = '{expand_id}'", contract_source)
        self.assertSucceeded(self.run_sync('lint'))
        self.assertEqual(3, self.check()['exit_code'])
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        self.assertEqual(8, self.check()['exit_code'])
        self.assertSucceeded(self.run_sync('upgrade', '--contract'))
        self.assertEqual(0, self.check()['exit_code'])

    def test_undoing_a_contract_change_depends_on_that_revision(self):
        # rolling-upgrades.rst's worked example: contract made tasks.name
        # NOT NULL; the model makes it nullable again.
        self.assertSucceeded(self.run_sync('upgrade'))
        self.release_n()
        contract = self.release_n_plus_1()
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertEqual(0, self.check()['exit_code'])
        self.edit_models(NAME_NOT_NULL, NAME_NULLABLE)
        result = self.assertSucceeded(self.run_sync(
            'migrate', '-m', 'name nullable'))
        path, = result.stdout.split()
        with open(path) as f:
            source = f.read()
        self.assertIn('(expand)', source)
        # It runs after the contract revision that made name NOT NULL.
        self.assertIn(f"depends_on = '{contract}'", source)
        self.assertSucceeded(self.run_sync('lint'))
        # An upgraded database...
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertEqual(0, self.check()['exit_code'])
        self.assertTrue(self.columns()['name']['nullable'])
        # ... and a new one end the same; migrate has nothing left.
        fresh = self.write_config(
            'sqlite:///' + os.path.join(self.workdir, 'fresh.sqlite'),
            name='fresh.conf')
        self.assertSucceeded(self.run_sync('upgrade', config_file=fresh))
        check = self.run_sync('check', config_file=fresh)
        self.assertEqual(0, check.code, check)
        again = self.assertSucceeded(self.run_sync(
            'migrate', '-m', 'name nullable again'))
        self.assertEqual('', again.stdout)

    def test_autogenerate_before_the_branches_writes_nothing(self):
        self.history_before_the_branches()
        self.assertSucceeded(self.run_sync('upgrade'))
        before = self.revision_files()
        for phase in ('--expand', '--contract'):
            result = self.run_sync('revision', phase, '--autogenerate',
                                   '-m', 'too early')
            self.assertEqual(2, result.code, result)
            self.assertIn('create them with "revision --expand -m MSG"',
                          result.stderr)
            self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertEqual(before, self.revision_files())

    def test_a_type_change_is_refused_with_the_manual_pattern(self):
        self.start_branches()
        self.edit_models("uuid: orm.Mapped[str] = orm.mapped_column("
                         "sa.String(36)", "uuid: orm.Mapped[str] = "
                         "orm.mapped_column(sa.String(64)")
        result = self.run_sync('revision', '--autogenerate', '-m', 'wider')
        self.assertEqual(1, result.code, result)
        self.assertIn('cannot place the type change of tasks.uuid',
                      result.stderr)
        self.assertIn('online data migration', result.stderr)

    def test_a_column_becoming_computed_is_refused_with_the_manual_pattern(
            self):
        # No engine makes a column computed in place: autogenerate drops
        # and adds it again (RecreateColumnOp), which no phase can hold.
        self.start_branches()
        before = self.revision_files()
        self.edit_models(
            "    user_id: orm.Mapped[typing.Optional[str]] = "
            "orm.mapped_column(\n        sa.String(255))\n",
            "    user_id: orm.Mapped[typing.Optional[str]] = "
            "orm.mapped_column(\n        sa.String(255), "
            "sa.Computed('project_id'))\n")
        result = self.run_sync('revision', '--autogenerate', '-m',
                               'computed')
        self.assertEqual(1, result.code, result)
        self.assertIn('cannot place the change of computed column '
                      'tasks.user_id', result.stderr)
        self.assertIn('online data migration', result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertEqual(before, self.revision_files())


class RevisionOutputTest(RollingUpgradeSteps, base.SQLiteBackend,
                         base.TestCase):
    """``revision`` prints the path of every file it writes, one per
    line, oldest first: committing what was printed commits the whole
    change."""

    def new_files(self):
        return set(glob.glob(os.path.join(self.versions, '*.py')) +
                   glob.glob(os.path.join(self.versions, '*.sql')))

    def written(self, *argv):
        """``revision ARGV``: the paths printed, checked against the files
        that appeared, in an order where no revision comes before one it
        revises or depends on."""
        before = self.new_files()
        result = self.assertSucceeded(self.run_sync('revision', *argv))
        printed = result.stdout.splitlines()
        self.assertEqual(sorted(self.new_files() - before), sorted(printed))
        revisions = [self.identifiers(p) for p in printed
                     if p.endswith('.py')]
        ids = {r['revision'] for r in revisions}
        seen = set()
        for fields in revisions:
            needs = set()
            for name in ('down_revision', 'depends_on'):
                value = fields[name]
                needs.update([value] if isinstance(value, str)
                             else value or ())
            self.assertEqual(set(), (needs & ids) - seen, printed)
            seen.add(fields['revision'])
        return printed

    @staticmethod
    def identifiers(path):
        with open(path) as f:
            tree = ast.parse(f.read())
        return {target.id: ast.literal_eval(node.value)
                for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name) and target.id in (
                    'revision', 'down_revision', 'depends_on',
                    'branch_labels')}

    def test_every_file_written_is_printed_oldest_first(self):
        tip, = self.history_before_the_branches()
        self.assertSucceeded(self.run_sync('upgrade'))
        # The first --expand also writes the roots of both branches.
        expand_root, contract_root, first = self.written(
            '--expand', '-m', 'first')
        self.assertEqual(
            [(tip, ('expand',)), (tip, ('contract',))],
            [(self.identifiers(p)['down_revision'],
              self.identifiers(p)['branch_labels'])
             for p in (expand_root, contract_root)])
        self.assertEqual(self.identifiers(expand_root)['revision'],
                         self.identifiers(first)['down_revision'])
        # Then one revision, one path.
        self.assertEqual(1, len(self.written('--contract', '-m', 'second')))
        # --sql-files: the revision, then the two files it runs.
        path, upgrade_sql, downgrade_sql = self.written(
            '--expand', '--sql-files', '-m', 'by sql')
        stem = os.path.splitext(path)[0]
        self.assertEqual([f'{stem}_upgrade.sql', f'{stem}_downgrade.sql'],
                         [upgrade_sql, downgrade_sql])
        # autogenerate split in two: expand, then contract.
        self.assertSucceeded(self.run_sync('upgrade'))
        self.edit_models(ENDED_AT, NAME_NULLABLE + ENDED_AT)
        self.edit_models(
            '    user_id: orm.Mapped[typing.Optional[str]] = '
            'orm.mapped_column(\n        sa.String(255))\n', '')
        expand, contract = self.written('--autogenerate', '-m', 'split')
        self.assertEqual(self.identifiers(expand)['revision'],
                         self.identifiers(contract)['depends_on'])


class PlainUpgradeOutputTest(RollingUpgradeSteps, base.SQLiteBackend,
                             base.TestCase):
    """What a plain ``upgrade`` of a branched history says: each phase
    what it did, and "Nothing to do" only when no phase had anything to
    do."""

    def upgrade(self):
        """``upgrade``: its lines on stderr, elapsed times and rates left
        out."""
        result = self.assertSucceeded(self.run_sync('upgrade'))
        self.assertEqual('', result.stdout)
        return [re.sub(r'( in [0-9.]+s| \([0-9]+ rows/s over [0-9.]+s\))$',
                       '', line)
                for line in result.stderr.splitlines()]

    def assertNothingToDo(self, lines):
        self.assertEqual(1, len(lines), lines)
        prefix = 'Nothing to do: the database is at '
        self.assertTrue(lines[0].startswith(prefix), lines)
        self.assertEqual(sorted(self.stored_version()),
                         sorted(lines[0][len(prefix):].split(', ')))

    def test_each_phase_says_what_it_did(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(3)
        expand = self.release_n()
        # The contract branch's root, when release N wrote it (today's
        # history had no branches).
        contract_root = self.added('contract')
        self.assertEqual(0 if branched_today() else 1, len(contract_root))
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        moved = (f'Data migration {expand}.{DATA_MIGRATION}: 3 rows done, '
                 '0 left')
        # Expand applied, rows left: expand has nothing to do, the rest
        # has (contract only when its root is left).
        self.assertEqual(
            ['expand: nothing to do', moved] +
            ([f'Upgraded to {r} (contract branch root)'
              for r in contract_root] or ['contract: nothing to do']),
            self.upgrade())
        # Everything done (the data migration is open, with no rows left).
        self.assertNothingToDo(self.upgrade())
        # Release N+1: only its contract revision is left to apply.
        contract = self.release_n_plus_1()
        self.assertEqual(
            ['expand: nothing to do',
             f'Data migration {expand}.{DATA_MIGRATION}: nothing to do',
             f'Upgraded to {contract} (drop tasks.action)'],
            self.upgrade())
        self.assertNothingToDo(self.upgrade())

    def test_no_open_data_migration_is_said_too(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        printed = self.assertSucceeded(self.run_sync(
            'revision', '--expand', '-m', 'first')).stdout.splitlines()
        # The branches' roots first, when today's history had none.
        *roots, first = [os.path.basename(p).split('_')[0] for p in printed]
        self.assertEqual(0 if branched_today() else 2, len(roots))
        expand_root = [f'Upgraded to {r} (expand branch root)'
                       for r in roots[:1]]
        contract_root = [f'Upgraded to {r} (contract branch root)'
                         for r in roots[1:]]
        self.assertEqual(
            expand_root + [f'Upgraded to {first} (first)',
                           'data migrations: nothing to do (none open)'] +
            (contract_root or ['contract: nothing to do']),
            self.upgrade())
        self.assertNothingToDo(self.upgrade())

    def test_an_env_py_transaction_per_run_commits_expand_first_too(self):
        # Both phases share one alembic run, but an env.py that holds one
        # transaction for the whole run cannot commit between them: that
        # run ends after the expand phase, and the contract phase is one
        # of its own ("Upgraded to" is said once committed).
        env_py = os.path.join(self.scratch, 'alembic_migrations', 'env.py')
        with open(env_py) as f:
            source = f.read()
        self.assertIn('    context.configure(\n', source)
        with open(env_py, 'w') as f:
            f.write(source.replace('    context.configure(\n', (
                "    kwargs['transaction_per_migration'] = False\n"
                '    context.configure(\n'), 1))
        self.assertSucceeded(self.run_sync('upgrade'))
        written = [os.path.basename(p).split('_')[0] for phase in (
            'expand', 'contract') for p in self.assertSucceeded(
                self.run_sync('revision', f'--{phase}', '-m', phase)
            ).stdout.splitlines()]
        expand = [r for r in written if r in self.added('expand')]
        contract = [r for r in written if r in self.added('contract')]

        lines = self.upgrade()

        self.assertEqual(
            [line for line in lines if line.startswith('Upgraded to ')
             and line.split()[2] in expand] +
            ['data migrations: nothing to do (none open)'] +
            [line for line in lines if line.startswith('Upgraded to ')
             and line.split()[2] in contract], lines)
        self.assertEqual(len(written), len(lines) - 1, lines)
        self.assertEqual(self.expected_version(*written),
                         sorted(self.stored_version()))


class WalkRollingUpgradeTests(RollingUpgradeSteps,
                              walker.WalkVersionsMixin):
    """The walker on the worked example's history: the expand revision,
    its data migration in batches, the contract revision, with hooks, and
    the previous release's services between expand and contract."""

    def setUp(self):
        super().setUp()
        self.calls = []
        self.logger = self.useFixture(fixtures.FakeLogger(
            name='enamel.data_migrations', level=logging.INFO))

    def migration(self):
        """A Migration whose revisions are the scratch copy's (env.py and
        enamel are the real ones: no model is read by a walk)."""
        migrate = migration.Migration(self.load_conf())

        @migrate.configure
        def scratch_revisions(config):
            config.set_main_option('version_locations', self.versions)
            return config
        self.addCleanup(migrate.engine.dispose)
        return migrate

    def hook(self, prefix, revision, func):
        """Define the hook ``<prefix><revision>``, recording its calls."""
        def recorded(*args):
            self.calls.append((prefix.strip('_'), revision))
            return func(*args)
        setattr(self, f'{prefix}{revision}', recorded)

    def roots(self):
        """The two branch roots' ids: expand's, contract's (the
        revisions that declare the labels)."""
        script = self.migration().script
        return tuple(script.get_revision(label).revision
                     for label in ('expand', 'contract'))

    def both_releases(self):
        """Write releases N and N+1 and hook their revisions; the ids of
        the expand and the contract revision."""
        expand = self.release_n()
        contract = self.release_n_plus_1()

        def before_expand(engine):
            # The previous release has been writing before the upgrade.
            self.previous_release_writes(5)

        def after_expand(engine, data):
            self.assertIsNone(self.columns()['name']['default'])
            self.previous_release_reads_and_updates()
            self.previous_release_writes(2, start=5)

        def before_data_migration(engine):
            names = self.names()
            self.assertEqual([None] * 7, names)
            return len(names)

        def after_data_migration(engine, rows):
            self.assertEqual([f'action-{i}' for i in range(rows)],
                             self.names())
            # The previous release still reads what it wrote, and the
            # rows the data migration changed.
            with orm.Session(self.engine) as session:
                self.assertEqual(
                    [f'action-{i}' for i in range(rows)],
                    session.scalars(
                        sa.select(previous_models.Task.action)
                        .order_by(previous_models.Task.id)).all())

        def after_contract(engine, data):
            columns = self.columns()
            self.assertNotIn('action', columns)
            self.assertFalse(columns['name']['nullable'])
            self.assertEqual([f'action-{i}' for i in range(7)],
                             self.names())

        def contract_undone(engine):
            self.assertIsNotNone(self.columns().get('action'))
            with self.engine.connect() as connection:
                self.assertEqual([], connection.execute(sa.text(
                    'SELECT id FROM tasks WHERE action IS NULL '
                    'OR action <> name')).all())

        def expand_undone(engine):
            self.assertNotIn('name', self.columns())
            with orm.Session(self.engine) as session:
                self.assertEqual(
                    [f'action-{i}' for i in range(7)],
                    session.scalars(
                        sa.select(previous_models.Task.action)
                        .order_by(previous_models.Task.id)).all())

        self.hook(walker.PRE_UPGRADE, expand, before_expand)
        self.hook(walker.CHECK, expand, after_expand)
        self.hook(walker.PRE_DATA_MIGRATION, expand, before_data_migration)
        self.hook(walker.CHECK_DATA_MIGRATION, expand, after_data_migration)
        self.hook(walker.CHECK, contract, after_contract)
        self.hook(walker.POST_DOWNGRADE, contract, contract_undone)
        self.hook(walker.POST_DOWNGRADE, expand, expand_undone)
        return expand, contract

    def test_walk_expand_data_migration_contract(self):
        expand, contract = self.both_releases()
        expand_root, contract_root = self.roots()
        walked = self.walk_versions(batch_size=2)
        # Every revision once, each after those it revises or depends on;
        # today's first, in the walk's rounds.
        self.assertEqual(sorted(todays_revisions() + self.added()),
                         sorted(walked))
        script = self.migration().script
        for position, revision in enumerate(walked):
            needs = phases.applied(script, (revision,)) - {revision}
            self.assertEqual(set(), needs - set(walked[:position]), walked)
        today = len(todays_revisions())
        self.assertEqual(sorted(todays_revisions()), sorted(walked[:today]))
        # Then a round per contract revision: the contract root (when the
        # test's first expand revision wrote it) with the expand root it
        # depends on; then the expand revision, its data migration, the
        # contract revision.
        self.assertEqual([r for r in (expand_root, contract_root)
                          if r in self.added()] + [expand, contract],
                         walked[today:])
        self.assertEqual([
            ('pre_upgrade', expand), ('check', expand),
            ('pre_data_migration', expand), ('check_data_migration', expand),
            ('check', contract),
            ('post_downgrade', contract), ('post_downgrade', expand),
        ], self.calls)
        # Seven rows at two per batch: four batches, in one run.
        self.assertIn(f'Data migration {expand}.{DATA_MIGRATION}: 7 rows '
                      'done, 0 left', self.logger.output)
        self.assertEqual(1, self.logger.output.count('rows done'))
        self.assertEqual({'alembic_version'}, self.tables())

    def test_stairway(self):
        expand, contract = self.both_releases()
        self.walk_versions(stairway=True)
        self.assertEqual([
            ('pre_upgrade', expand), ('check', expand),
            ('post_downgrade', expand),
            ('pre_data_migration', expand), ('check_data_migration', expand),
            ('check', contract), ('post_downgrade', contract),
            ('post_downgrade', contract), ('post_downgrade', expand),
        ], self.calls)
        self.assertEqual({'alembic_version'}, self.tables())

    def test_rows_left_before_contract_fail_the_walk(self):
        expand, contract = self.both_releases()
        check = getattr(self, f'_check_data_migration_{expand}')

        def and_one_more(engine, rows):
            check(engine, rows)
            # A service of the previous release writes after the run.
            self.previous_release_writes(1, start=rows)
        setattr(self, f'_check_data_migration_{expand}', and_one_more)
        error = self.assertRaises(walker.WalkError, self.walk_versions)
        self.assertIn(f'upgrade of revision {contract} (drop tasks.action)'
                      f' on {self.engine.dialect.name}: contract refused: '
                      'data migrations have rows left '
                      f'({expand}.{DATA_MIGRATION}: 1)', str(error))
        self.assertNotIn(('check', contract), self.calls)
        self.assertNotIn(contract, self.stored_version())

    def test_failing_data_migration_fails_the_walk(self):
        expand = self.write_revision(
            'expand', 'add tasks.name', EXPAND_BODY.replace(
                'data_migrations = (copy_action_to_name,)',
                BROKEN_DATA_MIGRATION), DATA_MIGRATION_IMPORTS)
        self.hook(walker.PRE_DATA_MIGRATION, expand, lambda engine: None)
        self.hook(walker.CHECK_DATA_MIGRATION, expand,
                  lambda engine, data: None)
        error = self.assertRaises(walker.WalkError, self.walk_versions)
        self.assertIn(f'data migration {expand}.broken of revision {expand} '
                      '(add tasks.name)', str(error))
        self.assertIn(f'on {self.engine.dialect.name}', str(error))
        self.assertIn('could not count its rows', str(error))
        self.assertEqual([('pre_data_migration', expand)], self.calls)

    def test_data_migration_that_leaves_rows_fails_the_walk(self):
        expand = self.write_revision(
            'expand', 'add tasks.name', EXPAND_BODY.replace(
                'data_migrations = (copy_action_to_name,)',
                STUCK_DATA_MIGRATION), DATA_MIGRATION_IMPORTS)
        error = self.assertRaises(walker.WalkError, self.walk_versions)
        self.assertIn(f'data migration {expand}.stuck of revision {expand}',
                      str(error))
        self.assertIn(f'on {self.engine.dialect.name}', str(error))
        self.assertIn('left 3 rows after 0 done', str(error))


# Listed first: its failure must not stop the migration after it.
BROKEN_DATA_MIGRATION = '''

def broken(connection, limit):
    connection.execute(sa.text('UPDATE tasks SET no_such = 1'))
    return 0, 0


data_migrations = (broken, copy_action_to_name)'''


# Never done: it changes nothing and always has rows left.
STUCK_DATA_MIGRATION = '''

def stuck(connection, limit):
    return 0, 3


data_migrations = (stuck,)'''


base.for_each_backend(RollingUpgradeTests, globals())
base.for_each_backend(WalkRollingUpgradeTests, globals())
