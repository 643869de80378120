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

"""``revision --data-migration NAME``: the skeleton of an online data
migration in a new expand revision.

The skeleton filled in is the worked example of
:mod:`tests.functional.test_rolling_upgrade` (on every engine); these
tests, on SQLite, cover the skeleton as written, left unfilled, written
with ``--autogenerate`` and ``--sql-files``, and the inputs refused.
"""

import importlib.util
import json
import os
import re

from sqlalchemy import orm

from enamel import phases
from tests import base
from tests.functional import test_rolling_upgrade
from tests import previous_models

NAME = test_rolling_upgrade.DATA_MIGRATION
USER_ID = ('    user_id: orm.Mapped[typing.Optional[str]] = orm.mapped_column('
           '\n        sa.String(255))\n')
USER_ID_NOT_NULL = ('    user_id: orm.Mapped[str] = orm.mapped_column(\n'
                    '        sa.String(255), nullable=False)\n')
# Filling the tasks.user_id left NULL by the previous release, before
# contract makes it NOT NULL.
FILL_USER_ID = (
    ("'TODO_table'", "'tasks'", 1),
    ("    sa.column('TODO_old_column', sa.String),\n", '', 1),
    ('TODO_new_column', 'user_id', 3),
    ("TABLE.c.TODO_old_column", "'nobody'", 1),
    ('fill_user_id = online_data_migrations.unfinished(fill_user_id)\n',
     '', 1),
)


def revision_id(source):
    return re.search(r"^revision = '(\w+)'", source, re.M).group(1)


def load(path):
    """Import the revision file at ``path`` as a module."""
    spec = importlib.util.spec_from_file_location('scaffolded', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class DataMigrationScaffoldTest(test_rolling_upgrade.RollingUpgradeSteps,
                                base.SQLiteBackend, base.TestCase):

    def scaffold(self, *argv):
        """``revision --data-migration ...``; the new files' paths."""
        result = self.assertSucceeded(self.run_sync(
            'revision', '--data-migration', *argv))
        return result.stdout.split()

    def read(self, path):
        with open(path) as f:
            return f.read()

    def assertCleanFile(self, path):
        lint = self.flake8(path)
        self.assertEqual(0, lint.returncode, lint.stdout + lint.stderr)

    def assertUsageError(self, result, text):
        self.assertEqual(2, result.code, result)
        self.assertIn(text, result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertNotIn('Traceback', result.stderr)

    def test_the_skeleton_is_an_expand_revision_declaring_the_function(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        before = self.revision_files()
        *roots, path = self.scaffold(NAME, '-m', 'add tasks.name')
        # Both branch roots and the new revision, nothing else; all three
        # printed, the roots first.
        self.assertEqual(sorted(roots + [path]),
                         sorted(set(self.revision_files()) - set(before)))
        source = self.read(path)
        rev = revision_id(source)
        heads = json.loads(self.assertSucceeded(self.run_sync(
            'heads', '--format', 'json')).stdout)
        self.assertEqual({rev: ['expand']},
                         {h['revision']: h['branch_labels'] for h in heads
                          if 'expand' in h['branch_labels']})
        self.assertIn(f'data_migrations = ({NAME},)', source)
        self.assertIn('online_data_migrations.update_in_batches(', source)
        self.assertIn('rolling-upgrades.rst', source)
        # It imports cleanly and declares the function by its name ...
        module = load(path)
        self.assertEqual((module.copy_action_to_name,),
                         module.data_migrations)
        self.assertEqual(NAME, module.copy_action_to_name.__name__)
        # ... which, until filled in, refuses to run.
        self.assertRaises(NotImplementedError, module.copy_action_to_name,
                          None, 0)
        # flake8 and the lint accept it as written.
        self.assertCleanFile(path)
        self.assertSucceeded(self.run_sync('lint'))

    def test_an_unfilled_skeleton_is_never_applied(self):
        # Applied with its upgrade() still empty, the revision would never
        # run the upgrade() its author writes next.
        self.assertSucceeded(self.run_sync('upgrade'))
        *_, path = self.scaffold(NAME, '-m', 'add tasks.name')
        expand = revision_id(self.read(path))
        # Where the new revision's range starts: today's one head, or the
        # expand branch's head (one revision, as --sql ranges start, also
        # where today's heads are several).
        bundled = base.tip(base.bundled_script())
        for argv in (('upgrade',), ('upgrade', '--expand'),
                     ('upgrade', 'heads'), ('upgrade', expand),
                     ('upgrade', '--revision', 'expand@head'),
                     ('upgrade', '--sql', '--expand'),
                     ('upgrade', '--sql', f'{bundled}:{expand}')):
            result = self.run_sync(*argv)
            self.assertEqual(1, result.code, (argv, result))
            self.assertEqual(1, len(result.stderr.splitlines()), result)
            self.assertNotIn('Traceback', result.stderr)
            for text in (f'revision {expand} ', path,
                         f'unfinished data migration {NAME}',
                         'TODO_ placeholders', 'upgrade()',
                         'unfinished() line', 'nothing was changed'):
                self.assertIn(text, result.stderr)
            self.assertEqual('', result.stdout, argv)
            self.assertEqual(test_rolling_upgrade.todays_version(),
                             sorted(self.stored_version()), argv)
        self.assertNotIn('name', self.columns())
        # Filled in, it applies.
        self.fill_in(path, test_rolling_upgrade.FILL_IN)
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        self.assertEqual(self.expected_version(expand),
                         sorted(self.stored_version()))
        self.assertIn('name', self.columns())

    def test_an_unfilled_skeleton_applied_anyway_stops_the_rolling_upgrade(
            self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(3)
        *_, path = self.scaffold(NAME, '-m', 'not written yet')
        expand = revision_id(self.read(path))
        # upgrade refuses it, but stamp (or an enamel-sync that did not
        # refuse) can still put the database there.
        self.assertSucceeded(self.run_sync('stamp', expand))
        after_expand = sorted(self.stored_version())
        self.assertEqual(self.expected_version(expand), after_expand)
        # check cannot count its rows: an error, never "nothing left".
        result = self.run_sync('check')
        self.assertEqual(1, result.code, result)
        self.assertIn(f'{expand}.{NAME} could not count its rows: not '
                      'written yet', result.stderr)
        result = self.run_sync('online-data-migrations', '--format', 'json')
        self.assertEqual(2, result.code, result)
        outcome, = json.loads(result.stdout)['migrations']
        self.assertIn('not written yet', outcome['error'])
        # Neither contract nor a plain upgrade gets past it.
        result = self.run_sync('upgrade', '--contract')
        if phases.branched(base.bundled_script()):
            # Today's contract branch is applied: nothing to get past.
            self.assertSucceeded(result)
            self.assertEqual('contract: nothing to do\n', result.stderr)
        else:
            self.assertEqual(1, result.code, result)
            self.assertIn('not written yet', result.stderr)
        refused = self.run_sync('upgrade')
        self.assertEqual(1, refused.code, refused)
        if phases.branched(base.bundled_script()):
            # No contract revision pending: no rule to go past.
            self.assertIn('the expand phase is applied: fix the data '
                          'migration', refused.stderr)
            self.assertNotIn('--ignore-phase-rules', refused.stderr)
        else:
            self.assertIn('the contract phase is not', refused.stderr)
            self.assertIn('add --ignore-phase-rules', refused.stderr)
        self.assertEqual(after_expand, sorted(self.stored_version()))

    def test_autogenerate_puts_the_skeleton_in_the_expand_half(self):
        # A column made NOT NULL: contract alters it, the data migration
        # fills the rows the previous release left NULL before that.
        self.start_branches()
        with orm.Session(self.engine) as session:
            for i in range(5):
                session.add(previous_models.Task(
                    uuid=f'00000000-0000-0000-0000-{i:012d}',
                    action='a', user_id=None if i % 2 == 0 else 'u'))
            session.commit()
        self.edit_models(USER_ID, USER_ID_NOT_NULL)
        expand, contract = self.scaffold(
            'fill_user_id', '--autogenerate', '--rev-id', 'f111',
            '-m', 'user_id not null')
        expand_source, contract_source = self.read(expand), self.read(
            contract)
        self.assertEqual('f111', revision_id(expand_source))
        self.assertIn('data_migrations = (fill_user_id,)', expand_source)
        self.assertNotIn('data_migrations', contract_source)
        self.assertIn("depends_on = 'f111'", contract_source)
        self.assertIn('nullable=False', contract_source)
        for path in (expand, contract):
            self.assertCleanFile(path)
        self.assertSucceeded(self.run_sync('lint'))

        self.fill_in(expand, FILL_USER_ID)
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        report = self.check()
        self.assertEqual(7, report['exit_code'])
        self.assertEqual({'f111.fill_user_id': 3},
                         report['phases']['data_migrations'])
        self.assertEqual(9, self.run_sync('upgrade', '--contract').code)
        result = self.run_sync('online-data-migrations', '--max-count', '2',
                               '--batch-size', '1')
        self.assertEqual(1, result.code, result)
        self.assertIn('2 rows done, 1 left', result.stderr)
        self.assertSucceeded(self.run_sync('online-data-migrations'))
        self.assertEqual(8, self.check()['exit_code'])
        self.assertSucceeded(self.run_sync('upgrade', '--contract'))
        self.assertEqual(0, self.check()['exit_code'])
        self.assertFalse(self.columns()['user_id']['nullable'])

    def test_autogenerate_without_a_change_still_writes_the_skeleton(self):
        self.start_branches()
        path, = self.scaffold(NAME, '--autogenerate', '-m', 'data only')
        source = self.read(path)
        self.assertIn(f'data_migrations = ({NAME},)', source)
        self.assertIn('def upgrade():\n    # ### commands auto generated',
                      source)
        self.assertCleanFile(path)
        heads = self.assertSucceeded(self.run_sync('heads')).stdout
        self.assertIn(f'{revision_id(source)} (expand)', heads)

    def test_with_sql_files(self):
        *roots, path, upgrade_sql, downgrade_sql = self.scaffold(
            NAME, '--sql-files', '-m', 'by sql')
        # The branch roots, written by a first expand revision.
        self.assertEqual(
            0 if phases.branched(base.bundled_script()) else 2, len(roots))
        stem = os.path.splitext(path)[0]
        self.assertEqual([f'{stem}_upgrade.sql', f'{stem}_downgrade.sql'],
                         [upgrade_sql, downgrade_sql])
        source = self.read(path)
        self.assertIn("sql_files.run(__file__, 'upgrade')", source)
        self.assertIn(f'data_migrations = ({NAME},)', source)
        self.assertCleanFile(path)
        self.assertSucceeded(self.run_sync('lint'))

    def test_bad_input_is_a_usage_error_and_writes_nothing(self):
        before = self.revision_files()
        for argv, text in (
                (['1st', '-m', 'x'],
                 "--data-migration '1st': a Python identifier is needed"),
                (['copy-rows', '-m', 'x'], 'a Python identifier is needed'),
                (['class', '-m', 'x'], 'a Python identifier is needed'),
                (['upgrade', '-m', 'x'],
                 'the revision file already uses that name'),
                ([NAME, '--contract', '-m', 'x'],
                 'cannot be combined with --contract'),
                ([NAME, '--head', 'base', '-m', 'x'],
                 'cannot be combined with --head'),
                ([NAME], 'revision needs a message')):
            self.assertUsageError(self.run_sync(
                'revision', '--data-migration', *argv), text)
        # Not even the branch roots were written.
        self.assertEqual(before, self.revision_files())
