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

"""A synthetic linear history, for the concurrency tests and the benchmark.

:func:`write_history` appends ``count`` revisions to a versions directory
(always a scratch copy, never the real one): each creates a table, and
every tenth also adds a column to the previous table through batch mode,
so that SQLite exercises its copy-and-move path. Every downgrade undoes its
upgrade.
"""

import os

TEMPLATE = '''\
"""synthetic revision {number}

Revision ID: {revision}
Revises: {down_revision}
"""

from alembic import op
import sqlalchemy as sa

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        {table!r},
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(64), nullable=False),
    ){add_column}


def downgrade():{drop_column}
    op.drop_table({table!r})
'''

ADD_COLUMN = '''
    with op.batch_alter_table({previous!r}) as batch_op:
        batch_op.add_column(sa.Column('extra', sa.Integer(), nullable=True))'''

DROP_COLUMN = '''
    with op.batch_alter_table({previous!r}) as batch_op:
        batch_op.drop_column('extra')'''


def revision_id(number):
    """The id of synthetic revision ``number`` (12 hex digits)."""
    return f'5e{number:010x}'


def table_name(number):
    return f'synthetic_{number:05d}'


def write_history(versions_dir, count, down_revision):
    """Write ``count`` revisions after ``down_revision``; the new head.

    :param versions_dir: a scratch ``alembic_migrations/versions``.
    :param count: how many revisions to write.
    :param down_revision: the revision the first one revises (the real
        head, so that the synthetic ones follow the real history).
    """
    previous_revision = down_revision
    for number in range(1, count + 1):
        revision = revision_id(number)
        add_column = drop_column = ''
        if number % 10 == 0:
            previous = table_name(number - 1)
            add_column = ADD_COLUMN.format(previous=previous)
            drop_column = DROP_COLUMN.format(previous=previous)
        source = TEMPLATE.format(
            number=number, revision=revision,
            down_revision=previous_revision, table=table_name(number),
            add_column=add_column, drop_column=drop_column)
        path = os.path.join(versions_dir, f'{revision}_synthetic.py')
        with open(path, 'w') as f:
            f.write(source)
        previous_revision = revision
    return previous_revision
