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

"""A service developer's first migrations keep the project's suites green.

In a copy of the project (the files git tracks), the test does what the
contributor guide says: add a model, ``revision --autogenerate``, then a
rolling-upgrade pair, as the rolling-upgrade guide says (the branches
made by a first ``revision --expand``, then a model change that
``revision --autogenerate`` splits into an expand and a contract
revision), each followed by ``upgrade``; then it runs
the copy's own unit suite and the SQLite functional tests that read the
history (the walk of every revision, models against migrations, the
commands), which must pass in the copy as they do here.
"""

import os
import shutil
import subprocess
import sys

from tests import base

NEW_MODEL = '''

class Note(TimestampMixin, Base):
    """A note left on a task (written by tests/functional/
    test_first_migration.py in a copy of the project)."""

    __tablename__ = 'notes'
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    body: orm.Mapped[typing.Optional[str]] = orm.mapped_column(sa.Text)
'''

NOTE_BODY = ('    body: orm.Mapped[typing.Optional[str]] = '
             'orm.mapped_column(sa.Text)\n')
NOTE_TITLE = ('    title: orm.Mapped[typing.Optional[str]] = '
              'orm.mapped_column(\n        sa.String(255))\n')

# The functional tests run in the copy: on SQLite, those whose subject is
# the history as a whole. One is left out: it branches the history the
# plain alembic way (a plugin branch from base), which the phase rules
# refuse once the history has the expand and contract branches.
FUNCTIONAL = (r'test_migrations\..*SQLite|test_commands\.CommandSQLite'
              r'|test_read_only|test_autogenerate\.ComparisonSQLite')
EXCLUDE = r'test_branch_label_and_depends_on'


class FirstMigrationTest(base.TestCase):

    def copy_project(self):
        """Copy the files git tracks (as they are in the working tree)
        into ``<workdir>/project``; its path."""
        try:
            listed = subprocess.run(
                ['git', 'ls-files', '-z'], cwd=base.REPO_ROOT, check=True,
                capture_output=True, timeout=60).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            message = f'not a git checkout ({exc}): nothing to copy'
            if base.UNDER_CI:
                self.fail(message)
            self.skipTest(message)
        project = os.path.join(self.workdir, 'project')
        for name in listed.decode().split('\0'):
            source = os.path.join(base.REPO_ROOT, name)
            if not name or not os.path.isfile(source):
                continue
            target = os.path.join(project, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(source, target)
        return project

    def run_in(self, project, argv, timeout=600):
        env = dict(os.environ, PYTHONPATH=project, HOME=self.workdir,
                   OS_DATABASE__CONNECTION='sqlite:///developer.sqlite')
        env.pop('OS_API_DATABASE__CONNECTION', None)
        result = subprocess.run(
            argv, cwd=project, env=env, text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=timeout)
        self.assertEqual(0, result.returncode,
                         f'{" ".join(argv)}:\n{result.stdout[-6000:]}')
        return result.stdout

    def test_a_model_autogenerate_and_a_rolling_pair_keep_the_suites_green(
            self):
        project = self.copy_project()
        with open(os.path.join(project, 'enamel', 'models.py'), 'a') as f:
            f.write(NEW_MODEL)
        sync = [base.enamel_sync_executable()]
        self.run_in(project, sync + ['upgrade'])
        written = self.run_in(project, sync + [
            'revision', '--autogenerate', '-m', 'add notes'])
        self.assertIn('_add_notes.py', written)
        self.run_in(project, sync + ['upgrade'])
        # The rolling-upgrade layout, as its guide says: the branches
        # first (revision --expand, upgrade), then autogenerate splits a
        # change into an expand and a contract revision.
        self.run_in(project, sync + ['revision', '--expand', '-m',
                                     'start the branches'])
        self.run_in(project, sync + ['upgrade'])
        models = os.path.join(project, 'enamel', 'models.py')
        with open(models) as f:
            source = f.read()
        self.assertIn(NOTE_BODY, source)
        with open(models, 'w') as f:
            f.write(source.replace(NOTE_BODY, NOTE_TITLE))
        written = self.run_in(project, sync + [
            'revision', '--autogenerate', '-m', 'notes: title for body'])
        self.assertEqual(2, written.count('.py'), written)
        self.run_in(project, sync + ['upgrade'])
        self.assertIn('schema matches the models',
                      self.run_in(project, sync + ['check']))
        os.remove(os.path.join(project, 'developer.sqlite'))

        stestr = [sys.executable, '-m', 'stestr']
        self.run_in(project, stestr + ['--test-path=./tests/unit', 'run'])
        out = self.run_in(project, stestr + [
            '--test-path=./tests/functional', 'run', '--concurrency', '1',
            '--exclude-regex', EXCLUDE, FUNCTIONAL], timeout=1200)
        self.assertIn('test_walk_versions', out)
        self.assertIn('test_models_sync', out)
