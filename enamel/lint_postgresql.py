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

"""PostgreSQL hazards of a revision, read from the statements it runs.

Both forms of a revision meet here as SQL: an alembic operation is
compiled by alembic's offline mode for PostgreSQL, a ``--sql-files``
revision is its own text; ``pglast`` (the server's own parser) reads
either. What each statement locks is PostgreSQL's documentation of
``ALTER TABLE``, ``CREATE INDEX`` and "Explicit Locking"; the rules are
listed in :data:`enamel.hazards.RULES`. A table created by the same
revision has no readers yet: only what fails outright
(``concurrently-in-transaction``) is reported on it.
"""

import dataclasses

from enamel import sql_statements

# A column default that calls a function whose value differs per row
# (volatile, pg_proc.provolatile = 'v': random(), gen_random_uuid(),
# clock_timestamp(), nextval() ...) rewrites the table on every version.
# now(), CURRENT_TIMESTAMP and the like are stable: free from 11. Every
# function not known to be stable counts as volatile (see _volatile).
STABLE = frozenset(('now', 'current_timestamp', 'transaction_timestamp',
                    'localtimestamp', 'current_date'))
SERIAL = frozenset(('serial', 'serial4', 'bigserial', 'serial8',
                    'smallserial', 'serial2'))


@dataclasses.dataclass
class Statement:
    """One statement a revision runs: its ``sql``, whether it runs
    ``in_transaction`` (outside alembic's ``autocommit_block``), and the
    alembic ``op`` it was compiled from (None for SQL text)."""

    sql: str
    in_transaction: bool = True
    op: object = None


@dataclasses.dataclass
class State:
    """What earlier statements of the revision established."""

    created: set = dataclasses.field(default_factory=set)
    indexes: set = dataclasses.field(default_factory=set)
    not_valid: dict = dataclasses.field(default_factory=dict)
    # (table, column) of a validated CHECK (column IS NOT NULL).
    not_null_checks: set = dataclasses.field(default_factory=set)
    pending_checks: dict = dataclasses.field(default_factory=dict)


def parse(sql):
    """The pglast nodes of ``sql``, or raise ``pglast.parser.ParseError``.
    """
    pglast = sql_statements.parser('postgresql')
    return [raw.stmt for raw in pglast.parse_sql(sql)]


def check(statements, servers, created=()):
    """``(rule, message)`` pairs for ``statements`` (a list of
    :class:`Statement`) on ``servers`` (:class:`enamel.hazards.Servers`).

    :param created: tables the revision creates through operations
        (a ``CREATE TABLE`` in SQL is seen here too).
    """
    for rule, message, _ in findings(statements, servers, created):
        yield rule, message


def findings(statements, servers, created=()):
    """As :func:`check`, with the :class:`Statement` each finding comes
    from: ``(rule, message, statement)`` triples."""
    pglast = sql_statements.parser('postgresql')
    state = State(created=set(created))
    for statement in statements:
        if not statement.in_transaction:
            state.not_valid.clear()  # what ran before was committed
        try:
            nodes = parse(statement.sql)
        except pglast.parser.ParseError as exc:
            yield ('unparsable-sql', f'PostgreSQL cannot parse '
                   f'{_short(statement.sql)}: {exc}', statement)
            continue
        for node in nodes:
            for rule, message in _check_node(node, statement, servers,
                                             state):
                yield rule, message, statement
            if type(node).__name__ == 'TransactionStmt':
                state.not_valid.clear()


def _check_node(node, statement, servers, state):
    name = type(node).__name__
    short = _short(statement.sql)
    outside = sql_statements.outside_transaction(statement.sql, 'postgresql')
    if outside and statement.in_transaction:
        yield ('concurrently-in-transaction',
               f'{outside} inside the migration transaction: {short}')
    if name == 'CreateStmt':
        state.created.add(node.relation.relname)
        if not _has_primary_key(node):
            yield ('no-primary-key',
                   f'create table {node.relation.relname} without a '
                   'primary key')
    elif name == 'IndexStmt':
        state.indexes.add(node.idxname)
        if not node.concurrent and node.relation.relname not in \
                state.created:
            yield ('index-not-concurrent',
                   f'create index {node.idxname or ""} on '
                   f'{node.relation.relname} without CONCURRENTLY')
    elif name == 'DropStmt' and _object(node.removeType) == 'INDEX':
        names = _dropped_names(node)
        if not node.concurrent and not set(names) <= state.indexes:
            yield ('drop-index-not-concurrent',
                   f'drop index {", ".join(names)} without CONCURRENTLY')
    elif name == 'RenameStmt' and _object(node.renameType) in (
            'COLUMN', 'TABLE'):
        table = node.relation.relname
        if table not in state.created:
            what = (f'column {table}.{node.subname}'
                    if _object(node.renameType) == 'COLUMN'
                    else f'table {table}')
            yield 'rename', f'rename {what} to {node.newname}'
    elif name == 'AlterTableStmt' and node.relation is not None:
        table = node.relation.relname
        for command in node.cmds or ():
            yield from _check_alter(table, command, statement, servers,
                                    state)
    elif name == 'TransactionStmt':
        yield ('transaction-control', f'{short}: enamel runs each '
               'revision in its own transaction')
    elif name in ('VacuumStmt', 'ClusterStmt') and (
            name == 'ClusterStmt' or 'full' in _options(node)):
        yield 'table-rewrite', f'{short} rewrites the table'


def _check_alter(table, command, statement, servers, state):
    subtype = command.subtype.name
    existing = table not in state.created
    if subtype == 'AT_AddColumn':
        column = command.def_
        if existing:
            yield from _check_add_column(table, column, servers)
    elif subtype == 'AT_AlterColumnType' and existing:
        if not _free_type_change(statement.op):
            yield ('table-rewrite',
                   f'type change of {table}.{command.name} rewrites the '
                   'table (and its indexes)')
    elif subtype == 'AT_SetNotNull' and existing:
        if not (servers.postgresql >= (12,) and (
                table, command.name) in state.not_null_checks):
            yield ('set-not-null',
                   f'{table}.{command.name} SET NOT NULL scans the table '
                   'under ACCESS EXCLUSIVE')
    elif subtype == 'AT_AddConstraint':
        yield from _check_constraint(table, command.def_, state, existing)
    elif subtype == 'AT_ValidateConstraint':
        if command.name in state.not_valid:
            yield ('validate-in-same-transaction',
                   f'VALIDATE CONSTRAINT {command.name} in the transaction '
                   'that added it')
        column = state.pending_checks.pop(command.name, None)
        if column:
            state.not_null_checks.add((table, column))


def _check_add_column(table, column, servers):
    where = f'{table}.{column.colname}'
    type_name = column.typeName.names[-1].sval.lower()
    constraints = {c.contype.name: c for c in column.constraints or ()}
    default = constraints.get('CONSTR_DEFAULT')
    if type_name in SERIAL:
        yield ('table-rewrite', f'add {type_name} column {where}: its '
               'sequence default is volatile and rewrites the table')
    elif 'CONSTR_IDENTITY' in constraints:
        yield ('table-rewrite', f'add identity column {where} rewrites the '
               'table')
    elif 'CONSTR_GENERATED' in constraints:
        yield ('table-rewrite', f'add stored generated column {where} '
               'rewrites the table')
    elif default is not None:
        volatile = _volatile(default.raw_expr)
        if volatile:
            yield ('table-rewrite', f'add column {where} with the volatile '
                   f'default {volatile}() rewrites the table')
        elif servers.postgresql < (11,):
            yield ('table-rewrite', f'add column {where} with a default '
                   'rewrites the table before PostgreSQL 11')
    if 'CONSTR_NOTNULL' in constraints and default is None and not (
            type_name in SERIAL or 'CONSTR_IDENTITY' in constraints
            or 'CONSTR_GENERATED' in constraints):
        yield ('not-null-without-default', f'add NOT NULL column {where} '
               'without a default')
    for kind in ('CONSTR_PRIMARY', 'CONSTR_UNIQUE'):
        if kind in constraints:
            yield ('unique-constraint-index', f'add column {where} with an '
                   'inline unique/primary key builds its index under ACCESS '
                   'EXCLUSIVE')
    for kind in ('CONSTR_FOREIGN', 'CONSTR_CHECK'):
        if kind in constraints and not constraints[kind].skip_validation:
            yield ('constraint-not-valid', f'add column {where} with an '
                   'inline constraint validated under lock')


def _check_constraint(table, constraint, state, existing):
    kind = constraint.contype.name
    name = constraint.conname or ''
    if kind in ('CONSTR_FOREIGN', 'CONSTR_CHECK'):
        if constraint.skip_validation:
            state.not_valid[name] = table
            column = _not_null_column(constraint) if kind == \
                'CONSTR_CHECK' else None
            if column:
                state.pending_checks[name] = column
        elif existing:
            what = 'foreign key' if kind == 'CONSTR_FOREIGN' else 'check'
            yield ('constraint-not-valid', f'add {what} '
                   f'{name or "(unnamed)"} on {table} without NOT VALID: '
                   'validated under lock')
            column = _not_null_column(constraint) if kind == \
                'CONSTR_CHECK' else None
            if column:
                state.not_null_checks.add((table, column))
    elif kind in ('CONSTR_UNIQUE', 'CONSTR_PRIMARY', 'CONSTR_EXCLUSION') \
            and existing and not constraint.indexname:
        yield ('unique-constraint-index', f'add constraint '
               f'{name or "(unnamed)"} on {table} builds its index under '
               'ACCESS EXCLUSIVE')


def _not_null_column(constraint):
    """``c`` for a ``CHECK (c IS NOT NULL)``, else None."""
    expr = constraint.raw_expr
    if type(expr).__name__ == 'NullTest' and \
            expr.nulltesttype.name == 'IS_NOT_NULL' and \
            type(expr.arg).__name__ == 'ColumnRef':
        return expr.arg.fields[-1].sval
    return None


def _volatile(expr):
    """The name of a function in ``expr`` that may be volatile (an
    unknown function counts: PostgreSQL's catalog would tell, the lint has
    none), or None."""
    found = []

    def visit(node):
        if type(node).__name__ == 'FuncCall':
            name = node.funcname[-1].sval.lower()
            if name not in STABLE:
                found.append(name)
        for field in getattr(node, '__slots__', ()):
            value = getattr(node, field, None)
            for child in value if isinstance(value, tuple) else (value,):
                if hasattr(child, '__slots__'):
                    visit(child)

    visit(expr)
    return found[0] if found else None


def _free_type_change(op):
    """Does the alembic ``op`` only relabel the column, which PostgreSQL
    does in the catalog (its ``ALTER TABLE`` notes: a longer or unbounded
    ``varchar``, ``varchar`` to ``text``, a wider ``numeric`` of the same
    scale)? Needs the op's ``existing_type``; SQL text does not say."""
    import sqlalchemy as sa

    old = getattr(op, 'existing_type', None)
    new = getattr(op, 'modify_type', None)
    if old is None or new is None:
        return False
    # alembic takes a type class too (type_=sa.Text): as its instance.
    old, new = sa.types.to_instance(old), sa.types.to_instance(new)
    if isinstance(old, sa.String) and isinstance(new, sa.String):
        if isinstance(new, sa.Text) or isinstance(new, sa.Enum) or \
                isinstance(old, sa.Enum):
            return isinstance(new, sa.Text) and not isinstance(old, sa.Enum)
        return new.length is None or (
            old.length is not None and new.length >= old.length)
    if isinstance(old, sa.Numeric) and isinstance(new, sa.Numeric) and \
            not isinstance(old, sa.Float) and not isinstance(new, sa.Float):
        return (old.scale == new.scale and old.precision is not None and
                (new.precision is None or new.precision >= old.precision))
    return False


def _has_primary_key(node):
    for element in node.tableElts or ():
        kinds = [c.contype.name for c in
                 getattr(element, 'constraints', None) or ()]
        if type(element).__name__ == 'Constraint':
            kinds = [element.contype.name]
        if 'CONSTR_PRIMARY' in kinds:
            return True
    return False


def _dropped_names(node):
    return [getattr(name[-1], 'sval', '') for name in node.objects or ()]


def _object(value):
    return value.name.replace('OBJECT_', '')


def _options(node):
    return {getattr(o, 'defname', '') for o in node.options or ()}


def _short(sql):
    text = ' '.join(sql.split())
    return text if len(text) <= 70 else text[:67] + '...'


def changes(sql):
    """The phase effects of PostgreSQL ``sql``: a list of ``(kind,
    description)`` with ``kind`` ``'removes'`` or ``'adds'`` (for the
    phase rules); empty for SQL pglast cannot parse."""
    pglast = sql_statements.parser('postgresql')
    try:
        nodes = parse(sql)
    except pglast.parser.ParseError:
        return []
    found = []
    for node in nodes:
        name = type(node).__name__
        if name == 'DropStmt':
            found.append(('removes', f'DROP {_object(node.removeType)}'))
        elif name == 'RenameStmt':
            found.append(('removes', f'RENAME {_object(node.renameType)}'))
        elif name in ('CreateStmt', 'IndexStmt'):
            found.append(('adds', 'CREATE TABLE' if name == 'CreateStmt'
                          else 'CREATE INDEX'))
        elif name == 'AlterTableStmt':
            for command in node.cmds or ():
                subtype = command.subtype.name
                if subtype in ('AT_DropColumn', 'AT_DropConstraint'):
                    found.append(('removes', subtype[3:].replace('_', ' ')))
                elif subtype == 'AT_SetNotNull':
                    found.append(('removes', 'SET NOT NULL'))
                elif subtype in ('AT_AddColumn', 'AT_AddConstraint'):
                    found.append(('adds', subtype[3:]))
    return found
