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

"""Every undocumented alembic name enamel uses still exists, and alembic's
own code still uses it: a newer alembic that drops one fails here, naming
it, instead of somewhere deep in a run."""

import inspect
import os

from alembic import autogenerate
from alembic import command
from alembic.autogenerate import render as alembic_render
from alembic import operations as alembic_operations
from alembic.runtime import migration as alembic_migration
from alembic.script import base as alembic_script_base
from alembic.script import revision as alembic_revision
import fixtures
import sqlalchemy as sa

from enamel import alembic_internals
from enamel import environment
from enamel import exception
from tests import base

OWNERS = {
    'Operations': alembic_operations.Operations,
    'ScriptDirectory': alembic_script_base.ScriptDirectory,
    'MigrationContext': alembic_migration.MigrationContext,
    'Revision': alembic_revision.Revision,
    'AutogenContext': autogenerate.api.AutogenContext,
}
USERS = {
    'alembic.command.upgrade': command.upgrade,
    'alembic.command.downgrade': command.downgrade,
    'alembic.command.stamp': command.stamp,
    'MigrationContext.run_migrations':
        alembic_migration.MigrationContext.run_migrations,
    'Operations.context': alembic_operations.Operations.context,
    'Operations.invoke': alembic_operations.Operations.invoke,
    'RevisionMap.add_revision': alembic_revision.RevisionMap.add_revision,
    'render._drop_constraint': alembic_render._drop_constraint,
    'MigrationContext.autocommit_block':
        alembic_migration.MigrationContext.autocommit_block,
}


class AlembicInternalsTest(base.TestCase):

    def test_each_name_exists_and_alembic_itself_uses_it(self):
        for name, user in alembic_internals.USED.items():
            owner, attribute = name.split('.')
            with self.subTest(name=name):
                source = inspect.getsource(USERS[user])
                self.assertIn(attribute, source,
                              f'{user} no longer uses {name}')
                # Instance attributes, set in __init__.
                if owner not in ('MigrationContext', 'AutogenContext'):
                    self.assertTrue(hasattr(OWNERS[owner], attribute),
                                    f'alembic has no {name} any more')

    def test_version_callbacks_are_an_attribute_of_the_context(self):
        engine = sa.create_engine('sqlite://')
        self.addCleanup(engine.dispose)
        first = object()
        with engine.connect() as connection:
            context = alembic_migration.MigrationContext.configure(
                connection, opts={'on_version_apply': (first,)})
            self.assertEqual((first,), tuple(
                context.on_version_apply_callbacks),
                'MigrationContext.on_version_apply_callbacks changed')
            second = object()
            alembic_internals.add_version_callback(context, second)
            self.assertEqual((first, second),
                             context.on_version_apply_callbacks)

    def grouped_table(self):
        """A scratch SQLite database with an empty table; (its engine, a
        function counting the table's committed rows)."""
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'run.sqlite')
        engine = sa.create_engine(f'sqlite:///{path}')
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql('CREATE TABLE grouped (id INT)')

        def rows():
            with engine.connect() as other:
                return other.exec_driver_sql(
                    'SELECT count(*) FROM grouped').scalar()
        return engine, rows

    def test_the_run_transaction_commits_and_is_replaced(self):
        # What enamel.runner does between two revisions of a group.
        engine, rows = self.grouped_table()

        with engine.connect() as connection:
            context = alembic_migration.MigrationContext.configure(
                connection, opts={'transaction_per_migration': False,
                                  'transactional_ddl': True})
            with context.begin_transaction():
                first = alembic_internals.run_transaction(context)
                self.assertTrue(first.is_active)
                connection.exec_driver_sql('INSERT INTO grouped VALUES (1)')
                self.assertEqual(0, rows())
                second = alembic_internals.commit_run_transaction(context)
                self.assertEqual(1, rows())
                self.assertFalse(first.is_active)
                self.assertTrue(second.is_active)
                self.assertIs(second, alembic_internals.run_transaction(
                    context))
                connection.exec_driver_sql('INSERT INTO grouped VALUES (2)')
            self.assertIsNone(alembic_internals.run_transaction(context))
        self.assertEqual(2, rows())

    def test_a_run_transaction_begun_where_alembic_holds_none(self):
        # What enamel.runner does on MySQL (non-transactional DDL, as
        # alembic's SQLite implementation also declares): alembic's
        # per-revision transaction must leave the one enamel began alone,
        # and commit nothing until enamel does.
        engine, rows = self.grouped_table()

        with engine.connect() as connection:
            context = alembic_migration.MigrationContext.configure(
                connection, opts={'transaction_per_migration': False})
            self.assertFalse(context.impl.transactional_ddl)
            with context.begin_transaction():
                self.assertIsNone(alembic_internals.run_transaction(context))
                began = alembic_internals.begin_run_transaction(context)
                for number in (1, 2):
                    with context.begin_transaction(_per_migration=True):
                        connection.exec_driver_sql(
                            f'INSERT INTO grouped VALUES ({number})')
                    self.assertIs(began, alembic_internals.run_transaction(
                        context), 'alembic replaced or ended the run '
                        'transaction (MigrationContext._transaction)')
                    self.assertEqual(0, rows())
                alembic_internals.end_run_transaction(context)
                self.assertIsNone(alembic_internals.run_transaction(context))
                self.assertEqual(2, rows())

    def test_the_planners_return_steps_and_translate_errors(self):
        script = alembic_script_base.ScriptDirectory(
            environment.ENV_DIR,
            version_locations=[environment.VERSIONS_DIR])
        # Any history: linear, branched into expand and contract, merged.
        everything = sorted(r.revision for r in script.walk_revisions())
        heads = tuple(r.revision for r in script.get_revisions('heads'))
        steps = alembic_internals.upgrade_steps(script, 'heads', ())
        self.assertEqual(everything,
                         sorted(s.revision.revision for s in steps))
        steps = alembic_internals.downgrade_steps(script, 'base', heads)
        self.assertEqual(everything,
                         sorted(s.revision.revision for s in steps))
        steps = alembic_internals.stamp_steps(script, 'heads', ())
        self.assertEqual(len(heads), len(steps))
        self.assertRaises(exception.BadRevision,
                          alembic_internals.upgrade_steps,
                          script, 'nosuchrevision', ())
        self.assertTrue(issubclass(alembic_revision.RevisionError,
                                   Exception))
