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

"""${message}

Revision ID: ${up_revision}
Revises:${'' if not down_revision else ' ' + (down_revision if isinstance(down_revision, str) else ', '.join(down_revision))}
Create Date: ${create_date}
"""
<%
    options = config.attributes.get('enamel')
    sql_files = getattr(options, 'sql_files', False)
    ## revision --data-migration: (revision id, function name).
    scaffold = getattr(options, 'data_migration', None)
    data_migration = (scaffold[1] if scaffold and scaffold[0] == up_revision
                      else None)
    body = (upgrades or '') + (downgrades or '')
    uses_op = 'op.' in body
    uses_sa = 'sa.' in body or data_migration
%>
% if sql_files and not data_migration:
from enamel import sql_files
% else:
## Unused in an empty (hand-written) revision until its author writes the
## body: imported anyway, marked for flake8 until then.
% if not sql_files:
from alembic import op${'' if uses_op else '  # noqa: F401'}
% endif
import sqlalchemy as sa${'' if uses_sa else '  # noqa: F401'}
% endif
% if data_migration:

from enamel import data_migrations as online_data_migrations
% if sql_files:
from enamel import sql_files
% endif
% endif
${imports if imports else ""}
# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
% if sql_files:
    sql_files.run(__file__, 'upgrade')
% else:
    ${upgrades if upgrades else "pass"}
% endif


def downgrade():
% if sql_files:
    sql_files.run(__file__, 'downgrade')
% else:
    ${downgrades if downgrades else "pass"}
% endif
% if data_migration:


# The online data migration ${data_migration}: "enamel-sync
# online-data-migrations" runs it in batches once this revision is applied,
# while the previous release still runs, and "upgrade --contract" waits
# until it has no rows left. Its rules (see "Writing a data migration" in
# doc/source/contributor/rolling-upgrades.rst):
# - idempotent: ``where`` selects only the rows still to change, and the
#   change makes it false for them, so no row is changed twice;
# - safe next to the services and next to another run of itself: each
#   batch is a short transaction, and its UPDATE repeats ``where``;
# - written against the table as this revision leaves it (TABLE below,
#   only the columns it needs), never against the models, which move on.
#
# TODO: write upgrade(), fill in every TODO_ placeholder, then delete the
# unfinished() line. Until then "upgrade" refuses to apply this revision
# (applied, its upgrade() would never run once written), and the data
# migration fails on purpose (check: exit 1, online-data-migrations: exit
# 2), so that a forgotten skeleton cannot let the contract phase remove
# data that was never moved.
TABLE = sa.table(
    'TODO_table',
    sa.column('id', sa.Integer),
    sa.column('TODO_old_column', sa.String),
    sa.column('TODO_new_column', sa.String),
)

${data_migration} = online_data_migrations.update_in_batches(
    '${data_migration}', TABLE, key=TABLE.c.id,
    where=TABLE.c.TODO_new_column.is_(None),
    values={'TODO_new_column': TABLE.c.TODO_old_column})
${data_migration} = online_data_migrations.unfinished(${data_migration})

data_migrations = (${data_migration},)
% endif
