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

"""The classification of operations (:mod:`enamel.ops`): every operation
alembic and enamel define is classified on purpose, and the column that
autogenerate recreates is placed in no phase."""

import inspect

from alembic.operations import ops
import sqlalchemy as sa
import testtools

from enamel import comparators
from enamel import exception
from enamel import ops as op_kinds
from enamel import phases

# Every operation class alembic's ops module defines (not the
# containers), as of the alembic this project tests. One that is not
# listed fails the test below: classify it in enamel/ops.py (or say here
# why "other" is right), then list it.
CLASSIFIED = {
    'AddColumnOp', 'AddConstraintOp', 'AlterColumnOp', 'CreateIndexOp',
    'CreateTableOp', 'DropColumnOp', 'DropConstraintOp', 'DropIndexOp',
    'DropTableOp', 'RenameTableOp',
    # Subclasses of AddConstraintOp, classified through it.
    'CreateCheckConstraintOp', 'CreateForeignKeyOp', 'CreatePrimaryKeyOp',
    'CreateUniqueConstraintOp',
}
OTHER = {
    # No schema change the phases judge: comments, SQL the lint reads
    # itself, rows.
    'CreateTableCommentOp', 'DropTableCommentOp', 'ExecuteSQLOp',
    'BulkInsertOp',
    # Bases, never built on their own.
    'MigrateOperation', 'AlterTableOp',
}
CONTAINERS = {'OpContainer', 'ModifyTableOps', 'UpgradeOps', 'DowngradeOps',
              'MigrationScript'}


class ClassificationTest(testtools.TestCase):

    def test_every_alembic_operation_is_classified_on_purpose(self):
        defined = {name for name, cls in inspect.getmembers(
            ops, inspect.isclass) if issubclass(cls, ops.MigrateOperation)
            and cls.__module__ == ops.__name__}
        self.assertEqual(set(), defined - CLASSIFIED - OTHER - CONTAINERS,
                         'alembic defines operations enamel/ops.py does '
                         'not classify')

    def recreate(self):
        return comparators.RecreateColumnOp(
            'tasks', sa.Column('user_id', sa.String(255)),
            sa.Column('user_id', sa.String(255), sa.Computed('project_id')))

    def test_a_recreated_column_is_placed_in_no_phase(self):
        kind = op_kinds.classify(self.recreate())
        self.assertEqual(op_kinds.RECREATES, kind.kind)
        self.assertEqual('tasks.user_id', kind.where)
        self.assertIn(kind.kind, op_kinds.UNPLACEABLE)
        self.assertFalse(kind.expand_safe)
        self.assertFalse(kind.contract_only)
        # Its reverse (computed back to plain) too.
        self.assertEqual(op_kinds.RECREATES,
                         op_kinds.classify(self.recreate().reverse()).kind)

    def test_autogenerate_refuses_a_recreated_column(self):
        error = self.assertRaises(exception.UnsafeRevision, phases._place,
                                  self.recreate(), set())
        self.assertIn('cannot place the change of computed column '
                      'tasks.user_id safely', str(error))
        self.assertIn('online data migration', str(error))
