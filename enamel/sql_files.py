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
The files are cut into statements by the engine's own grammar
(:func:`enamel.sql_statements.split`: a ``$$`` function body or a trigger
stays whole). They run through ``op.execute``, so they take part in the
migration transaction and in offline (``--sql``) mode; a statement that
PostgreSQL refuses inside a transaction block (``CREATE INDEX
CONCURRENTLY``, ``VACUUM``...:
:func:`enamel.sql_statements.outside_transaction`) runs in alembic's
``autocommit_block()`` instead, as a hand-written revision would run it.
"""

import os

from enamel import sql_statements


def statements(path, dialect):
    """The SQL statements in the file at ``path``, in order (a list of
    str), cut by ``dialect``'s grammar.

    :raises exception.ConfigError: the dialect's parser is missing.
    """
    with open(path) as f:
        return sql_statements.split(f.read(), dialect)


def run(revision_file, direction):
    """Execute ``<revision_file without .py>_<direction>.sql``.

    :param revision_file: the revision module's ``__file__``.
    :param direction: ``'upgrade'`` or ``'downgrade'``.
    """
    from alembic import op

    path = f'{os.path.splitext(revision_file)[0]}_{direction}.sql'
    context = op.get_context()
    dialect = context.dialect.name
    for statement in statements(path, dialect):
        if sql_statements.outside_transaction(statement, dialect):
            with context.autocommit_block():
                op.execute(statement)
        else:
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
                        f'{script.doc}\n-- Statements end with ";" and run '
                        'in the migration transaction (CONCURRENTLY and\n'
                        '-- VACUUM run outside it, in autocommit).\n')
