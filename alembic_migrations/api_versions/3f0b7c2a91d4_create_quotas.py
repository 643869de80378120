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

"""create quotas

Revision ID: 3f0b7c2a91d4
Revises:
Create Date: 2026-12-01 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '3f0b7c2a91d4'
down_revision = None
branch_labels = None
depends_on = None

MYSQL_TABLE_ARGS = dict(mysql_charset='utf8mb4',
                        mysql_collate='utf8mb4_unicode_ci',
                        mysql_engine='InnoDB')


def upgrade():
    op.create_table(
        'quotas',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('resource', sa.String(length=255), nullable=False),
        sa.Column('hard_limit', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_quotas')),
        sa.UniqueConstraint('project_id', 'resource',
                            name=op.f('uq_quotas_project_id_resource')),
        **MYSQL_TABLE_ARGS)


def downgrade():
    op.drop_table('quotas')
