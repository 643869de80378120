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

"""What autogenerate does with a change to a table that already exists
when no form of it lints clean on every engine (issue 24): it refuses,
naming the recipe (:func:`enamel.autogen.refuse_what_locks_a_live_table`);
and SQLite's drop and re-add of computed columns around a copying batch
runs on SQLite only (:func:`enamel.autogen.
computed_columns_outside_batches`). The functional round trips and the
lint of what is written are in ``tests/functional/test_compare_matrix.py``.
"""

from alembic import autogenerate
from alembic.operations import ops
import sqlalchemy as sa
import testtools

from enamel import autogen
from enamel import comparators
from enamel import exception
from enamel import render


def _script(*upgrade):
    upgrade_ops = ops.UpgradeOps(ops=list(upgrade))
    return ops.MigrationScript('r1', upgrade_ops, upgrade_ops.reverse())


def _items(*extra):
    return sa.Table('items', sa.MetaData(),
                    sa.Column('id', sa.Integer, primary_key=True),
                    sa.Column('size', sa.Integer), *extra)


def _check():
    (check,) = [c for c in _items(sa.CheckConstraint(
        'size > 0', name='ck_items_size')).constraints
        if isinstance(c, sa.CheckConstraint)]
    return ops.CreateCheckConstraintOp.from_constraint(check)


def _computed(name='double'):
    return sa.Column(name, sa.Integer, sa.Computed('size * 2'))


def _foreign_key(column='owner_id'):
    return ops.CreateForeignKeyOp('fk_items_owner', 'items', 'owners',
                                  [column], ['id'])


class RefuseWhatLocksALiveTableTest(testtools.TestCase):

    def refusal(self, *upgrade):
        error = self.assertRaises(
            exception.UnsafeRevision, autogen.refuse_what_locks_a_live_table,
            _script(*upgrade))
        self.assertEqual(1, len(str(error).splitlines()))
        return str(error)

    def test_a_check_on_an_existing_table_is_refused_with_its_recipe(self):
        message = self.refusal(ops.ModifyTableOps('items', [_check()]))
        self.assertIn('the CHECK ck_items_size on items', message)
        self.assertIn('MariaDB/MySQL copy the table to add a CHECK',
                      message)
        self.assertIn('"A CHECK on an existing table"', message)

    def test_a_computed_column_added_or_changed_is_refused(self):
        message = self.refusal(ops.AddColumnOp('items', _computed()))
        self.assertIn('the computed column items.double', message)
        self.assertIn('PostgreSQL stores every generated column', message)
        self.assertIn('"A generated column"', message)
        changed = comparators.RecreateColumnOp(
            'items', _computed(), _computed())
        self.assertIn('the computed column items.double',
                      self.refusal(changed))

    def test_a_foreign_key_on_a_column_already_there_is_refused(self):
        message = self.refusal(_foreign_key())
        self.assertIn('the foreign key fk_items_owner on items.owner_id',
                      message)
        self.assertIn('"A foreign key on an existing column"', message)

    def test_every_object_refused_is_named_in_one_line(self):
        message = self.refusal(ops.ModifyTableOps('items', [_check()]),
                               ops.AddColumnOp('items', _computed()),
                               _foreign_key())
        for name in ('ck_items_size', 'items.double', 'fk_items_owner'):
            self.assertIn(name, message)

    def test_what_has_a_recipe_or_a_new_table_is_written(self):
        table = _items(sa.CheckConstraint('size > 0', name='ck_items_size'),
                       _computed(), sa.Column('owner_id', sa.Integer))
        fresh = _script(
            ops.CreateTableOp.from_table(table),
            ops.ModifyTableOps('items', [_check()]),
            ops.AddColumnOp('items', _computed('triple')),
            _foreign_key())
        autogen.refuse_what_locks_a_live_table(fresh)
        # A foreign key on a column the revision adds, NULL in every row:
        # written (lint-clean with foreign_key_checks=0 on MariaDB).
        new_column = _script(
            ops.AddColumnOp('items', sa.Column('owner_id', sa.Integer)),
            _foreign_key())
        autogen.refuse_what_locks_a_live_table(new_column)
        # A computed column that stops being computed is a plain column.
        plain = comparators.RecreateColumnOp(
            'items', _computed(), sa.Column('double', sa.Integer))
        autogen.refuse_what_locks_a_live_table(_script(plain))


class ComputedColumnsOutsideBatchesTest(testtools.TestCase):

    def rewritten(self, inner, before, after):
        batch = ops.ModifyTableOps('items', inner)
        batch.enamel_computed = (before, after)
        script = _script(batch)
        autogen.computed_columns_outside_batches(script)
        return script

    def test_a_column_making_way_for_the_copy_moves_on_sqlite_only(self):
        unique = ops.CreateUniqueConstraintOp('uq_items_size', 'items',
                                              ['size'])
        script = self.rewritten([unique], [_computed()], [_computed()])
        first, batch, last = script.upgrade_ops.ops
        for only, kind in ((first, ops.DropColumnOp),
                           (last, ops.AddColumnOp)):
            self.assertIsInstance(only, render.OnlyOnOp)
            self.assertEqual('sqlite', only.dialect)
            self.assertEqual([kind], [type(o) for o in only.ops])
        self.assertEqual([unique], batch.ops)
        source = autogenerate.render_python_code(script.upgrade_ops)
        self.assertIn("if op.get_context().dialect.name == 'sqlite':\n"
                      "        op.drop_column('items', 'double')", source)
        # The downgrade is the reverse: on SQLite too the column makes
        # way for the batch that drops the constraint, and comes back.
        down = autogenerate.render_python_code(script.downgrade_ops)
        self.assertIn("if op.get_context().dialect.name == 'sqlite':\n"
                      "        op.drop_column('items', 'double')", down)
        self.assertLess(down.index('drop_column'),
                        down.index('drop_constraint'))
        self.assertLess(down.index('drop_constraint'),
                        down.index('add_column'))

    def test_a_computed_column_the_models_drop_goes_on_every_engine(self):
        drop = ops.DropColumnOp.from_column_and_tablename(
            None, 'items', _computed())
        unique = ops.CreateUniqueConstraintOp('uq_items_size', 'items',
                                              ['size'])
        script = self.rewritten([drop, unique], [_computed()], [])
        first, batch = script.upgrade_ops.ops
        self.assertIsInstance(first, ops.DropColumnOp)
        self.assertEqual('double', first.column_name)
        self.assertEqual([unique], batch.ops)
