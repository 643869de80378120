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

"""What ``revision --autogenerate`` writes: alembic's autogenerate output,
reviewed before it becomes a file.

:func:`process_revision_directives` is given to alembic by ``env.py``
(see :func:`enamel.environment.context_options`); each step it runs may
rewrite or refuse the revision alembic is about to write, so that what is
written goes up, down and up again on SQLite, MariaDB/MySQL and
PostgreSQL. The checks and their reasons are listed in the developer
guide ("Adding a migration").
"""

from enamel import exception
from enamel import ops as op_kinds
from enamel import phases


def process_revision_directives(context, revision, directives):
    """alembic's ``process_revision_directives`` hook for enamel's env.

    Only for ``revision --autogenerate``: with no change, nothing is
    written (``directives`` is emptied, as alembic documents), unless a
    data migration was asked for (``revision --data-migration``): its
    revision is written with an empty body; a change
    that cannot apply on every engine is refused; otherwise the
    operations are reordered and completed where alembic's draft fails on
    one engine.

    :param context: the ``MigrationContext``.
    :param revision: the revision argument (tuple of ids).
    :param directives: a list holding one
        ``alembic.operations.ops.MigrationScript``; changed in place.
    :raises exception.UnsafeRevision: naming each object and the fix.
    """
    if not directives or not _autogenerate(context):
        return
    script = directives[0]
    leave_out_accepted(script, context.opts.get('enamel_accepted'))
    if all(ops.is_empty() for ops in script.upgrade_ops_list):
        if not phases.data_migration_asked(context):
            directives[:] = []
        return
    refuse_what_cannot_apply(script)
    refuse_names_too_long(script)
    phases.refuse_unplaceable(context, directives)
    refuse_what_locks_a_live_table(script)
    computed_columns_outside_batches(script)
    make_reflected_values_portable(script)
    drop_foreign_keys_before_indexes(script)
    drop_tables_with_their_indexes(script)
    add_enum_types(script, context.opts.get('target_metadata'))
    # One revision per phase of a rolling upgrade.
    phases.split_directives(context, revision, directives)
    for written in directives:
        build_indexes_concurrently(written)
        set_not_null_through_a_check(written)
        add_constraints_without_a_long_lock(written)
    concurrent_indexes_in_a_revision_of_their_own(directives)


def _autogenerate(context):
    """Is this ``revision --autogenerate``? alembic also runs the hook for
    a plain ``revision`` when ``revision_environment`` is set; enamel-sync
    and alembic's command line both say which in ``cmd_opts``."""
    options = getattr(context.config, 'cmd_opts', None)
    return getattr(options, 'autogenerate', True)


def _table_ops(container):
    """(table name, op) for each operation in ``container``, looking into
    alembic's per-table groups (``ModifyTableOps``)."""
    from alembic.operations import ops
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            for inner in op.ops:
                yield op.table_name, inner
        else:
            yield getattr(op, 'table_name', None), op


# -- known drift, declared ------------------------------------------------

# What resetting one kind of column modification looks like on an
# AlterColumnOp (its "unchanged" value).
_UNCHANGED = {'modify_type': ('modify_type', None),
              'modify_nullable': ('modify_nullable', None),
              'modify_default': ('modify_server_default', False),
              'modify_comment': ('modify_comment', False)}


def leave_out_accepted(script, accepted):
    """Remove the operations whose difference ``accepted`` (an
    :class:`enamel.drift.Accepted`, or None) accepts, as ``check`` lists
    them (:func:`enamel.state.describe_difference`); the downgrade is
    written again as the reverse of what is left."""
    from alembic.operations import ops

    from enamel import state

    if not accepted or len(script.upgrade_ops_list) != 1:
        return
    left_out = []

    def kept(op):
        if isinstance(op, ops.ModifyTableOps):
            op.ops = [o for o in op.ops if kept(o)]
            return bool(op.ops)
        try:
            diff = op.to_diff_tuple()
        except NotImplementedError:
            return True
        if isinstance(op, ops.AlterColumnOp):
            for one in diff:
                if accepted.accepts(state.describe_difference(one)):
                    left_out.append(one)
                    name, unchanged = _UNCHANGED.get(one[0], (None, None))
                    if name:
                        setattr(op, name, unchanged)
            return op.has_changes()
        if accepted.accepts(state.describe_difference(diff)):
            left_out.append(diff)
            return False
        return True

    upgrade = script.upgrade_ops
    upgrade.ops = [op for op in upgrade.ops if kept(op)]
    if left_out:
        script.downgrade_ops = upgrade.reverse()


# -- refusing what will not apply -----------------------------------------

def refuse_what_cannot_apply(script):
    """Refuse a revision that fails, or silently differs, on one engine.

    - A NOT NULL column without a server default added to an existing
      table: the table's rows have no value for it, so SQLite and
      PostgreSQL refuse the ``ALTER TABLE`` while MariaDB fills in ``''``
      or ``0``; a Python-side ``default=`` is never seen by the database.
    - A type change across kinds (text to a number, a number to a
      boolean…): PostgreSQL has no implicit cast for it and needs a
      ``USING`` clause, which autogenerate cannot know; SQLite's batch
      copy and MariaDB convert silently.

    :raises exception.UnsafeRevision: naming each column and the fix.
    """
    from alembic.operations import ops

    problems = []
    for upgrade_ops in script.upgrade_ops_list:
        for table, op in _table_ops(upgrade_ops):
            if isinstance(op, ops.AddColumnOp):
                column = op.column
                if op_kinds.needs_default(column):
                    problems.append(
                        f'{table}.{column.name} is added NOT NULL without '
                        'a server default, and the rows already in '
                        f'{table} have no value for it: give it '
                        'server_default=..., or add it nullable, fill it, '
                        'and make it NOT NULL in a later revision')
            elif isinstance(op, ops.AlterColumnOp) and (
                    op.modify_type is not None and
                    _needs_using(op.existing_type, op.modify_type)):
                problems.append(
                    f'{table}.{op.column_name} changes type from '
                    f'{op.existing_type} to {op.modify_type}, which '
                    'PostgreSQL cannot convert without a USING clause: '
                    'write this alter_column by hand with '
                    'postgresql_using=..., or add a new column and copy '
                    'the values')
    if problems:
        raise exception.UnsafeRevision(
            'the revision would not apply on every engine, so it was not '
            f'written: {"; ".join(problems)}')


def refuse_names_too_long(script):
    """Refuse a revision that creates a table, column, index or
    constraint whose name (given, or made by the naming convention) is
    longer than an engine holds (:data:`enamel.ops.IDENTIFIER_LIMITS`).

    :raises exception.UnsafeRevision: naming each name, its length, the
        engine and its limit.
    """
    problems = []
    for upgrade_ops in script.upgrade_ops_list:
        problems.extend(op_kinds.names_too_long(
            op for _table, op in _table_ops(upgrade_ops)))
    if problems:
        raise exception.UnsafeRevision(
            'the revision would not apply on every engine, so it was not '
            f'written: {"; ".join(problems)}; give the object a shorter '
            'name in the models (name=... for an index or a constraint)')


# What autogenerate refuses for a table that already exists: no form of
# it lints clean on every engine (enamel-sync lint's rule in brackets).
# Each names the recipe to write by hand: the developer guide's "The
# migration lint", "Recipes for a busy table".
_NO_LIVE_RECIPE = {
    'check': (
        'MariaDB/MySQL copy the table to add a CHECK, even with '
        'check_constraint_checks=0 (copy-alter)',
        '"A CHECK on an existing table"'),
    'computed': (
        'PostgreSQL stores every generated column and rewrites the table '
        'under ACCESS EXCLUSIVE to add one (table-rewrite), SQLite cannot '
        'add a stored one',
        '"A generated column": a plain nullable column, filled by an online '
        'data migration'),
    'foreignkey': (
        'MariaDB/MySQL copy the table to add a foreign key, or with '
        'foreign_key_checks=0 never check the rows already there '
        '(copy-alter)',
        '"A foreign key on an existing column", or a new column with the '
        'foreign key'),
}


def refuse_what_locks_a_live_table(script):
    """Refuse a revision that adds to a table that already exists
    something no engine-wide recipe adds without copying, rewriting or
    scanning it under a long lock, so that what autogenerate writes
    lints clean (``enamel-sync lint``; :data:`enamel.hazards.RULES`):

    - a CHECK constraint: MariaDB/MySQL add one only by copying the table
      (``ALGORITHM=COPY``; their online DDL documentation), and have no
      ``NOT VALID``;
    - a computed (generated) column: PostgreSQL stores every generated
      column (before 18 it has no virtual ones) and rewrites the table to
      add it; SQLite cannot add a stored one at all; a changed
      expression (:class:`enamel.comparators.RecreateColumnOp`) adds the
      column again;
    - a foreign key on columns that were there before the revision:
      MariaDB/MySQL copy the table, or with ``foreign_key_checks=0`` add
      it INPLACE without checking the rows already there (the lint
      accepts that only on columns the same revision adds, NULL in every
      row, which :func:`add_constraints_without_a_long_lock` writes).

    A table the same revision creates has no reader yet: nothing is
    refused on it. The downgrade is not judged (the lint reads
    ``upgrade()`` only).

    :param script: an ``alembic.operations.ops.MigrationScript``.
    :raises exception.UnsafeRevision: one line naming each object, why,
        and the recipe in the developer guide to write by hand.
    """
    from alembic.operations import ops

    from enamel import comparators

    found = []
    for container in script.upgrade_ops_list:
        created = {op.table_name for op in container.ops
                   if isinstance(op, ops.CreateTableOp)}
        empty = _added_empty(container)
        for table, op in _table_ops(container):
            # A foreign key's op names its table source_table.
            table = table or getattr(op, 'source_table', None)
            if table in created:
                continue
            if isinstance(op, ops.AddConstraintOp) and (
                    op.constraint_type == 'check'):
                found.append(('check', f'the CHECK {op.constraint_name} '
                              f'on {table}'))
            elif isinstance(op, ops.AddColumnOp) and (
                    op.column.computed is not None):
                found.append(('computed', 'the computed column '
                              f'{table}.{op.column.name}'))
            elif isinstance(op, comparators.RecreateColumnOp) and (
                    op.new.computed is not None):
                found.append(('computed', 'the computed column '
                              f'{table}.{op.new.name}'))
            elif isinstance(op, ops.CreateForeignKeyOp) and not (
                    op.local_cols and all((op.source_table, c) in empty
                                          for c in op.local_cols)):
                found.append(('foreignkey', 'the foreign key '
                              f'{op.constraint_name} on '
                              f'{op.source_table}.'
                              f'{",".join(op.local_cols or ())}'))
    if not found:
        return
    problems = []
    for kind in _NO_LIVE_RECIPE:
        what = [w for k, w in found if k == kind]
        if what:
            why, recipe = _NO_LIVE_RECIPE[kind]
            problems.append(f'{", ".join(what)} (existing table: {why}; '
                            f'write it by hand from the lint guide\'s '
                            f'recipe {recipe})')
    raise exception.UnsafeRevision(
        'no form of the revision lints clean on every engine, so it was '
        f'not written: {"; ".join(problems)}')


def _added_empty(container):
    """(table, column) of each column ``container`` adds NULL in every
    row (nullable, no server default, not computed): nothing for a
    foreign key on it to check."""
    from alembic.operations import ops

    return {(table, o.column.name) for table, o in _table_ops(container)
            if isinstance(o, ops.AddColumnOp) and o.column.nullable
            and o.column.server_default is None
            and o.column.computed is None}


def _needs_using(old, new):
    """Does PostgreSQL need ``USING`` to change ``old`` into ``new``? It
    converts without one only along an assignment cast (its documentation
    of ``ALTER TABLE ... TYPE``): between numeric types, and from any type
    to a string."""
    import sqlalchemy as sa

    if old is None:
        return False

    def kind(type_):
        for base in (sa.Boolean, sa.Integer, sa.Numeric, sa.String,
                     sa.DateTime, sa.Date, sa.Time):
            if isinstance(type_, base):
                return 'number' if base in (sa.Integer, sa.Numeric) else base
        return type(type_)

    return kind(old) != kind(new) and kind(new) is not sa.String


# -- computed columns and SQLite's table copy ----------------------------

def computed_columns_outside_batches(script):
    """Drop a table's computed columns before a batch that copies the
    table on SQLite, and add them after it.

    On SQLite a batch that does more than add columns and indexes copies
    the table with ``INSERT INTO new SELECT ... FROM old``, which SQLite
    refuses for a generated column (alembic's batch mode does not leave
    them out). A computed column that only makes way for the copy is
    dropped and added again in an :class:`enamel.render.OnlyOnOp` for
    SQLite: the other engines alter the table in place, and adding it
    again would rewrite it there (PostgreSQL stores every generated
    column; lint: ``table-rewrite``). One the models drop, or a column
    recreated (:class:`enamel.comparators.RecreateColumnOp`, such a batch
    too), is dropped and added with plain ``drop_column``/``add_column``
    on every engine (SQLite 3.35+ drops a column in place). The
    downgrade is written again as the reverse of the new upgrade.
    """
    from alembic.operations import ops

    from enamel import comparators
    from enamel import render

    if len(script.upgrade_ops_list) != 1:
        return
    upgrade = script.upgrade_ops
    changed = False
    rewritten = []
    for op in upgrade.ops:
        computed = getattr(op, 'enamel_computed', None)
        copies = computed and any(
            not isinstance(inner, (ops.AddColumnOp, ops.CreateIndexOp,
                                   ops.DropIndexOp)) for inner in op.ops)
        if not copies:
            rewritten.append(op)
            continue
        changed = True
        before, after = (list(columns) for columns in computed)
        # The columns the models drop, add or recreate: on every engine.
        changing = set()
        for o in op.ops:
            if isinstance(o, comparators.RecreateColumnOp):
                before += [o.old] if o.old not in before else []
                after += [o.new] if o.new not in after else []
                changing.add(o.new.name)
            elif isinstance(o, (ops.AddColumnOp, ops.DropColumnOp)):
                changing.add(_column_name(o))
        moved = {c.name for c in before + after}

        def drop(columns):
            return [ops.DropColumnOp.from_column_and_tablename(
                op.schema, op.table_name, column) for column in columns]

        def add(columns):
            return [ops.AddColumnOp.from_column_and_tablename(
                op.schema, op.table_name, column) for column in columns]

        making_way = [c for c in before if c.name not in changing]
        if making_way:
            rewritten.append(render.OnlyOnOp('sqlite', drop(making_way)))
        rewritten.extend(drop(c for c in before if c.name in changing))
        inner = [o for o in op.ops
                 if not isinstance(o, comparators.RecreateColumnOp) and not (
                     isinstance(o, (ops.AddColumnOp, ops.DropColumnOp)) and
                     _column_name(o) in moved)]
        if inner:
            rewritten.append(ops.ModifyTableOps(op.table_name, inner,
                                                schema=op.schema))
        rewritten.extend(add(c for c in after if c.name in changing))
        coming_back = [c for c in after if c.name not in changing]
        if coming_back:
            rewritten.append(render.OnlyOnOp('sqlite', add(coming_back)))
    if changed:
        upgrade.ops = rewritten
        script.downgrade_ops = upgrade.reverse()


def _column_name(op):
    column = getattr(op, 'column', None)
    return column.name if column is not None else op.column_name


# -- what alembic reflected, written for every engine ---------------------

def make_reflected_values_portable(script):
    """Write what alembic read from the database (the ``existing_*`` of
    an ``alter_column``, a column a downgrade adds back) in terms every
    engine accepts.

    A reflected type of one dialect (``mysql.INTEGER(display_width=11)``,
    ``postgresql.TIMESTAMP()``) becomes its generic SQLAlchemy type, and a
    reflected server default (``sa.text("''::character varying")`` on
    PostgreSQL, ``sa.text('0')`` for a MariaDB boolean) the value itself:
    ``sa.false()``/``sa.true()`` for a boolean, ``sa.func.now()`` for the
    current time, else a quoted literal.
    """
    from alembic.operations import ops

    for container in script.upgrade_ops_list + script.downgrade_ops_list:
        for _table, op in _table_ops(container):
            if isinstance(op, ops.AlterColumnOp):
                op.existing_type = _generic_type(op.existing_type)
                op.modify_type = _generic_type(op.modify_type)
                type_ = op.modify_type or op.existing_type
                op.existing_server_default = _portable_default(
                    op.existing_server_default, type_)
                op.modify_server_default = _portable_default(
                    op.modify_server_default, type_)
            elif isinstance(op, (ops.AddColumnOp, ops.CreateTableOp)):
                columns = ([op.column] if isinstance(op, ops.AddColumnOp)
                           else [c for c in op.columns
                                 if hasattr(c, 'server_default')])
                for column in columns:
                    column.type = _generic_type(column.type)
                    column.server_default = _portable_default(
                        column.server_default, column.type)


def _generic_type(type_):
    import sqlalchemy as sa

    if type_ is None or not type(type_).__module__.startswith(
            'sqlalchemy.dialects.'):
        return type_
    if isinstance(type_, sa.Enum):
        return sa.Enum(*type_.enums, name=type_.name)
    if isinstance(type_, sa.Text):
        return sa.Text()
    if isinstance(type_, sa.Integer) and getattr(
            type_, 'display_width', None) == 1:
        return sa.Boolean()  # MySQL's BOOL is TINYINT(1)
    try:
        return type_.as_generic()
    except NotImplementedError:
        return type_


def _portable_default(default, type_):
    import sqlalchemy as sa
    from enamel import compare

    arg = getattr(default, 'arg', None)
    if not isinstance(default, sa.schema.DefaultClause) or not isinstance(
            arg, sa.sql.elements.TextClause) or not compare.is_literal(
                arg.text):
        return default
    value = compare.normalise_default(arg.text, type_)
    if isinstance(type_, sa.Boolean) and value in ('0', '1'):
        return sa.schema.DefaultClause(sa.true() if value == '1'
                                       else sa.false())
    if value == 'CURRENT_TIMESTAMP':
        return sa.schema.DefaultClause(sa.func.now())
    return sa.schema.DefaultClause(value)


# -- reordering for MariaDB/MySQL -------------------------------------------

def drop_foreign_keys_before_indexes(script):
    """Within each table's operations, drop foreign keys before indexes.

    MariaDB/MySQL refuse to drop an index that backs a foreign key (error
    1553, "needed in a foreign key constraint"); alembic lists index drops
    first. Both directions of the revision are reordered.
    """
    from alembic.operations import ops

    def is_fk_drop(op):
        return (isinstance(op, ops.DropConstraintOp) and
                op.constraint_type == 'foreignkey')

    for container in script.upgrade_ops_list + script.downgrade_ops_list:
        for op in container.ops:
            if isinstance(op, ops.ModifyTableOps):
                op.ops.sort(key=lambda o: not is_fk_drop(o))


def drop_tables_with_their_indexes(script):
    """Leave out index drops on a table that the same revision drops.

    Dropping a table drops its indexes on every engine; dropping the index
    first is what fails on MariaDB/MySQL when it backs a foreign key
    (error 1553). alembic writes them for a table created with indexes,
    in its downgrade.
    """
    from alembic.operations import ops

    for container in script.upgrade_ops_list + script.downgrade_ops_list:
        dropped = {op.table_name for op in container.ops
                   if isinstance(op, ops.DropTableOp)}
        kept = []
        for op in container.ops:
            if isinstance(op, ops.ModifyTableOps) and (
                    op.table_name in dropped):
                op.ops = [o for o in op.ops
                          if not isinstance(o, ops.DropIndexOp)]
                if not op.ops:
                    continue
            elif isinstance(op, ops.DropIndexOp) and (
                    op.table_name in dropped):
                continue
            kept.append(op)
        container.ops = kept


# -- PostgreSQL's enum types ----------------------------------------------

def add_enum_types(script, metadata):
    """Create and drop the named enum types that new columns bring.

    PostgreSQL keeps a named ``sa.Enum`` as a type of its own:
    ``create_table`` creates it, but ``drop_table`` does not drop it (the
    next upgrade then fails with "type ... already exists") and
    ``add_column`` does not create it. The downgrade gets a
    :class:`enamel.render.DropEnumOp` after everything else, and an enum
    added with ``add_column`` a :class:`enamel.render.CreateEnumOp` first.
    A type that columns outside this revision use is left alone. Other
    engines have no such type and skip both.
    """
    from alembic.operations import ops
    from enamel import render

    for upgrade_ops, downgrade_ops in zip(script.upgrade_ops_list,
                                          script.downgrade_ops_list):
        created, added = {}, {}
        new_columns = set()
        for table, op in _table_ops(upgrade_ops):
            if isinstance(op, ops.CreateTableOp):
                for column in op.columns:
                    if hasattr(column, 'type'):
                        new_columns.add((table, column.name))
                        _collect_enum(column, created)
            elif isinstance(op, ops.AddColumnOp):
                new_columns.add((table, op.column.name))
                _collect_enum(op.column, added)
        shared = _enums_used_elsewhere(metadata, new_columns)
        for name, enum in sorted(added.items()):
            if name not in shared and name not in created:
                upgrade_ops.ops.insert(0, render.CreateEnumOp(enum))
        for name, enum in sorted({**added, **created}.items()):
            if name not in shared:
                downgrade_ops.ops.append(render.DropEnumOp(enum))


def _collect_enum(column, found):
    import sqlalchemy as sa

    type_ = column.type
    if isinstance(type_, sa.Enum) and type_.name and type_.native_enum:
        found[type_.name] = type_


def _enums_used_elsewhere(metadata, new_columns):
    found = {}
    for table in getattr(metadata, 'sorted_tables', ()):
        for column in table.columns:
            if (table.name, column.name) not in new_columns:
                _collect_enum(column, found)
    return set(found)


# -- PostgreSQL: indexes built and dropped concurrently ----------------------

def build_indexes_concurrently(script):
    """Build and drop the indexes of existing tables concurrently, as
    ``enamel-sync lint`` wants (``index-not-concurrent``,
    ``drop-index-not-concurrent``).

    Each ``create_index``/``drop_index`` on a table the same operations do
    not create gets ``postgresql_concurrently=True`` and moves into an
    :class:`enamel.render.AutocommitBlockOp` (PostgreSQL refuses
    ``CONCURRENTLY`` inside a transaction), out of its table's
    ``batch_alter_table`` block, which runs its operations only when it
    ends; the operations before and after it keep their order. Other
    engines ignore the keyword, and the block commits what ran before it.

    :param script: an ``alembic.operations.ops.MigrationScript``; both
        directions are rewritten in place.
    """
    from alembic.operations import ops
    from enamel import render

    def concurrently(op, created):
        if not isinstance(op, (ops.CreateIndexOp, ops.DropIndexOp)) or (
                op.table_name in created):
            return None
        op.kw['postgresql_concurrently'] = True
        return [render.AutocommitBlockOp([op])]

    for container in script.upgrade_ops_list + script.downgrade_ops_list:
        _lift(container, concurrently)


def concurrent_indexes_in_a_revision_of_their_own(directives):
    """Move the indexes built concurrently (:func:`build_indexes_
    concurrently`) of a revision that does anything else into a revision
    of their own, written right after it.

    An ``autocommit_block`` commits what ran before it: a revision that
    adds a column, then builds its index concurrently, and fails on the
    index (an index of that name exists, a duplicate breaks a unique
    index) leaves the column committed without its version row. Online,
    the progress journal resumes it; a script of ``upgrade --sql`` has no
    journal, and every later run would fail on the column. Alone in
    their revision, the indexes fail with nothing else committed: the
    database is at the revision before, a clean point to run again from
    (online and offline). The failure guide advises this ("When a
    migration fails"). Only builds move (a drop is left in place: the
    operations after it may need it gone), and only when the upgrade is
    one list (alembic's ``--autogenerate`` writes one); an index on a
    table the revision adds a foreign key to stays
    (:func:`_tables_given_foreign_keys`).

    :param directives: the ``MigrationScript`` list of alembic's
        ``process_revision_directives``; a new script follows each one
        split, with its own id, ``head`` the split one's id, and the
        message ending "(indexes built concurrently)".
    """
    from alembic.operations import ops
    from alembic import util
    from enamel import render

    result = []
    for migration in directives:
        result.append(migration)
        if len(migration.upgrade_ops_list) != 1:
            continue
        upgrade = migration.upgrade_ops
        keyed = _tables_given_foreign_keys(upgrade.ops)

        def builds(op):
            return isinstance(op, render.AutocommitBlockOp) and op.ops and (
                all(isinstance(o, ops.CreateIndexOp) and
                    o.table_name not in keyed for o in op.ops))

        moved = [op for op in upgrade.ops if builds(op)]
        if not moved or len(moved) == len(upgrade.ops):
            continue
        upgrade.ops = [op for op in upgrade.ops if not builds(op)]
        names = {str(o.index_name) for op in moved for o in op.ops}
        downgrade = migration.downgrade_ops
        undo = [op for op in downgrade.ops if _drops_only(op, names)]
        downgrade.ops = [op for op in downgrade.ops if op not in undo]
        upgrade_ops = ops.UpgradeOps(ops=moved)
        result.append(ops.MigrationScript(
            util.rev_id(), upgrade_ops,
            ops.DowngradeOps(ops=undo) if undo else upgrade_ops.reverse(),
            message=(f'{migration.message} ' if migration.message else '')
            + '(indexes built concurrently)',
            imports=migration.imports, head=migration.rev_id,
            version_path=migration.version_path))
    directives[:] = result


def _tables_given_foreign_keys(operations):
    """The tables ``operations`` add a foreign key to (looking into table
    groups, ``autocommit_block`` and engine branches): an index built
    after a foreign key on MySQL/MariaDB replaces the index the foreign
    key created, and then cannot be dropped first (error 1553), so such
    an index stays in its revision, before the foreign key."""
    from alembic.operations import ops
    from enamel import render

    tables = set()
    for op in operations:
        if isinstance(op, ops.CreateForeignKeyOp):
            tables.add(op.source_table)
        elif isinstance(op, ops.AddColumnOp) and op.column.foreign_keys:
            tables.add(op.table_name)
        elif isinstance(op, ops.CreateTableOp):
            continue
        inner = []
        if isinstance(op, (ops.ModifyTableOps, render.AutocommitBlockOp)):
            inner = op.ops
        elif isinstance(op, render.PostgreSQLBranchOp):
            inner = op.postgresql + op.other
        tables |= _tables_given_foreign_keys(inner)
    return tables


def _drops_only(op, names):
    """Is ``op`` an ``autocommit_block`` dropping only indexes named in
    ``names``?"""
    from alembic.operations import ops
    from enamel import render

    return isinstance(op, render.AutocommitBlockOp) and op.ops and all(
        isinstance(o, ops.DropIndexOp) and str(o.index_name) in names
        for o in op.ops)


def set_not_null_through_a_check(script):
    """Make a column of an existing table NOT NULL the way PostgreSQL does
    it without scanning the table under ACCESS EXCLUSIVE (lint:
    ``set-not-null``): on PostgreSQL only, a ``CHECK (c IS NOT NULL) NOT
    VALID`` first, validated after a commit (``autocommit_block``), then
    the ``NOT NULL`` (PostgreSQL 12 and later trust the validated check),
    then the check dropped. Other engines run the plain ``alter_column``.

    :param script: an ``alembic.operations.ops.MigrationScript``; its
        upgrade is rewritten in place.
    """
    from alembic.operations import ops
    from enamel import render

    def through_a_check(op, created):
        if not isinstance(op, ops.AlterColumnOp) or (
                op.modify_nullable is not False or op.table_name in created):
            return None
        return [render.NotNullCheckOp(op.table_name, op.column_name, True),
                ops.ModifyTableOps(op.table_name, [op], schema=op.schema),
                render.NotNullCheckOp(op.table_name, op.column_name, False)]

    for container in script.upgrade_ops_list:
        _lift(container, through_a_check)


def add_constraints_without_a_long_lock(script):
    """On PostgreSQL, add a foreign key or a unique constraint to an
    existing table the way the lint wants (``constraint-not-valid``,
    ``unique-constraint-index``); other engines run alembic's draft.

    A foreign key is added ``NOT VALID`` (a brief lock, no scan) and
    validated after a commit, under SHARE UPDATE EXCLUSIVE (on
    MariaDB/MySQL, a foreign key on columns the same revision adds NULL in
    every row is added with ``foreign_key_checks`` off, which builds it
    INPLACE instead of copying the table: there is nothing to check;
    lint: ``copy-alter``); a unique
    constraint gets its index built concurrently outside the transaction,
    then becomes a constraint ``USING INDEX`` (a brief lock). Each is a
    :class:`enamel.render.PostgreSQLBranchOp` whose other branch is the
    operation as alembic wrote it.

    :param script: an ``alembic.operations.ops.MigrationScript``; its
        upgrade is rewritten in place.
    """
    from alembic.operations import ops
    from enamel import render

    def recipe(op, created):
        if isinstance(op, ops.CreateForeignKeyOp) and (
                op.source_table not in created):
            table = op.source_table
            other = [ops.ModifyTableOps(table, [op])]
            if op.local_cols and all((table, c) in empty
                                     for c in op.local_cols):
                where = ', '.join(f'{table}.{c}' for c in op.local_cols)
                other = ([render.ForeignKeyChecksOp(where, False)] + other +
                         [render.ForeignKeyChecksOp(where, True)])
            name = str(op.constraint_name)
            postgresql = [
                ops.CreateForeignKeyOp(
                    op.constraint_name, op.source_table,
                    op.referent_table, op.local_cols, op.remote_cols,
                    **dict(op.kw, postgresql_not_valid=True)),
                render.AutocommitBlockOp([ops.ExecuteSQLOp(
                    f'ALTER TABLE {op.source_table} VALIDATE CONSTRAINT '
                    f'{name}')])]
            return [render.PostgreSQLBranchOp(postgresql, other)]
        if isinstance(op, ops.CreateUniqueConstraintOp) and (
                op.table_name not in created):
            name = str(op.constraint_name)
            postgresql = [
                render.AutocommitBlockOp([ops.CreateIndexOp(
                    op.constraint_name, op.table_name, op.columns,
                    unique=True, postgresql_concurrently=True)]),
                ops.ExecuteSQLOp(
                    f'ALTER TABLE {op.table_name} ADD CONSTRAINT {name} '
                    f'UNIQUE USING INDEX {name}')]
            return [render.PostgreSQLBranchOp(
                postgresql, [ops.ModifyTableOps(op.table_name, [op])])]
        return None

    for container in script.upgrade_ops_list:
        empty = _added_empty(container)
        _lift(container, recipe)


def _lift(container, rewrite):
    """Replace each operation ``rewrite(op, created)`` returns a list for
    (``created``: the tables the container creates) by that list, out of
    its table's ``batch_alter_table`` block (which runs its operations
    only when it ends); the operations around it keep their order."""
    from alembic.operations import ops

    created = {op.table_name for op in container.ops
               if isinstance(op, ops.CreateTableOp)}
    rewritten = []
    for op in container.ops:
        inner = op.ops if isinstance(op, ops.ModifyTableOps) else [op]
        segment = []
        for o in inner:
            replacement = rewrite(o, created)
            if replacement is None:
                segment.append(o)
                continue
            if segment:
                rewritten.append(_table_ops_like(op, segment))
                segment = []
            rewritten.extend(replacement)
        if segment:
            rewritten.append(_table_ops_like(op, segment))
    container.ops = rewritten


def _table_ops_like(op, inner):
    from alembic.operations import ops

    if isinstance(op, ops.ModifyTableOps):
        return ops.ModifyTableOps(op.table_name, inner, schema=op.schema)
    return inner[0]
