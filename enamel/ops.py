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

"""One table that classifies alembic's operations for rolling upgrades.

Autogenerate's split (:func:`enamel.phases.split_directives`), its
refusal of what cannot be placed safely, and the lint's phase rules
(``expand-removes``, ``contract-adds``: :mod:`enamel.lint`) all read
:func:`classify`; none spells the rule itself.

=============== =================================================== =========
kind            operations                                          phase
=============== =================================================== =========
``adds``        create table, add column (nullable, or with a       expand
                server default, or to a table created in the same
                revision), create index, add constraint
``relaxes``     alter column to allow NULL                          expand
``removes``     drop table/column/index/constraint, rename table    contract
                or column (the old name disappears)
``tightens``    alter column to NOT NULL (the previous release may  contract
                still insert NULL)
``needs-        add a NOT NULL column without a server default to   neither:
default``       an existing table (the previous release's INSERTs   refused
                fail; the rows have no value)
``rewrites``    a column type change (a table rewrite on most       neither:
                engines, the previous release's values may not fit) refused
``recreates``   a column dropped and added again (autogenerate's    neither:
                ``RecreateColumnOp``: a computed column's           refused
                expression changes, or a column becomes or stops
                being computed; no engine alters that in place):
                the previous release reads or writes the column
                meanwhile, and a plain column that becomes computed
                loses its values
``other``       anything else (``execute``, comments...)            expand
=============== =================================================== =========

The rule is OpenStack's expand/contract scheme: expand only adds what the
previous release ignores, contract only removes what the new release no
longer uses.

The names an operation creates are read here too (:func:`created_names`),
against each engine's limit (:data:`IDENTIFIER_LIMITS`): autogenerate
refuses a name too long, the lint reports one (``name-too-long``).
"""

import dataclasses

ADDS = 'adds'
RELAXES = 'relaxes'
REMOVES = 'removes'
TIGHTENS = 'tightens'
NEEDS_DEFAULT = 'needs-default'
REWRITES = 'rewrites'
RECREATES = 'recreates'
OTHER = 'other'

EXPAND_SAFE = frozenset((ADDS, RELAXES, OTHER))
CONTRACT_ONLY = frozenset((REMOVES, TIGHTENS))
UNPLACEABLE = frozenset((NEEDS_DEFAULT, REWRITES, RECREATES))


@dataclasses.dataclass(frozen=True)
class Kind:
    """What one operation is: its ``kind`` (above), ``where`` it acts
    (``table`` or ``table.column``) and ``why`` (one line, for messages).
    """

    kind: str
    where: str
    why: str

    @property
    def expand_safe(self):
        return self.kind in EXPAND_SAFE

    @property
    def contract_only(self):
        return self.kind in CONTRACT_ONLY


def needs_default(column):
    """Is ``column`` (a ``sqlalchemy.Column``) NOT NULL with no value the
    database can give existing rows (no server default, not computed, no
    identity)?"""
    return (not column.nullable and column.server_default is None
            and not column.computed and column.identity is None)


def classify(operation, created=()):
    """The :class:`Kind` of one alembic operation.

    :param operation: an ``alembic.operations.ops.MigrateOperation``
        (not a container: see ``ModifyTableOps.ops``).
    :param created: names of the tables the same revision creates (a
        NOT NULL column there needs no default).
    """
    from alembic.operations import ops

    from enamel import comparators

    table = getattr(operation, 'table_name', None) or ''
    if isinstance(operation, comparators.RecreateColumnOp):
        return Kind(RECREATES, f'{table}.{operation.new.name}',
                    'the column is dropped and added again (no engine '
                    'changes whether or how a column is computed in '
                    'place): the previous release reads or writes it '
                    'meanwhile')
    if isinstance(operation, ops.AddColumnOp):
        column = operation.column
        where = f'{table}.{column.name}'
        if needs_default(column) and table not in created:
            return Kind(NEEDS_DEFAULT, where,
                        'a NOT NULL column without a server default: the '
                        'previous release\'s INSERTs fail and the existing '
                        'rows have no value for it')
        return Kind(ADDS, where, 'an addition')
    if isinstance(operation, (ops.CreateTableOp, ops.CreateIndexOp,
                              ops.AddConstraintOp)):
        return Kind(ADDS, table, 'an addition')
    if isinstance(operation, ops.RenameTableOp):
        return Kind(REMOVES, table, 'the old name disappears')
    if isinstance(operation, (ops.DropTableOp, ops.DropColumnOp,
                              ops.DropIndexOp, ops.DropConstraintOp)):
        return Kind(REMOVES, table, 'a removal')
    if isinstance(operation, ops.AlterColumnOp):
        where = f'{table}.{operation.column_name}'
        if operation.modify_type is not None:
            return Kind(REWRITES, where, 'a type change')
        if operation.modify_name:
            return Kind(REMOVES, where, 'the old name disappears')
        if operation.modify_nullable is False:
            return Kind(TIGHTENS, where, 'the previous release may still '
                                         'insert NULL')
        if operation.modify_nullable is True:
            return Kind(RELAXES, where, 'NULL allowed')
    return Kind(OTHER, table, 'no schema change the phases judge')


# The longest name each engine holds, for a table, a column, an index or
# a constraint: {dialect: (engine, limit, unit, length of a name in that
# unit)}. PostgreSQL: NAMEDATALEN - 1 = 63 bytes; it cuts a longer name
# short with only a NOTICE ("Identifiers and Key Words" in its
# documentation), so the object's name differs from the model's. MySQL
# and MariaDB: 64 characters ("Identifier Length Limits"); a longer name
# is an error. SQLite has no limit. SQLAlchemy shortens a name made by a
# naming convention to each engine's limit with a hash of its own, so such
# a name differs between engines and from the one the revision spells.
IDENTIFIER_LIMITS = {
    'postgresql': ('PostgreSQL', 63, 'bytes',
                   lambda name: len(name.encode('utf-8'))),
    'mysql': ('MySQL/MariaDB', 64, 'characters', len),
}


def created_names(operations):
    """(kind, name) for each table, column, index and constraint that
    ``operations`` (alembic ops, not grouped per table) create or rename
    to; names the engine will choose (an unnamed constraint without a
    naming convention) are left out."""
    from alembic.operations import ops
    import sqlalchemy as sa

    def named(kind, name):
        # str, or SQLAlchemy's conv (a str) for a convention's name.
        if isinstance(name, str) and name:
            yield kind, str(name)

    for op in operations:
        if isinstance(op, ops.CreateTableOp):
            yield from named('table', op.table_name)
            for item in op.columns:
                if isinstance(item, sa.Column):
                    yield from named('column', item.name)
                elif isinstance(item, sa.Constraint):
                    yield from named('constraint', item.name)
        elif isinstance(op, ops.RenameTableOp):
            yield from named('table', op.new_table_name)
        elif isinstance(op, ops.AddColumnOp):
            yield from named('column', op.column.name)
        elif isinstance(op, ops.AlterColumnOp):
            yield from named('column', op.modify_name)
        elif isinstance(op, ops.CreateIndexOp):
            yield from named('index', op.index_name)
        elif isinstance(op, ops.AddConstraintOp):
            yield from named('constraint',
                             getattr(op, 'constraint_name', None))


def names_too_long(operations, dialects=tuple(IDENTIFIER_LIMITS)):
    """One line for each name ``operations`` create that is longer than
    one of ``dialects`` holds, naming the engines and their limits, e.g.
    ``the index name ix_... is too long (PostgreSQL holds 63 bytes, it
    has 65; MySQL/MariaDB holds 64 characters, it has 65)``."""
    for kind, name in created_names(operations):
        over = []
        for dialect in dialects:
            engine, limit, unit, length = IDENTIFIER_LIMITS[dialect]
            if length(name) > limit:
                over.append(f'{engine} holds {limit} {unit}, it has '
                            f'{length(name)}')
        if over:
            yield f'the {kind} name {name} is too long ({"; ".join(over)})'
