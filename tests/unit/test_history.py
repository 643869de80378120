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

"""Guards on the revision files themselves; no database needed.

The history has a single head (or one per branch, expand and contract,
the rolling-upgrade layout), revision ids are unique, every revision file
imports cleanly, carries its message and names known revisions. Each guard
is also shown catching the mistake it exists for, in a scratch directory.
"""

import glob
import importlib.util
import os

from alembic import script as alembic_script
from alembic import util
import fixtures

from enamel import databases
from enamel import environment
from enamel import heads_file
from enamel import migration
from enamel import phases
from tests import base
from tests import synthetic


def history_problems(versions_dir):
    """Everything wrong with the revision files in ``versions_dir``, one
    line each (empty when all is well)."""
    problems = []
    modules = {}
    for path in sorted(glob.glob(os.path.join(versions_dir, '*.py'))):
        name = os.path.basename(path)
        if name == '__init__.py':
            continue
        spec = importlib.util.spec_from_file_location(
            f'_enamel_history_{len(modules)}_{name[:-3]}', path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            problems.append(f'{name} does not import: '
                            f'{type(exc).__name__}: {exc}')
            continue
        revision = getattr(module, 'revision', None)
        if not isinstance(revision, str) or not revision:
            problems.append(f'{name} has no revision id')
            continue
        if revision in modules:
            problems.append(f'revision id {revision} is used by both '
                            f'{modules[revision][0]} and {name}')
            continue
        modules[revision] = (name, module)
        if not name.startswith(revision):
            problems.append(f'{name} is not named after its revision '
                            f'{revision}')
        # The message is the docstring's first line, as the template
        # writes it (alembic shows it as the revision's doc).
        message = (module.__doc__ or '').split('\n', 1)[0].strip()
        if not message or message.startswith('Revision ID:'):
            problems.append(f'{name} has no message (module docstring)')
        for function in ('upgrade', 'downgrade'):
            if not callable(getattr(module, function, None)):
                problems.append(f'{name} has no {function}()')

    parents = set()
    for revision, (name, module) in modules.items():
        for kind in ('down_revision', 'depends_on'):
            others = util.to_tuple(getattr(module, kind, None), default=())
            for other in others:
                if other not in modules:
                    problems.append(f'{name}: {kind} {other} is not a known '
                                    'revision')
        parents.update(util.to_tuple(
            getattr(module, 'down_revision', None), default=()))
    heads = sorted(set(modules) - parents)
    if modules and not problems and not _heads_are_valid(versions_dir):
        problems.append(f'the history has {len(heads)} heads '
                        f'({", ".join(heads)}); merge them '
                        '("enamel-sync merge heads -m ...") or keep one '
                        'head per branch, expand and contract')
    return problems


def _heads_are_valid(versions_dir):
    """One head, or the rolling-upgrade layout's two: the head of the
    expand branch and the head of the contract branch (alembic carries a
    branch label to every revision above the branch's root)."""
    script = alembic_script.ScriptDirectory(
        os.path.dirname(os.path.abspath(versions_dir)),
        version_locations=[versions_dir])
    heads = script.get_revisions(script.get_heads())
    if len(heads) == 1:
        return True
    phases_of_heads = sorted(
        phase for head in heads for phase in phases.PHASES
        if phase in head.branch_labels)
    return (len(heads) == len(phases.PHASES)
            and phases_of_heads == sorted(phases.PHASES))


class HistoryTest(base.TestCase):
    """The real history under alembic_migrations/versions/."""

    def test_history_has_no_problems(self):
        self.assertEqual([], history_problems(environment.VERSIONS_DIR))

    def test_heads_file_is_current(self):
        # "enamel-sync revision" and "merge" keep it current; a revision
        # file edited by hand (a data migration's skeleton filled in)
        # makes it stale.
        for database in databases.ALL:
            script = migration.Migration(None, database=database).script
            self.assertEqual(
                tuple(sorted(script.get_heads())),
                heads_file.read(database.versions_dir),
                f'{database.versions_dir}/{heads_file.NAME} is stale (a '
                'revision file was edited by hand); refresh it with '
                '"python -m enamel.heads_file" and commit it')

    def test_alembic_sees_one_head_per_branch_and_every_message(self):
        script = migration.Migration(None).script
        self.assertTrue(_heads_are_valid(environment.VERSIONS_DIR),
                        script.get_heads())
        revisions = list(script.walk_revisions())
        self.assertNotEqual([], revisions)
        for revision in revisions:
            self.assertTrue(revision.doc.strip(), revision.revision)


class GuardsTest(base.TestCase):
    """Each guard catches its mistake in a scratch versions directory."""

    def setUp(self):
        super().setUp()
        self.versions = self.useFixture(fixtures.TempDir()).path
        self.head = synthetic.write_history(self.versions, 3, None)
        self.first = synthetic.revision_id(1)

    def path(self, number):
        return os.path.join(self.versions,
                            f'{synthetic.revision_id(number)}_synthetic.py')

    def edit(self, number, old, new):
        with open(self.path(number)) as f:
            source = f.read()
        self.assertIn(old, source)
        with open(self.path(number), 'w') as f:
            f.write(source.replace(old, new))

    def test_a_good_history_passes(self):
        self.assertEqual([], history_problems(self.versions))

    def test_two_heads(self):
        second = synthetic.revision_id(2)
        self.edit(3, f"down_revision = '{second}'",
                  f"down_revision = '{self.first}'")
        problems = history_problems(self.versions)
        self.assertEqual(1, len(problems), problems)
        self.assertIn('2 heads', problems[0])
        self.assertIn(second, problems[0])
        self.assertIn(self.head, problems[0])

    def branch(self, number, down_revision, label):
        """Write revision ``number`` on ``down_revision``, labelled."""
        synthetic.write_revision(
            self.versions, synthetic.revision_id(number), down_revision,
            f'synthetic revision {number}', '    pass', '    pass')
        self.edit(number, 'branch_labels = None',
                  f'branch_labels = ({label!r},)' if label else
                  'branch_labels = None')

    def test_expand_and_contract_heads_pass(self):
        # The rolling-upgrade layout, as "revision --expand" writes it.
        self.branch(4, self.head, 'expand')
        self.branch(5, self.head, 'contract')
        self.branch(6, synthetic.revision_id(4), None)
        self.assertEqual([], history_problems(self.versions))

    def test_a_third_head_beside_expand_and_contract(self):
        self.branch(4, self.head, 'expand')
        self.branch(5, self.head, 'contract')
        self.branch(6, self.first, None)
        problems = history_problems(self.versions)
        self.assertEqual(1, len(problems), problems)
        self.assertIn('3 heads', problems[0])

    def test_duplicate_revision_id(self):
        self.edit(3, f"revision = '{self.head}'",
                  f"revision = '{self.first}'")
        problems = history_problems(self.versions)
        self.assertIn(f'revision id {self.first} is used by both', problems[0])

    def test_import_error(self):
        self.edit(2, 'import sqlalchemy as sa',
                  'import sqlalchemy as sa\nimport no_such_module_here')
        problems = history_problems(self.versions)
        self.assertIn('does not import: ModuleNotFoundError', problems[0])
        self.assertIn(synthetic.revision_id(2), problems[0])

    def test_missing_message(self):
        self.edit(2, '"""synthetic revision 2\n', '"""\n')
        problems = history_problems(self.versions)
        self.assertEqual(
            [f'{synthetic.revision_id(2)}_synthetic.py has no message '
             '(module docstring)'], problems)

    def test_heads_file_is_trusted_only_for_its_own_files(self):
        self.assertEqual((self.head,),
                         heads_file.write(self.versions))
        self.assertEqual((self.head,),
                         heads_file.read(self.versions))
        self.edit(2, 'synthetic revision 2', 'synthetic revision two')
        self.assertIsNone(heads_file.read(self.versions))
        heads_file.write(self.versions)
        # Two branches that each rewrote it, merged by git: both halves
        # are valid, the whole is not.
        path = os.path.join(self.versions, heads_file.NAME)
        with open(path) as f:
            ours = f.read()
        with open(path, 'w') as f:
            f.write(f'<<<<<<< HEAD\n{ours}=======\n\n{ours}>>>>>>> b\n')
        self.assertIsNone(heads_file.read(self.versions))
        heads_file.write(self.versions)
        synthetic.write_revision(self.versions, 'feed00000001', self.head,
                                 'one more', '    pass', '    pass')
        self.assertIsNone(heads_file.read(self.versions))
        os.remove(os.path.join(self.versions, heads_file.NAME))
        self.assertIsNone(heads_file.read(self.versions))

    def test_unknown_down_revision(self):
        self.edit(2, f"down_revision = '{self.first}'",
                  "down_revision = 'deadbeef0000'")
        problems = history_problems(self.versions)
        self.assertIn('down_revision deadbeef0000 is not a known revision',
                      problems[0])
