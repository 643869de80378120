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
import shutil

from enamel import environment
from enamel import heads_file
from enamel import migration

REVISION = '''\
"""{doc}

Revision ID: {revision}
Revises: {down_revision}
"""

import os  # noqa: F401  (for revision bodies that need it)

from alembic import op
import sqlalchemy as sa

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def create(name):
    op.create_table(
        name,
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(64), nullable=False),
    )


def upgrade():
{upgrade}


def downgrade():
{downgrade}
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


def table_names(count):
    """The tables synthetic revisions 1 to ``count`` create."""
    return {table_name(n) for n in range(1, count + 1)}


def write_revision(versions_dir, revision, down_revision, doc, upgrade,
                   downgrade, slug='synthetic'):
    """Write one revision file; ``upgrade`` and ``downgrade`` are the
    indented bodies of its functions, which may call ``create(name)``."""
    path = os.path.join(versions_dir, f'{revision}_{slug}.py')
    with open(path, 'w') as f:
        f.write(REVISION.format(
            doc=doc, revision=revision, down_revision=down_revision,
            upgrade=upgrade, downgrade=downgrade))


def scratch_copy(directory, count):
    """Copy the bundled ``alembic_migrations`` into ``directory`` and add
    ``count`` revisions after its head; (the versions dir, the new head).

    Put ``directory`` first on ``PYTHONPATH`` for enamel-sync to use the
    copy.
    """
    copy = os.path.join(directory, 'alembic_migrations')
    shutil.copytree(environment.ENV_DIR, copy,
                    ignore=shutil.ignore_patterns('__pycache__'))
    versions = os.path.join(copy, 'versions')
    script = migration.Migration(None).script
    heads = script.get_revisions(script.get_heads())
    # The one head, or the expand branch's in the rolling-upgrade layout.
    (head,) = [h.revision for h in heads
               if len(heads) == 1 or 'expand' in h.branch_labels]
    head = write_history(versions, count, head)
    # As "enamel-sync revision" would have left it.
    heads_file.write(versions)
    return versions, head


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
        table = table_name(number)
        upgrade = f'    create({table!r})'
        downgrade = f'    op.drop_table({table!r})'
        if number % 10 == 0:
            previous = table_name(number - 1)
            upgrade += ADD_COLUMN.format(previous=previous)
            downgrade = DROP_COLUMN.format(previous=previous).lstrip(
                '\n') + '\n' + downgrade
        write_revision(versions_dir, revision, previous_revision,
                       f'synthetic revision {number}', upgrade, downgrade)
        previous_revision = revision
    return previous_revision
