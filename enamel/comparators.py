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

"""What enamel compares beyond alembic's autogenerate.

alembic compares tables, columns, types, plain server defaults, indexes,
unique constraints, foreign keys and comments. It does not compare CHECK
constraints (an opt-in plugin since alembic 1.18, by name only), only
warns about a changed computed column, and compares an identity column on
engines that cannot reflect one (SQLite, MariaDB), so that it differs
forever; alembic 1.18 and later also stop with an ``AttributeError`` when
a ``compare_server_default`` hook meets a computed or identity column.

:func:`install` registers two comparators with alembic's
``alembic.autogenerate.comparators`` (the extension point that alembic
1.16 and its plugin system of 1.18 both run): :func:`compare_column`
decides every server default, computed column and identity itself
(``environment.context_options`` sets alembic's own
``compare_server_default`` to False), and :func:`compare_table` adds the
CHECK constraints and the computed columns. Both act only for a context
configured with ``enamel_notes`` (enamel's own), so another alembic
environment in the same process is left as alembic makes it.

What an engine cannot reflect is never a difference: it becomes one note
in the ``enamel_notes`` set that the caller gave (``check`` prints each
once). This module imports alembic: only code that runs alembic imports
it.
"""

from alembic.autogenerate import comparators
from alembic.autogenerate import renderers
from alembic.operations import ops
import sqlalchemy as sa

from enamel import compare
from enamel import render

# Engines whose SQLAlchemy inspector gives a column's IDENTITY (a MariaDB
# or SQLite autoincrement column is no identity: it is reflected as none).
IDENTITY_REFLECTED = frozenset(('postgresql', 'oracle', 'mssql'))
# The identity options enamel compares, with the value an engine reports
# when the model leaves one out (PostgreSQL's defaults).
IDENTITY_OPTIONS = (('always', False), ('start', 1), ('increment', 1))

_installed = []


def install():
    """Register the comparators with alembic (once per process)."""
    if _installed:
        return
    comparators.dispatch_for('column')(compare_column)
    try:
        # alembic 1.18+: after alembic's own table comparators, so that
        # an index alembic already recreates is not recreated twice.
        from alembic.util import DispatchPriority
        comparators.dispatch_for('table', priority=DispatchPriority.LAST)(
            compare_table)
    except ImportError:
        # alembic 1.16/1.17 run comparators in the order registered.
        comparators.dispatch_for('table')(compare_table)
    _installed.append(True)


def _notes(autogen_context):
    """The caller's set of notes, or None for a context enamel did not
    configure."""
    return autogen_context.migration_context.opts.get('enamel_notes')


def note(autogen_context, text):
    """Say once that ``text`` (str) was not compared."""
    notes = _notes(autogen_context)
    if notes is not None:
        notes.add(text)


def compare_column(autogen_context, alter_column_op, schema, tname, cname,
                   conn_col, metadata_col):
    """alembic's column comparator: the server default, identity and
    computed value of a column both sides have.

    Sets ``alter_column_op.modify_server_default`` to the model's default
    when the values differ, else leaves it unchanged (False), whatever an
    earlier comparator did. A computed column is compared by
    :func:`compare_table`, which can recreate it.
    """
    if _notes(autogen_context) is None:
        return None
    dialect = autogen_context.dialect.name
    metadata_default = metadata_col.server_default
    conn_default = conn_col.server_default
    alter_column_op.modify_server_default = False
    if metadata_col.table._autoincrement_column is metadata_col or (
            metadata_col.autoincrement is True):
        alter_column_op.kw['autoincrement'] = True
    elif metadata_col.autoincrement is False:
        alter_column_op.kw['autoincrement'] = False
    if isinstance(metadata_default, sa.Computed) or isinstance(
            conn_default, sa.Computed):
        return None
    if isinstance(metadata_default, sa.Identity) or isinstance(
            conn_default, sa.Identity):
        if dialect not in IDENTITY_REFLECTED:
            note(autogen_context, f'{dialect} does not reflect IDENTITY: '
                                  f'{tname}.{cname} is not compared')
            return None
        if _identity(metadata_default) != _identity(conn_default):
            alter_column_op.modify_server_default = metadata_default
        return None
    if conn_default is not None:
        alter_column_op.existing_server_default = conn_default
    if conn_default is None and metadata_default is None:
        return None
    rendered = None
    if isinstance(metadata_default, sa.schema.DefaultClause):
        rendered = metadata_default.arg
        if not isinstance(rendered, str):
            rendered = str(rendered.compile(
                dialect=autogen_context.dialect,
                compile_kwargs={'literal_binds': True}))
    if compare.compare_server_default(
            autogen_context.migration_context, conn_col, metadata_col,
            conn_default.arg.text if conn_default is not None else None,
            metadata_default, rendered):
        alter_column_op.modify_server_default = metadata_default
    return None


def _identity(default):
    """An identity's compared options (a tuple), None for no identity."""
    if not isinstance(default, sa.Identity):
        return None
    return tuple(getattr(default, name, None) or fallback
                 for name, fallback in IDENTITY_OPTIONS)


def compare_table(autogen_context, modify_table_ops, schema, tname,
                  conn_table, metadata_table):
    """alembic's table comparator: the computed columns and CHECK
    constraints of a table both sides have."""
    if _notes(autogen_context) is None or conn_table is None or (
            metadata_table is None):
        return None
    _compare_computed(autogen_context, modify_table_ops, conn_table,
                      metadata_table)
    _compare_checks(autogen_context, modify_table_ops, schema, tname,
                    conn_table, metadata_table)
    _compare_index_options(autogen_context, modify_table_ops, conn_table,
                           metadata_table)
    _note_unreflected(autogen_context, tname, conn_table, metadata_table)
    return None


def _index_options(index):
    options = index.dialect_options['postgresql']
    where = options.get('where')
    if where is not None and not isinstance(where, str):
        where = str(where)
    return (compare.normalise_expression(where),
            tuple(str(getattr(c, 'name', c))
                  for c in options.get('include') or ()),
            (options.get('using') or 'btree').lower())


def _compare_index_options(autogen_context, modify_table_ops, conn_table,
                           metadata_table):
    """PostgreSQL: an index whose ``postgresql_where``, ``_include`` or
    ``_using`` changed is dropped and created again."""
    if autogen_context.dialect.name != 'postgresql':
        return
    touched = {getattr(op, 'index_name', None) or getattr(
        getattr(op, 'index', None), 'name', None)
        for op in modify_table_ops.ops}
    live = {i.name: i for i in conn_table.indexes}
    for index in metadata_table.indexes:
        if index.name in touched or index.name not in live:
            continue
        if _index_options(index) != _index_options(live[index.name]):
            modify_table_ops.ops.append(
                ops.DropIndexOp.from_index(live[index.name]))
            modify_table_ops.ops.append(ops.CreateIndexOp.from_index(index))


def _note_unreflected(autogen_context, tname, conn_table, metadata_table):
    """Say once what this engine keeps but cannot give back."""
    dialect = autogen_context.dialect
    if not dialect.supports_comments and (
            metadata_table.comment or any(
                c.comment for c in metadata_table.columns)):
        note(autogen_context, f'{dialect.name} keeps no comments: those of '
                              f'{tname} are not compared')
    live = {i.name for i in conn_table.indexes}
    for index in metadata_table.indexes:
        expressions = [e for e in index.expressions
                       if not isinstance(e, sa.Column)]
        if expressions and index.name not in live:
            note(autogen_context, f'{dialect.name} does not reflect '
                                  f'expression index {tname}.{index.name}')


def _computed_sql(column, dialect):
    computed = column.computed
    if computed is None:
        return None
    return compare.normalise_expression(computed.sqltext.compile(
        dialect=dialect, compile_kwargs={'literal_binds': True}))


def _compare_computed(autogen_context, modify_table_ops, conn_table,
                      metadata_table):
    dialect = autogen_context.dialect
    before = [c for c in conn_table.columns if c.computed is not None]
    after = [c for c in metadata_table.columns if c.computed is not None]
    if before or after:
        # For enamel.autogen.computed_columns_outside_batches.
        modify_table_ops.enamel_computed = (before, after)
    for column in metadata_table.columns:
        if column.name not in conn_table.columns:
            continue
        reflected = conn_table.columns[column.name]
        if column.computed is None and reflected.computed is None:
            continue
        if _computed_sql(column, dialect) != _computed_sql(reflected,
                                                           dialect):
            modify_table_ops.ops.append(RecreateColumnOp(
                metadata_table.name, reflected, column,
                schema=modify_table_ops.schema))


def _reflected_checks(autogen_context, schema, tname, conn_table):
    """The live table's CHECK constraints, as ``CheckConstraint`` objects
    on ``conn_table``; None when the engine cannot list them."""
    try:
        reflected = autogen_context.inspector.get_check_constraints(
            tname, schema=schema)
    except NotImplementedError:
        return None
    checks = []
    for item in reflected:
        name, text = item.get('name'), item['sqltext']
        if autogen_context.dialect.name == 'mysql' and (
                name in conn_table.columns and
                compare.normalise_expression(text) ==
                f'json_valid{name.lower()}'):
            continue  # MariaDB's own CHECK on a JSON column
        # conv(): the reflected name as it is, never run through the
        # models' naming convention again when the revision drops it.
        checks.append(sa.CheckConstraint(
            sa.text(text), name=sa.schema.conv(name) if name else None))
    return checks


def _compare_checks(autogen_context, modify_table_ops, schema, tname,
                    conn_table, metadata_table):
    dialect = autogen_context.dialect
    reflected = _reflected_checks(autogen_context, schema, tname,
                                  conn_table)
    models = [c for c in metadata_table.constraints
              if isinstance(c, sa.CheckConstraint) and
              not getattr(c, '_type_bound', False)]
    if reflected is None:
        if models:
            note(autogen_context, f'{dialect.name} does not reflect CHECK '
                                  f'constraints: {tname} is not compared')
        return

    def sql(check, compiled):
        text = check.sqltext
        if compiled:
            text = text.compile(dialect=dialect,
                                compile_kwargs={'literal_binds': True})
        return compare.normalise_expression(text)

    live = {c.name: c for c in reflected if c.name}
    unnamed = [sql(c, False) for c in reflected if not c.name]
    for check in models:
        name = check.name if isinstance(check.name, str) else None
        if name and name in live:
            old = live.pop(name)
            if sql(old, False) != sql(check, True):
                modify_table_ops.ops.append(_drop(old, tname, schema))
                modify_table_ops.ops.append(
                    render.CreateCheckOp.from_constraint(check))
        elif sql(check, True) in unnamed:
            unnamed.remove(sql(check, True))
        else:
            modify_table_ops.ops.append(
                render.CreateCheckOp.from_constraint(check))
    for name in sorted(live):
        modify_table_ops.ops.append(_drop(live[name], tname, schema))


def _drop(check, tname, schema):
    """A drop of a reflected CHECK that a downgrade adds back."""
    table = sa.Table(tname, sa.MetaData(), schema=schema)
    table.append_constraint(check)
    return render.DropCheckOp.from_constraint(check)


class RecreateColumnOp(ops.MigrateOperation):
    """Drop a column and add it again: a computed column whose expression
    changed, or a column that becomes computed or stops being computed
    (no engine alters that in place). A computed column holds no values
    of its own; a plain column that becomes computed loses its values
    for the computed ones.

    :param table_name: the table.
    :param old: the ``sa.Column`` now in the database.
    :param new: the ``sa.Column`` the models declare.
    """

    def __init__(self, table_name, old, new, schema=None):
        self.table_name, self.old, self.new = table_name, old, new
        self.schema = schema

    def reverse(self):
        return RecreateColumnOp(self.table_name, self.new, self.old,
                                schema=self.schema)

    def to_diff_tuple(self):
        def text(column):
            computed = column.computed
            return (str(computed.sqltext) if computed is not None
                    else 'not computed')
        return ('modify_computed', self.schema, self.table_name,
                self.new.name, {}, text(self.old), text(self.new))


@renderers.dispatch_for(RecreateColumnOp)
def _render_recreate_column(autogen_context, op):
    drop = ops.DropColumnOp(op.table_name, op.old.name, schema=op.schema,
                            _reverse=ops.AddColumnOp(op.table_name, op.old,
                                                     schema=op.schema))
    add = ops.AddColumnOp(op.table_name, op.new, schema=op.schema)
    lines = []
    for inner in (drop, add):
        source = renderers.dispatch(inner)(autogen_context, inner)
        lines.extend(source if isinstance(source, list) else [source])
    return lines
