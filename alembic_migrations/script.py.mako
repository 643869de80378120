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
    sql_files = getattr(config.attributes.get('enamel'), 'sql_files', False)
    body = (upgrades or '') + (downgrades or '')
    uses_op = 'op.' in body
    uses_sa = 'sa.' in body
%>
% if sql_files:
from enamel import sql_files
% else:
## Unused in an empty (hand-written) revision until its author writes the
## body: imported anyway, marked for flake8 until then.
from alembic import op${'' if uses_op else '  # noqa: F401'}
import sqlalchemy as sa${'' if uses_sa else '  # noqa: F401'}
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
