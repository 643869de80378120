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

"""How autogenerate writes Python into a revision: the same code for every
engine, wherever the revision is generated.

alembic renders a server default that is an SQL expression as the
*current* dialect compiles it (``sa.text('0')`` for ``sa.false()`` on
SQLite, which PostgreSQL refuses for a boolean; ``sa.text('now()')`` on
PostgreSQL, which SQLite refuses). :func:`render_item` (alembic's
``render_item`` hook, given by
:func:`enamel.environment.context_options`) writes the expression itself
instead, which SQLAlchemy compiles for whichever engine runs the revision.
This module imports alembic: only code that runs alembic imports it.

:class:`AutocommitBlockOp` wraps operations in alembic's
``autocommit_block()`` (:func:`enamel.autogen.build_indexes_concurrently`).
:class:`ForeignKeyChecksOp` lets MariaDB/MySQL add a foreign key on a new
column INPLACE; :class:`OnlyOnOp` runs operations on one engine only.
:class:`CreateEnumOp` and :class:`DropEnumOp` are operations that
:mod:`enamel.autogen` adds for a named ``sa.Enum``: PostgreSQL keeps it
as a type of its own that ``drop_table`` does not remove and
``add_column`` does not create.
"""

import alembic
from alembic.autogenerate import renderers
from alembic.operations import ops
import sqlalchemy as sa
from sqlalchemy.sql import functions

from enamel import alembic_internals

# SQL functions written as sa.func.<name>() (no arguments): SQLAlchemy
# compiles each for every engine.
PORTABLE_FUNCTIONS = frozenset((
    'now', 'current_timestamp', 'current_date', 'current_time',
    'localtimestamp'))


def render_item(type_, obj, autogen_context):
    """alembic's ``render_item`` hook.

    :param type_: what alembic renders (``'server_default'``, ``'type'``…).
    :param obj: the object.
    :returns: the Python source (str), or False for alembic's own
        rendering.
    """
    if type_ == 'server_default':
        return render_server_default(obj)
    return False


def render_server_default(default):
    """A model's server default as portable Python source, or False when
    alembic's own rendering is already portable (a plain string is
    written as the quoted literal, which every engine accepts) or the
    expression is not one enamel knows to be portable.

    ``sa.false()``/``sa.true()`` stay themselves, ``sa.func.now()`` and
    the other argument-less current-time functions stay function calls,
    and ``sa.text('...')`` keeps its text (the model's author chose it).
    """
    arg = getattr(default, 'arg', None)
    if not isinstance(default, sa.schema.DefaultClause) or isinstance(
            arg, str):
        return False
    if isinstance(arg, sa.sql.elements.False_):
        return 'sa.false()'
    if isinstance(arg, sa.sql.elements.True_):
        return 'sa.true()'
    if isinstance(arg, functions.FunctionElement) and (
            arg.name.lower() in PORTABLE_FUNCTIONS and
            not arg.clauses.clauses):
        return f'sa.func.{arg.name.lower()}()'
    if isinstance(arg, sa.sql.elements.TextClause):
        return f'sa.text({arg.text!r})'
    return False


class CreateEnumOp(ops.MigrateOperation):
    """Create a named enum type where the engine has one (PostgreSQL),
    before ``add_column`` uses it; a no-op elsewhere.

    :param enum: the ``sa.Enum``.
    """

    def __init__(self, enum):
        self.enum = enum

    def reverse(self):
        return DropEnumOp(self.enum)


class DropEnumOp(ops.MigrateOperation):
    """Drop a named enum type, where the engine has one (PostgreSQL), after
    the last table using it is dropped; a no-op elsewhere.

    :param enum: the ``sa.Enum``.
    """

    def __init__(self, enum):
        self.enum = enum

    def reverse(self):
        return CreateEnumOp(self.enum)


class AutocommitBlockOp(ops.MigrateOperation):
    """Operations that run in ``op.get_context().autocommit_block()``,
    outside the migration's transaction (for PostgreSQL's ``CREATE INDEX
    CONCURRENTLY``, which a transaction refuses).

    :param ops: the inner operations (``MigrateOperation`` list).
    """

    def __init__(self, ops):
        self.ops = ops

    def reverse(self):
        return AutocommitBlockOp([o.reverse() for o in reversed(self.ops)])


@renderers.dispatch_for(AutocommitBlockOp)
def _render_autocommit_block(autogen_context, op):
    lines = ['with op.get_context().autocommit_block():']
    lines += _indented(autogen_context, op.ops)
    return '\n'.join(lines)


def _indented(autogen_context, operations):
    """The source of ``operations``, one level in. alembic renders a
    ``batch_alter_table`` block as a list of lines for its printer to
    indent; here its body is indented by hand."""
    lines = []
    for inner in operations:
        source = renderers.dispatch(inner)(autogen_context, inner)
        if isinstance(source, str):
            source = source.splitlines()
        source = [line for line in source if line.strip()]
        if source and source[0].startswith('with ') and \
                source[0].endswith(':') and isinstance(inner,
                                                       ops.ModifyTableOps):
            source = source[:1] + ['    ' + line for line in source[1:]]
        lines.extend('    ' + line for line in source)
    return lines


class PostgreSQLBranchOp(ops.MigrateOperation):
    """``postgresql`` operations on PostgreSQL, ``other`` operations on
    the other engines (a recipe only PostgreSQL has, such as ``NOT
    VALID``).

    :param postgresql: ``MigrateOperation`` list.
    :param other: ``MigrateOperation`` list.
    """

    def __init__(self, postgresql, other):
        self.postgresql, self.other = postgresql, other

    def reverse(self):
        return ops.UpgradeOps(ops=self.other).reverse().ops


@renderers.dispatch_for(PostgreSQLBranchOp)
def _render_postgresql_branch(autogen_context, op):
    lines = []
    for header, branch in (
            ("if op.get_context().dialect.name == 'postgresql':",
             op.postgresql), ('else:', op.other)):
        lines.append(header)
        lines += _indented(autogen_context, branch)
    return '\n'.join(lines)


class OnlyOnOp(ops.MigrateOperation):
    """Operations that run on one engine only, e.g. SQLite's drop and
    re-add of the computed columns around a batch that copies the table
    (:func:`enamel.autogen.computed_columns_outside_batches`): the other
    engines alter the table in place and keep them.

    :param dialect: the dialect name (``'sqlite'``...).
    :param ops: ``MigrateOperation`` list.
    """

    def __init__(self, dialect, ops):
        self.dialect, self.ops = dialect, ops

    def reverse(self):
        return OnlyOnOp(self.dialect,
                        [o.reverse() for o in reversed(self.ops)])


@renderers.dispatch_for(OnlyOnOp)
def _render_only_on(autogen_context, op):
    lines = [f'if op.get_context().dialect.name == {op.dialect!r}:']
    lines += _indented(autogen_context, op.ops)
    return '\n'.join(lines)


class NotNullCheckOp(ops.MigrateOperation):
    """On PostgreSQL only: before a column becomes NOT NULL (``before``
    True), add ``CHECK (column IS NOT NULL) NOT VALID`` and validate it
    after a commit; after it (``before`` False), drop that check
    (:func:`enamel.autogen.set_not_null_through_a_check`).

    :param table: the table name.
    :param column: the column name.
    :param before: which half.
    """

    def __init__(self, table, column, before):
        self.table, self.column, self.before = table, column, before

    @property
    def name(self):
        return f'ck_{self.table}_{self.column}_not_null'[:63]

    def reverse(self):
        return NotNullCheckOp(self.table, self.column, not self.before)


@renderers.dispatch_for(NotNullCheckOp)
def _render_not_null_check(autogen_context, op):
    name, table = op.name, op.table
    lines = ["if op.get_context().dialect.name == 'postgresql':"]
    if op.before:
        lines += [
            '    # NOT NULL without a scan under ACCESS EXCLUSIVE: a '
            'validated',
            '    # CHECK first (PostgreSQL 12+; enamel-sync lint: '
            'set-not-null).',
            f'    op.create_check_constraint(op.f({name!r}), {table!r}, '
            f"'{op.column} IS NOT NULL',",
            '                               postgresql_not_valid=True)',
            '    with op.get_context().autocommit_block():',
            f"        op.execute('ALTER TABLE {table} VALIDATE CONSTRAINT "
            f"{name}')"]
    else:
        lines.append(f'    op.drop_constraint(op.f({name!r}), {table!r}, '
                     "type_='check')")
    return '\n'.join(lines)


class ForeignKeyChecksOp(ops.MigrateOperation):
    """On MariaDB/MySQL only: turn the session's ``foreign_key_checks``
    off (``on`` False) before a foreign key is added on columns the same
    revision adds NULL in every row, so that it is built INPLACE instead
    of copying the table, and back on after it
    (:func:`enamel.autogen.add_constraints_without_a_long_lock`).

    :param where: the columns, for the comment (``table.column``).
    :param on: which half.
    """

    def __init__(self, where, on):
        self.where, self.on = where, on

    def reverse(self):
        return ForeignKeyChecksOp(self.where, not self.on)


@renderers.dispatch_for(ForeignKeyChecksOp)
def _render_foreign_key_checks(autogen_context, op):
    lines = ["if op.get_context().dialect.name == 'mysql':"]
    if not op.on:
        lines += [
            '    # A foreign key without a table copy (enamel-sync lint: '
            'copy-alter):',
            f'    # {op.where} is new, NULL in every row: nothing to check.']
    lines.append(f"    op.execute('SET foreign_key_checks = {int(op.on)}')")
    return '\n'.join(lines)


def _enum_source(enum):
    values = ', '.join(repr(v) for v in enum.enums)
    return f'sa.Enum({values}, name={enum.name!r})'


@renderers.dispatch_for(CreateEnumOp)
def _render_create_enum(autogen_context, op):
    return (f'{_enum_source(op.enum)}.create(op.get_bind(), '
            'checkfirst=True)')


@renderers.dispatch_for(DropEnumOp)
def _render_drop_enum(autogen_context, op):
    return (f'{_enum_source(op.enum)}.drop(op.get_bind(), '
            'checkfirst=True)')


class CreateCheckOp(ops.CreateCheckConstraintOp):
    """alembic's ``CreateCheckConstraintOp`` that every alembic enamel
    supports can write: alembic writes ``op.create_check_constraint``
    from 1.19.0 (its changelog: CHECK constraints in autogenerate, #508);
    before, its renderer raises ``NotImplementedError``, and a CHECK that
    :mod:`enamel.comparators` finds could not be written. Under 1.19 and
    later alembic's own renderer writes it."""

    def reverse(self):
        return DropCheckOp.from_constraint(self.to_constraint())


class DropCheckOp(ops.DropConstraintOp):
    """``DropConstraintOp`` of a CHECK, whose reverse (a downgrade's
    re-creation) is a :class:`CreateCheckOp`."""

    def reverse(self):
        return CreateCheckOp.from_constraint(self.to_constraint())


def _render_create_check(autogen_context, op):
    """``op.create_check_constraint(name, table, condition)``, as alembic
    1.19 writes it, for alembic 1.16 to 1.18."""
    constraint = op.to_constraint()
    batch = alembic_internals.in_batch(autogen_context)
    prefix = 'batch_op.' if batch else 'op.'
    name = constraint.name
    args = [f'{prefix}f({str(name)!r})'
            if isinstance(name, sa.sql.elements.conv) else repr(name)]
    if not batch:
        args.append(repr(op.table_name))
    condition = str(constraint.sqltext.compile(
        compile_kwargs={'literal_binds': True}))
    args.append(repr(condition))
    if op.schema and not batch:
        args.append(f'schema={op.schema!r}')
    return f"{prefix}create_check_constraint({', '.join(args)})"


if tuple(int(p) for p in alembic.__version__.split('.')[:2]) < (1, 19):
    renderers.dispatch_for(CreateCheckOp)(_render_create_check)
