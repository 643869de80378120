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

"""Which reflected tables a comparison owns: the tables a revision file
creates, read once per comparison (alembic asks ``include_object`` for
every reflected table; reading every revision file's state each time made
``check`` quadratic in the number of revisions)."""

import ast
import os
from unittest import mock

import fixtures
import sqlalchemy as sa
import testtools

from enamel import compare
from enamel import environment

REVISION = '''from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table('{name}', sa.Column('id', sa.Integer, primary_key=True))
'''


class OwnedTablesTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.versions = self.useFixture(fixtures.TempDir()).path
        for number, name in enumerate(('gears', 'cogs')):
            self.write(number, name)

    def write(self, number, name):
        path = os.path.join(self.versions, f'{number:04d}_{name}.py')
        with open(path, 'w') as f:
            f.write(REVISION.format(name=name))

    def include(self, hook, name):
        return hook(None, name, 'table', True, None)

    def test_a_table_a_revision_created_is_compared_others_are_not(self):
        hook = environment.include_object_for(None, (self.versions,))
        self.assertTrue(self.include(hook, 'gears'))
        self.assertTrue(self.include(hook, 'cogs'))
        self.assertFalse(self.include(hook, 'spatial_ref_sys'))
        self.assertFalse(self.include(hook, 'enamel_migration_lock'))
        # A model's table (compare_to given) is always compared.
        self.assertTrue(hook(None, 'spatial_ref_sys', 'table', True,
                             object()))

    def test_one_comparison_reads_the_revision_files_once(self):
        hook = environment.include_object_for(None, (self.versions,))
        with mock.patch.object(compare, 'revision_tables', autospec=True,
                               wraps=compare.revision_tables) as read:
            for number in range(200):
                self.include(hook, f'table_{number}')
        self.assertEqual(1, read.call_count)

    def test_a_table_left_alone_is_not_reflected(self):
        metadata = sa.MetaData()
        sa.Table('widgets', metadata, sa.Column('id', sa.Integer))
        hook = environment.include_name_for(
            metadata, environment.include_object_for(None, (self.versions,)))
        self.assertTrue(hook('widgets', 'table', {'schema_name': None}))
        self.assertTrue(hook('gears', 'table', {'schema_name': None}))
        self.assertFalse(hook('spatial_ref_sys', 'table',
                              {'schema_name': None}))
        self.assertFalse(hook('enamel_migration_lock', 'table',
                              {'schema_name': None}))
        self.assertTrue(hook('ix_anything', 'index',
                             {'table_name': 'spatial_ref_sys'}))

    def test_the_next_comparison_sees_a_new_revision(self):
        self.assertFalse(self.include(
            environment.include_object_for(None, (self.versions,)),
            'sprockets'))
        self.write(2, 'sprockets')
        self.assertTrue(self.include(
            environment.include_object_for(None, (self.versions,)),
            'sprockets'))

    def test_tables_named_in_any_layout_are_found(self):
        self.write_text(2, "op.create_table(  # the wheels\n"
                           "    'wheels', sa.Column('id', sa.Integer))\n"
                           "op.create_table(\\\n    r\"axles\")\n"
                           "op.create_table(('hubs'))\n")
        self.assertEqual({'gears', 'cogs', 'wheels', 'axles', 'hubs'},
                         compare.revision_tables(self.versions))

    def test_a_file_that_names_no_table_is_not_parsed(self):
        # A long history's helper creates its tables under computed names;
        # most revisions create no table at all.
        self.write_text(2, "def create(name):\n"
                           "    op.create_table(name, sa.Column('id'))\n")
        self.write_text(3, "op.add_column('gears', sa.Column('teeth'))\n")
        self.write_text(4, "op.create_table(f'spokes_{1}')\n")
        with mock.patch.object(ast, 'parse', autospec=True,
                               side_effect=ast.parse) as parse:
            tables = compare.revision_tables(self.versions)
        self.assertEqual({'gears', 'cogs'}, tables)
        self.assertEqual(sorted(os.path.join(self.versions, f) for f in (
            '0000_gears.py', '0001_cogs.py')),
            sorted(c.kwargs['filename'] for c in parse.call_args_list))

    def write_text(self, number, body):
        path = os.path.join(self.versions, f'{number:04d}_text.py')
        with open(path, 'w') as f:
            f.write('from alembic import op\nimport sqlalchemy as sa\n\n'
                    + body)
