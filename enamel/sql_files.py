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

"""Plain-SQL revisions: upgrade and downgrade run ``.sql`` files.

``enamel-sync revision --sql-files -m MSG`` writes a revision whose
``upgrade()`` and ``downgrade()`` call :func:`run`, and two files beside
it, ``<revision file>_upgrade.sql`` and ``<revision file>_downgrade.sql``.
Statements are separated by a ``;`` at the end of a line; lines starting
with ``--`` are comments. They run through ``op.execute``, so they take part
in the migration transaction and in offline (``--sql``) mode.
"""

import os


def statements(path):
    """The SQL statements in the file at ``path``, in order."""
    with open(path) as f:
        lines = [line for line in f
                 if not line.lstrip().startswith('--')]
    statement = []
    for line in lines:
        statement.append(line)
        if line.rstrip().endswith(';'):
            yield ''.join(statement).strip().rstrip(';').strip()
            statement = []
    rest = ''.join(statement).strip()
    if rest:
        yield rest


def run(revision_file, direction):
    """Execute ``<revision_file without .py>_<direction>.sql``.

    :param revision_file: the revision module's ``__file__``.
    :param direction: ``'upgrade'`` or ``'downgrade'``.
    """
    from alembic import op

    path = f'{os.path.splitext(revision_file)[0]}_{direction}.sql'
    for statement in statements(path):
        op.execute(statement)


def paths(script):
    """The two ``.sql`` files a ``revision --sql-files`` revision runs,
    upgrade's first (whether or not they exist).

    :param script: the revision's ``alembic.script.Script``.
    """
    base = os.path.splitext(script.path)[0]
    return [f'{base}_{direction}.sql'
            for direction in ('upgrade', 'downgrade')]


def scaffold(script):
    """Write the two empty ``.sql`` files of a new ``revision --sql-files``
    beside its revision file, keeping any that exist.

    :param script: the new revision's ``alembic.script.Script``.
    """
    for direction, path in zip(('upgrade', 'downgrade'), paths(script)):
        if not os.path.exists(path):
            with open(path, 'w') as f:
                f.write(f'-- {direction} of revision {script.revision}: '
                        f'{script.doc}\n-- One statement per ";"; runs in '
                        'the migration transaction.\n')
