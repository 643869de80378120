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

"""MariaDB/MySQL hazards: which ``ALTER`` runs INSTANT, INPLACE or COPY.

Each change a revision makes (an alembic operation, or a statement of a
``--sql-files`` revision read by ``sqlglot``) becomes a :class:`Change`,
and :func:`algorithm` says what InnoDB does with it on the server version
the lint judges for, as MariaDB documents it ("InnoDB Online DDL
Operations with ALGORITHM=INSTANT / NOCOPY / INPLACE") and MySQL
("Online DDL Operations"). ``tests/functional/test_lint_mysql.py`` runs
every case with ``ALGORITHM=INSTANT`` and ``ALGORITHM=INPLACE, LOCK=NONE``
on the real server and checks the verdicts agree.

The byte length of a ``VARCHAR`` decides whether widening it is free: a
column of at most 255 bytes stores its length in one byte, a longer one in
two; crossing from one to the other copies the table. ``utf8mb4`` (4 bytes
a character, the default of current servers) is assumed unless the type
names another character set.
"""

import dataclasses
import logging
import re

# A statement sqlglot read as a SET: does it turn foreign key checks off
# or on for the session?
_FOREIGN_KEY_CHECKS = re.compile(
    r'\s*SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?foreign_key_checks\s*'
    r'(?::?=)\s*(0|1|ON|OFF)\s*;?\s*$', re.I)

INSTANT = 'INSTANT'
INPLACE = 'INPLACE'
COPY = 'COPY'

BYTES_PER_CHARACTER = {'latin1': 1, 'ascii': 1, 'binary': 1, 'utf8': 3,
                       'utf8mb3': 3}


@dataclasses.dataclass
class Change:
    """One change to one table: ``kind`` (``add_column``,
    ``drop_column``, ``rename_column``, ``alter_type``, ``set_not_null``,
    ``drop_not_null``, ``set_default``, ``create_index``, ``drop_index``,
    ``add_foreign_key``, ``add_check``, ``add_unique``,
    ``add_primary_key``, ``drop_primary_key``, ``drop_constraint``,
    ``create_table``, ``drop_table``, ``rename_table``,
    ``foreign_key_checks``, ``other``), the ``table``, a ``what`` for
    messages, and for a type change the ``old``/``new`` SQLAlchemy types
    (``old`` None when unknown; for ``foreign_key_checks`` ``new`` is the
    bool it is set to). ``columns``: the columns an ``add_column`` adds
    NULL in every row (nullable, no default), or an ``add_foreign_key``'s
    local columns; ``unchecked``: an ``add_foreign_key`` that runs with
    ``foreign_key_checks`` off on such columns (set by :func:`check`);
    ``source``: the alembic operation it comes from, if the caller says
    (:mod:`enamel.lint` does, to apply an exception to that operation
    only)."""

    kind: str
    table: str
    what: str
    old: object = None
    new: object = None
    stored: bool = False
    columns: tuple = ()
    unchecked: bool = False
    source: object = dataclasses.field(default=None, repr=False,
                                       compare=False)


def algorithm(change, servers):
    """``(algorithm, work)`` of ``change`` on ``servers``
    (:class:`enamel.hazards.Servers`): ``algorithm`` the cheapest of
    ``'INSTANT'``, ``'INPLACE'`` (with ``LOCK=NONE``) and ``'COPY'``;
    ``work`` ``'metadata'``, ``'build'`` (an index), ``'rebuild'`` (the
    table, online) or ``'copy'``."""
    mariadb = servers.mysql_flavour == 'mariadb'
    version = servers.mysql
    kind = change.kind
    if kind in ('create_table', 'drop_table', 'rename_table',
                'drop_constraint', 'set_default'):
        return INSTANT, 'metadata'
    if kind == 'add_column':
        if change.stored:
            return COPY, 'copy'
        if version >= ((10, 3, 2) if mariadb else (8, 0, 12)):
            return INSTANT, 'metadata'
        return INPLACE, 'rebuild'
    if kind == 'drop_column':
        if version >= ((10, 4) if mariadb else (8, 0, 29)):
            return INSTANT, 'metadata'
        return INPLACE, 'rebuild'
    if kind == 'rename_column':
        if version >= ((10, 4) if mariadb else (8, 0, 28)):
            return INSTANT, 'metadata'
        return INPLACE, 'metadata'
    if kind == 'alter_type':
        return _type_change(change, mariadb, version)
    if kind in ('set_not_null', 'drop_not_null', 'add_primary_key'):
        return INPLACE, 'rebuild'
    if kind in ('create_index', 'add_unique'):
        return INPLACE, 'build'
    if kind == 'add_foreign_key' and change.unchecked:
        # "INPLACE is supported when foreign_key_checks is disabled"
        # (MariaDB and MySQL's online DDL tables).
        return INPLACE, 'build'
    if kind == 'foreign_key_checks':
        return INSTANT, 'metadata'
    if kind == 'drop_index':
        return INPLACE, 'metadata'
    # add_foreign_key (with foreign_key_checks on), add_check,
    # drop_primary_key without a new one, and what the lint cannot name.
    return COPY, 'copy'


def _type_change(change, mariadb, version):
    import sqlalchemy as sa

    old, new = change.old, change.new
    if isinstance(old, sa.String) and isinstance(new, sa.String) and not (
            isinstance(old, (sa.Text, sa.Enum))
            or isinstance(new, (sa.Text, sa.Enum))) and (
            old.length and new.length and new.length >= old.length and
            _charset(old) == _charset(new)):
        if new.length == old.length:
            return INSTANT, 'metadata'
        per = BYTES_PER_CHARACTER.get(_charset(new), 4)
        if (old.length * per > 255) == (new.length * per > 255):
            if mariadb and version >= (10, 4, 3):
                return INSTANT, 'metadata'
            return INPLACE, 'metadata'
    return COPY, 'copy'


def _charset(type_):
    return (getattr(type_, 'charset', None) or '').lower() or None


def check(changes, servers):
    """``(rule, message)`` pairs: ``copy-alter`` for a change to an
    existing table that needs ``ALGORITHM=COPY``, and with ``galera`` set
    ``galera-toi`` for one that is not metadata only.

    :param changes: the revision's :class:`Change` list, in order (a
        table created earlier in it is new: nothing is reported on it).

    A foreign key added while ``SET foreign_key_checks = 0`` is in force
    runs INPLACE, and checks none of the rows already there: the lint
    accepts it only on columns the same revision added NULL in every row
    (nothing to check), else it is still ``copy-alter``, with the reason.
    """
    for rule, message, _ in findings(changes, servers):
        yield rule, message


def findings(changes, servers):
    """As :func:`check`, with the :class:`Change` each finding comes from:
    ``(rule, message, change)`` triples."""
    created, empty = set(), set()
    checks = True
    for change in changes:
        if change.kind == 'create_table':
            created.add(change.table)
            continue
        if change.kind == 'foreign_key_checks':
            checks = change.new
            continue
        if change.kind == 'add_column':
            empty.update((change.table, c) for c in change.columns)
        if change.table in created:
            continue
        if change.kind == 'add_foreign_key' and not checks:
            if change.columns and all((change.table, c) in empty
                                      for c in change.columns):
                change = dataclasses.replace(change, unchecked=True)
            else:
                yield ('copy-alter', f'{change.what} with '
                       'foreign_key_checks=0 runs INPLACE but never checks '
                       f'the rows already in {change.table}: only for '
                       'columns this revision adds, NULL in every row',
                       change)
                continue
        name, work = algorithm(change, servers)
        if name == COPY:
            yield ('copy-alter', f'{change.what} needs ALGORITHM=COPY: '
                   'writes to the table wait for the whole copy', change)
        elif servers.galera and work != 'metadata':
            yield ('galera-toi', f'{change.what} ({name}, {work}) runs in '
                   'total order: the whole cluster waits for it', change)


def from_op(op):
    """The :class:`Change` list of one alembic operation."""
    from alembic.operations import ops

    table = getattr(op, 'table_name', None) or getattr(
        op, 'source_table', None)
    if isinstance(op, ops.CreateTableOp):
        return [Change('create_table', table, f'create table {table}')]
    if isinstance(op, ops.DropTableOp):
        return [Change('drop_table', table, f'drop table {table}')]
    if isinstance(op, ops.RenameTableOp):
        return [Change('rename_table', table, f'rename table {table}')]
    if isinstance(op, ops.AddColumnOp):
        column = op.column
        stored = bool(column.computed is not None and
                      column.computed.persisted) or (
            column.autoincrement is True)
        empty = (column.nullable and column.server_default is None and
                 column.computed is None and not stored)
        found = [Change('add_column', table,
                        f'add column {table}.{column.name}', stored=stored,
                        columns=(column.name,) if empty else ())]
        if column.unique or column.primary_key:
            found.append(Change('add_unique', table, f'add column '
                                f'{table}.{column.name} with a unique key'))
        return found
    if isinstance(op, ops.DropColumnOp):
        return [Change('drop_column', table,
                       f'drop column {table}.{op.column_name}')]
    if isinstance(op, ops.CreateIndexOp):
        return [Change('create_index', table,
                       f'create index {op.index_name} on {table}')]
    if isinstance(op, ops.DropIndexOp):
        return [Change('drop_index', table, f'drop index {op.index_name}')]
    if isinstance(op, ops.AddConstraintOp):
        kind = {'foreignkey': 'add_foreign_key', 'check': 'add_check',
                'unique': 'add_unique', 'primary_key': 'add_primary_key'
                }.get(op.constraint_type, 'other')
        return [Change(kind, table, f'add {op.constraint_type} constraint '
                       f'{op.constraint_name or "(unnamed)"} on {table}',
                       columns=tuple(getattr(op, 'local_cols', ()) or ()))]
    if isinstance(op, ops.DropConstraintOp):
        kind = ('drop_primary_key' if op.constraint_type == 'primary'
                else 'drop_constraint')
        return [Change(kind, table, f'drop constraint {op.constraint_name} '
                       f'on {table}')]
    if isinstance(op, ops.AlterColumnOp):
        return _from_alter(op, table)
    return []


def _from_alter(op, table):
    import sqlalchemy as sa

    where = f'{table}.{op.column_name}'
    found = []
    if op.modify_type is not None:
        # alembic takes a type class too (type_=sa.Text): as its instance.
        new = sa.types.to_instance(op.modify_type)
        old = (sa.types.to_instance(op.existing_type)
               if op.existing_type is not None else None)
        found.append(Change('alter_type', table, f'type change of {where} '
                            f'to {new!r}', old=old, new=new))
    if op.modify_nullable is not None and (
            op.existing_nullable is None or
            op.modify_nullable != op.existing_nullable):
        found.append(Change('drop_not_null' if op.modify_nullable
                            else 'set_not_null', table, f'{where} '
                            f'{"NULL" if op.modify_nullable else "NOT NULL"}'))
    if op.modify_name:
        found.append(Change('rename_column', table, f'rename column '
                            f'{where}'))
    if op.modify_server_default is not False:
        found.append(Change('set_default', table, f'default of {where}'))
    return found


def from_sql(sql, dialect='mysql'):
    """The :class:`Change` list of SQL text (a statement or several), read
    by ``sqlglot``; a statement it cannot read gives ``other`` (judged as
    COPY: the lint does not guess).

    :raises exception.ConfigError: sqlglot is missing.
    """
    from enamel import sql_statements

    sqlglot = sql_statements.parser('mysql')
    from sqlglot import expressions as exp

    found = []
    quiet = logging.getLogger('sqlglot')
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its "falling back to Command" warning
    try:
        for statement in sql_statements.split(sql, dialect):
            try:
                parsed = sqlglot.parse_one(statement, read=dialect)
            except sqlglot.errors.SqlglotError:  # unreadable: COPY
                parsed = None
            found.extend(_from_expression(parsed, statement, exp))
    finally:
        quiet.setLevel(level)
    return found


def _from_expression(node, statement, exp):
    short = _short(statement)
    if node is None or isinstance(node, exp.Command):
        # Unread: an ALTER TABLE is judged as a copy, anything else (a
        # function, a grant) changes no table.
        words = statement.upper().split()
        if words[:2] == ['ALTER', 'TABLE'] and len(words) > 2:
            return [Change('other', words[2].strip('`'), short)]
        return []
    if isinstance(node, exp.Create):
        table = node.find(exp.Table)
        name = table.name if table is not None else None
        kind = {'TABLE': 'create_table', 'INDEX': 'create_index'}.get(
            (node.args.get('kind') or '').upper(), 'other')
        if kind == 'other' and (node.args.get('kind') or '').upper() in (
                'VIEW', 'PROCEDURE', 'FUNCTION', 'TRIGGER'):
            return []
        return [Change(kind, name, short)]
    if isinstance(node, exp.Drop):
        table = node.find(exp.Table)
        kind = {'TABLE': 'drop_table', 'INDEX': 'drop_index'}.get(
            (node.args.get('kind') or '').upper(), 'other')
        return [Change(kind, table.name if table is not None else None,
                       short)]
    if isinstance(node, exp.Set):
        checks = _FOREIGN_KEY_CHECKS.match(statement)
        if checks:
            return [Change('foreign_key_checks', None, short,
                           new=checks.group(1).upper() in ('1', 'ON'))]
        return []
    if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Select)):
        return []
    if not isinstance(node, _classes(exp, 'Alter', 'AlterTable')):
        return [Change('other', None, short)]
    table = node.this.name
    found = []
    for action in node.args.get('actions') or ():
        found.append(Change(_alter_kind(action, exp), table, short,
                            stored=_stored(action, exp)))
    return found


def _alter_kind(action, exp):
    text = action.sql(dialect='mysql').upper()
    if isinstance(action, exp.ColumnDef):
        return 'add_column'
    if isinstance(action, _classes(exp, 'RenameColumn')):
        return 'rename_column'
    if isinstance(action, _classes(exp, 'AlterRename', 'RenameTable')):
        return 'rename_table'
    if isinstance(action, exp.AlterColumn):
        return 'set_default' if 'DEFAULT' in text else 'other'
    if isinstance(action, _classes(exp, 'ModifyColumn')):
        return 'alter_type'
    if isinstance(action, exp.Drop):
        kind = (action.args.get('kind') or '').upper()
        if 'PRIMARY' in text:
            return 'drop_primary_key'
        return {'COLUMN': 'drop_column', 'INDEX': 'drop_index'}.get(
            kind, 'drop_constraint')
    if isinstance(action, exp.AddConstraint):
        for marker, kind in (('FOREIGN KEY', 'add_foreign_key'),
                             ('CHECK', 'add_check'),
                             ('PRIMARY KEY', 'add_primary_key'),
                             ('UNIQUE', 'add_unique')):
            if marker in text:
                return kind
    return 'other'


def _classes(exp, *names):
    """The sqlglot expression classes of ``names`` this version has
    (they were renamed and added across releases)."""
    return tuple(getattr(exp, n) for n in names if hasattr(exp, n))


def _stored(action, exp):
    return isinstance(action, exp.ColumnDef) and any(
        word in action.sql(dialect='mysql').upper()
        for word in (' STORED', 'AUTO_INCREMENT', 'PERSISTENT'))


def _short(sql):
    text = ' '.join(sql.split())
    return text if len(text) <= 70 else text[:67] + '...'
