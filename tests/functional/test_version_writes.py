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

"""How often a run writes the version table, and who writes it.

A run along one line of revisions writes the version row once per commit:
once per run where the run is one transaction (PostgreSQL, SQLite), once
per revision on MySQL, where each revision commits. The statements are
recorded on the real engine as they are sent.
"""

import os

import sqlalchemy as sa

from tests import base
from tests import synthetic
from tests.functional import test_commands

COUNT = 5


class VersionWriteTests:

    def start(self):
        """The bundled history and COUNT synthetic revisions after it;
        the Migration for them, its writes recorded in ``self.writes``.
        (Not setUp: the backend's setUp runs after this class's.)"""
        extra = os.path.join(self.workdir, 'versions')
        os.mkdir(extra)
        self.bundled = test_commands.head()
        self.head = synthetic.write_history(extra, COUNT, self.bundled)
        self.migrate = self.make_migration(version_path=extra)
        self.writes = []
        sa.event.listen(self.migrate.engine, 'before_cursor_execute',
                        self.record)

    def record(self, conn, cursor, statement, parameters, context, many):
        verb = statement.split(None, 1)[0].upper()
        if (verb in ('INSERT', 'UPDATE', 'DELETE')
                and 'alembic_version' in statement):
            self.writes.append(verb)

    def expect(self, per_run, per_revision):
        """The writes of a run: ``per_run`` alone where the run is one
        transaction, ``per_revision`` where each revision commits."""
        return per_revision if self.BACKEND == 'mysql' else [per_run]

    def test_upgrade_from_base_writes_the_version_once_per_commit(self):
        self.start()
        self.migrate.upgrade('head')

        self.assertEqual([self.head], self.stored_version())
        self.assertEqual(self.expect(
            'INSERT', ['INSERT'] + ['UPDATE'] * COUNT),
                         self.writes)
        self.assertEqual({'alembic_version', 'tasks', 'task_items'} |
                         synthetic.table_names(COUNT), self.tables())

    def test_upgrade_from_a_revision_updates_the_row(self):
        self.start()
        self.migrate.upgrade(synthetic.revision_id(2))
        del self.writes[:]

        self.migrate.upgrade('head')

        self.assertEqual([self.head], self.stored_version())
        self.assertEqual(self.expect('UPDATE', ['UPDATE'] * (COUNT - 2)),
                         self.writes)

    def test_downgrade_writes_the_version_once_per_commit(self):
        self.start()
        self.migrate.upgrade('head')
        del self.writes[:]

        self.migrate.downgrade(synthetic.revision_id(2))
        self.assertEqual([synthetic.revision_id(2)], self.stored_version())
        self.assertEqual(self.expect('UPDATE', ['UPDATE'] * (COUNT - 2)),
                         self.writes)
        del self.writes[:]

        self.migrate.downgrade('base')
        self.assertEqual([], self.stored_version())
        self.assertEqual(self.expect(
            'DELETE', ['UPDATE', 'UPDATE', 'DELETE']),
                         self.writes)
        self.assertEqual({'alembic_version'}, self.tables())

    def test_branches_are_walked_through_alembic_one_commit_at_a_time(self):
        # Two branches from the bundled head: not one line, so alembic runs
        # the steps and writes the version table, and each_revision still
        # sees every revision committed, from a connection of its own.
        extra = os.path.join(self.workdir, 'versions')
        os.mkdir(extra)
        bundled = test_commands.head()
        branches = {'a': [], 'b': []}
        for name, revisions in branches.items():
            down = bundled
            for number in (1, 2):
                revision = f'b{name}{number:010d}'
                synthetic.write_revision(
                    extra, revision, down, f'branch {name} {number}',
                    f'    create({revision!r})',
                    f'    op.drop_table({revision!r})', slug=revision)
                revisions.append(revision)
                down = revision
        migrate = self.make_migration(version_path=extra)
        seen = {}

        def each_revision(script, applied):
            if applied:
                seen[script.revision] = set(self.stored_version())

        migrate.upgrade('heads', each_revision=each_revision)

        everything = [bundled] + branches['a'] + branches['b']
        self.assertEqual(sorted(everything), sorted(seen))
        for revision, version in seen.items():
            self.assertIn(revision, version)
        self.assertEqual({branches['a'][-1], branches['b'][-1]},
                         set(self.stored_version()))
        self.assertEqual({'alembic_version', 'tasks', 'task_items'} |
                         set(branches['a'] + branches['b']), self.tables())


base.for_each_backend(VersionWriteTests, globals())
