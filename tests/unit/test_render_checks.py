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

"""The CHECK constraints autogenerate writes under alembic 1.16 to 1.18
(:func:`enamel.render._render_create_check`), whichever alembic runs
the tests: the source runs, on a real SQLite database, and matches what
alembic 1.19 and later write themselves."""

import alembic
from alembic.autogenerate import api
from alembic.autogenerate import renderers
from alembic import operations
from alembic.runtime import migration
import sqlalchemy as sa
import testtools

from enamel import render


def _check_op():
    metadata = sa.MetaData(
        naming_convention={'ck': 'ck_%(table_name)s_%(constraint_name)s'})
    table = sa.Table('t', metadata, sa.Column('x', sa.Integer),
                     sa.CheckConstraint('x > 0', name='positive'))
    (check,) = [c for c in table.constraints
                if isinstance(c, sa.CheckConstraint)]
    return render.CreateCheckOp.from_constraint(check)


class RenderCheckTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.engine = sa.create_engine('sqlite://')
        self.addCleanup(self.engine.dispose)

    def autogen_context(self, connection):
        # The prefixes env.py's defaults give alembic's renderers.
        return api.AutogenContext(
            migration.MigrationContext.configure(connection, opts={
                'alembic_module_prefix': 'op.',
                'sqlalchemy_module_prefix': 'sa.'}),
            autogenerate=False)

    def test_batch_source_adds_the_check_on_sqlite(self):
        with self.engine.begin() as connection:
            connection.exec_driver_sql('CREATE TABLE t (x INTEGER)')
            context = self.autogen_context(connection)
            with context._within_batch():
                source = render._render_create_check(context, _check_op())
            self.assertEqual(
                "batch_op.create_check_constraint("
                "batch_op.f('ck_t_positive'), 'x > 0')", source)
            op = operations.Operations(
                migration.MigrationContext.configure(connection))
            with op.batch_alter_table('t') as batch_op:
                eval(source, {'batch_op': batch_op, 'sa': sa})
            checks = sa.inspect(connection).get_check_constraints('t')
        self.assertEqual([('ck_t_positive', 'x > 0')],
                         [(c['name'], c['sqltext']) for c in checks])

    def test_same_source_as_alembic_where_alembic_writes_it(self):
        major, minor = (int(p) for p in alembic.__version__.split('.')[:2])
        if (major, minor) < (1, 19):
            self.skipTest('alembic writes CHECK constraints from 1.19')
        op = _check_op()
        with self.engine.connect() as connection:
            context = self.autogen_context(connection)
            mine = render._render_create_check(context, op)
            alembics = renderers.dispatch(op)(context, op)
        self.assertEqual(alembics, mine)

    def test_reverse_stays_renderable(self):
        op = _check_op()
        self.assertIsInstance(op.reverse(), render.DropCheckOp)
        self.assertIsInstance(op.reverse().reverse(), render.CreateCheckOp)
