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

"""create tasks and task items

Revision ID: 6a1c2e9d4b01
Revises:
Create Date: 2026-11-22 13:48:27.239141
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '6a1c2e9d4b01'
down_revision = None
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = dict(mysql_charset='utf8mb4',
                        mysql_collate='utf8mb4_unicode_ci',
                        mysql_engine='InnoDB')


def upgrade():
    op.create_table(
        'tasks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('action', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=36), nullable=False),
        sa.Column('request_id', sa.String(length=255), nullable=True),
        sa.Column('user_id', sa.String(length=255), nullable=True),
        sa.Column('project_id', sa.String(length=255), nullable=True),
        sa.Column('parameters', sa.Text(), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
        sa.UniqueConstraint('uuid', name=op.f('uq_tasks_uuid')),
        **MYSQL_TABLE_ARGS)
    op.create_index(op.f('ix_tasks_project_id'), 'tasks', ['project_id'])
    op.create_index(op.f('ix_tasks_request_id'), 'tasks', ['request_id'])
    op.create_index(op.f('ix_tasks_state'), 'tasks', ['state'])

    op.create_table(
        'task_items',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('action', sa.String(length=255), nullable=False),
        sa.Column('state', sa.String(length=36), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['task_id'], ['tasks.id'],
            name=op.f('fk_task_items_task_id_tasks'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_items')),
        sa.UniqueConstraint('uuid', name=op.f('uq_task_items_uuid')),
        **MYSQL_TABLE_ARGS)
    op.create_index(op.f('ix_task_items_task_id'), 'task_items', ['task_id'])


def downgrade():
    # Dropping a table drops its indexes; dropping the index backing the
    # foreign key first would fail on MySQL (error 1553).
    op.drop_table('task_items')
    op.drop_table('tasks')
