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

"""Reading the database: its current revisions, the guards that keep
enamel-sync off a database it must not touch, and the comparison with the
models behind ``check`` and ``stamp --verify``.

Every function leaves the connection outside any transaction: a
connection handed to alembic inside one would never be committed, and a
transaction left open blocks ``CREATE INDEX CONCURRENTLY`` elsewhere.
"""

import dataclasses
import os

import sqlalchemy as sa

from enamel import compare
from enamel import databases
from enamel import environment
from enamel import exception

# What ``check`` found; each state has its exit code.
AT_HEAD = 'at_head'
PENDING = 'upgrade_pending'
DRIFT = 'schema_drift'
UNKNOWN = 'unknown_revision'
UNVERSIONED = 'unversioned'
# Rolling upgrades (see enamel.phases): PENDING then means expand pending.
DATA_MIGRATIONS_PENDING = 'data_migrations_pending'
CONTRACT_PENDING = 'contract_pending'
CHECK_EXIT_CODES = {
    DATA_MIGRATIONS_PENDING: exception.DATA_MIGRATIONS_PENDING,
    CONTRACT_PENDING: exception.CONTRACT_PENDING,
    AT_HEAD: exception.SUCCESS,
    PENDING: exception.UPGRADE_PENDING,
    DRIFT: exception.SCHEMA_DRIFT,
    UNKNOWN: exception.UNKNOWN_REVISION,
    UNVERSIONED: exception.UNVERSIONED,
}


@dataclasses.dataclass
class CheckResult:
    """The state of the database, as ``check`` reports it.

    ``current``: the database's revisions; ``heads``: the scripts' heads;
    ``pending``: the revisions an upgrade would apply; ``differences``:
    one line per difference between the schema and the models;
    ``phases``: what is pending per phase of a rolling upgrade
    (``expand``, ``data_migrations``, ``contract``, ``neither``; see
    :class:`enamel.phases.Pending`), or None for a history without the
    expand and contract branches (and when the database is at its single
    head): every database's JSON has the same keys, and an unbranched
    history never speaks of phases. ``error``: None (a multi-database
    ``check`` sets it for a database it could not read). ``notes``: what
    the engine could not reflect, so was not compared (one line each,
    see :mod:`enamel.comparators`). ``accepted``: the differences that
    ``accepted_drift`` or a hook accepts (:mod:`enamel.drift`), listed,
    not counted as drift.
    """

    state: str
    current: list
    heads: list
    pending: list
    differences: list
    phases: dict = None
    # Set only in a multi-database report, for a database that could not
    # be read (state ``error``): its one-line message.
    error: str = None
    notes: list = dataclasses.field(default_factory=list)
    accepted: list = dataclasses.field(default_factory=list)

    @property
    def exit_code(self):
        return CHECK_EXIT_CODES[self.state]

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Snapshot:
    """What a database holds: ``current`` (the revisions in the version
    table, a list), ``versioned`` (whether it has a version table),
    ``tables`` (its other tables, without enamel's own, a list; empty
    when not read) and ``database`` (which of :mod:`enamel.databases` it
    was read as)."""

    current: list
    versioned: bool
    tables: list
    database: databases.Database = databases.MAIN


def read(connection, tables=True, database=None):
    """Read the version table and, with ``tables``, the table names.

    Without ``tables`` only the version table is looked up, so the cost
    does not grow with the schema (``version``, the at-head check of
    ``upgrade``). Imports no alembic.

    :param connection: a ``sqlalchemy.engine.Connection``.
    :param database: the :class:`enamel.databases.Database` (default
        ``main``): its version table is read.
    :returns: a :class:`Snapshot`.
    """
    database = databases.get(database)
    table = database.version_table
    try:
        inspector = sa.inspect(connection)
        names = inspector.get_table_names() if tables else []
        versioned = (table in names if tables
                     else inspector.has_table(table))
        current = []
        if versioned:
            current = list(connection.execute(sa.text(
                f'SELECT version_num FROM {table}')).scalars())
    finally:
        connection.rollback()
    return Snapshot(current, versioned,
                    [n for n in names if n not in databases.OWN_TABLES],
                    database)


def model_tables(names, database=None, script=None):
    """Those of ``names`` that ``database``'s models (default ``main``;
    see :func:`model_table_names`) declare: the tables that make a
    database enamel's. Other tools' tables
    (an extension's ``spatial_ref_sys``, a lock table) do not. Imports the
    models only when ``names`` is not empty.

    :param script: the ``ScriptDirectory``, whose revision files (in every
        location, a configure callback's included) stand in for the
        models of an env.py without ``target_metadata``.
    """
    if not names:
        return []
    database = databases.get(database)
    version_dirs = None
    if script is not None and database.models is None:
        from enamel import alembic_internals

        with alembic_internals.errors():
            version_dirs = tuple(sorted({
                os.path.dirname(s.path) for s in script.walk_revisions()}))
    return sorted(set(names) & model_table_names(database, version_dirs))


def model_table_names(database, version_dirs=None):
    """The table names ``database``'s models declare (a set): its models'
    metadata, or in an environment of the service's own, its env.py's
    ``target_metadata`` (one ``MetaData`` or several); an env.py without
    one: the tables its revision files create (see
    :func:`enamel.compare.revision_tables`)."""
    metadata = database.metadata()
    if metadata is None:
        return set(compare.revision_tables(
            version_dirs or database.locations()))
    if isinstance(metadata, sa.MetaData):
        metadata = [metadata]
    return {name for each in metadata for name in each.tables}


def guard(snapshot, script, adopt=False):
    """Refuse a database enamel-sync must not migrate.

    :param snapshot: a :class:`Snapshot` read with tables.
    :param script: the ``alembic.script.ScriptDirectory``.
    :param adopt: allow model tables without a version table (``stamp``,
        ``current``).
    :returns: the current revisions, a tuple.
    :raises exception.UnversionedDatabase: the models' tables are there
        but there is no version table (an empty version table is a
        database at base, as a first upgrade leaves it midway).
    :raises exception.UnknownDatabaseRevision: a revision this code does
        not know.
    """
    ours = [] if snapshot.versioned else model_tables(
        snapshot.tables, snapshot.database, script)
    if ours and not adopt:
        raise exception.UnversionedDatabase(
            f'the database has tables ({", ".join(ours[:5])}) but no '
            'version table; verify it and adopt it with '
            f'"{stamp_command(snapshot.database)}"')
    unknown = [r for r in snapshot.current if not known(script, r)]
    if unknown:
        raise exception.UnknownDatabaseRevision(
            f'the database is at revision {", ".join(unknown)}, which this '
            'version of enamel does not know (was it upgraded by a newer '
            'release?); nothing was changed')
    return tuple(snapshot.current)


def stamp_command(database):
    """The command that adopts an unversioned ``database``."""
    option = '' if database.name == databases.MAIN.name else (
        f' --database {database.name}')
    target = 'head'
    if not database.bundled:  # a service's history may be branched
        option += f' -d {database.script_location}'
        target = 'heads'
    return f'enamel-sync stamp{option} --verify {target}'


def known(script, revision_id):
    """Does ``script`` have the revision ``revision_id``?

    :raises alembic.script.revision.RevisionError: the revision files
        themselves are broken (a cycle, an id used twice): that is no
        statement about the database.
    """
    from alembic.script import revision as alembic_revision
    try:
        return script.revision_map.get_revision(revision_id) is not None
    except alembic_revision.ResolutionError:
        return False


def check(connection, get_planner, heads, database=None, accepted=None,
          version_dirs=None):
    """The state of the database against ``heads`` (see
    :class:`CheckResult`).

    :param get_planner: returns the :class:`enamel.planner.Planner` of
        the revisions; called only when the database is not at ``heads``
        or the history has several heads (at a single head, no revision
        file is loaded).
    :param heads: the scripts' heads (a tuple of ids).
    :param database: the :class:`enamel.databases.Database` (default
        ``main``).
    :param accepted: the :class:`enamel.drift.Accepted` differences.
    :param version_dirs: every directory of revision files (see
        :func:`enamel.locations.version_dirs`).
    """
    snapshot = read(connection, database=database)
    result = CheckResult(AT_HEAD, snapshot.current, list(heads), [], [],
                         None)
    if not snapshot.versioned and model_tables(snapshot.tables,
                                               snapshot.database):
        result.state = UNVERSIONED
    elif set(snapshot.current) == set(heads) and len(heads) == 1:
        _compare(result, connection, snapshot.database, accepted,
                 version_dirs)
    elif any(not known(get_planner().script, r)
             for r in snapshot.current):
        result.state = UNKNOWN
    else:
        plan = get_planner().pending(tuple(snapshot.current))
        result.pending = plan.ids()
        if plan.layout.branched:
            _check_phases(result, connection, plan)
        elif result.pending:
            result.state = PENDING
        if result.state == AT_HEAD:
            # At the heads, though the version table may not list them
            # all: alembic leaves out a head that another current
            # revision depends on (a contract revision on its expand).
            _compare(result, connection, snapshot.database, accepted,
                     version_dirs)
    return result


def _compare(result, connection, database, accepted=None,
             version_dirs=None):
    result.differences = compare_models(connection, database,
                                        notes=result.notes,
                                        version_dirs=version_dirs)
    if accepted:
        result.differences, result.accepted = accepted.split(
            result.differences)
    if result.differences:
        result.state = DRIFT


def _check_phases(result, connection, plan):
    """Fill ``result.phases`` and pick the state of a rolling upgrade:
    expand (or a revision on neither branch) pending (3) before data
    migrations pending (7) before contract pending (8)."""
    from enamel import phases

    pending = phases.pending(connection, plan)
    result.phases = pending.as_dict()
    if pending.expand or pending.neither:
        result.state = PENDING
    elif pending.rows_left:
        result.state = DATA_MIGRATIONS_PENDING
    elif pending.contract:
        result.state = CONTRACT_PENDING


def compare_models(connection, database=None, notes=None,
                   version_dirs=None):
    """The differences between the live schema and ``database``'s models
    (default ``main``), one line each (alembic's ``compare_metadata`` with
    env.py's options).

    :param notes: a list that gets, sorted, what the engine could not
        reflect (not compared), one line each.
    :param version_dirs: every directory of revision files (see
        :func:`enamel.locations.version_dirs`).
    """
    from alembic import autogenerate
    from alembic.runtime import migration as alembic_migration

    options = environment.context_options(connection.dialect.name,
                                          database=database,
                                          version_dirs=version_dirs)
    metadata = options.pop('target_metadata')
    if metadata is None:  # an env.py without target_metadata
        if notes is not None:
            notes.append('env.py gives no target_metadata: the schema is '
                         'not compared with models')
        return []
    for key in ('render_as_batch', 'transaction_per_migration',
                'transactional_ddl'):
        options.pop(key, None)
    context = alembic_migration.MigrationContext.configure(
        connection, opts=options)
    try:
        lines = []
        with compare.computed_changes_reported_here():
            diffs = autogenerate.compare_metadata(context, metadata)
        for diff in diffs:
            # Column modifications come grouped: one line each.
            for one in (diff if isinstance(diff, list) else [diff]):
                lines.append(describe_difference(one))
    finally:
        connection.rollback()
    if notes is not None:
        notes.extend(sorted(options['enamel_notes']))
    # compare_metadata's order follows sets and reflection: sort, by table
    # first, so that the same schema gives the same lines on every run.
    return sorted(lines, key=lambda line: (difference_table(line), line))


def difference_table(line):
    """The table a :func:`describe_difference` line is about (its second
    word, up to the first dot: ``add_column tasks.priority`` -> ``tasks``);
    '' when it names none."""
    words = line.split()
    if len(words) < 2:
        return ''
    return words[1].split('.', 1)[0].rstrip(':')


def describe_difference(diff):
    """One line for one item of ``compare_metadata``'s output, e.g.
    ``add_column tasks.priority`` or ``modify_nullable tasks.state: True ->
    False``; server defaults as their SQL text, types as SQL type names,
    constraints by name: the same line on every run (no Python repr)."""
    if isinstance(diff, list):  # column modifications come grouped
        return '; '.join(describe_difference(d) for d in diff)
    op, *args = diff
    if op.startswith('modify_'):
        _schema, table, column, _existing, old, new = args
        return f'{op} {table}.{column}: {_sql(old)} -> {_sql(new)}'
    if op in ('add_column', 'remove_column'):
        _schema, table, column = args
        return f'{op} {table}.{column.name}'
    obj = args[0]
    if isinstance(obj, sa.Table):
        return f'{op} {obj.name}'
    table = getattr(obj, 'table', None)
    name = getattr(obj, 'name', None)
    if name is None:
        columns = ', '.join(c.name for c in getattr(obj, 'columns', ()))
        name = f'({columns})'
    if table is not None and table.name != name:
        name = f'{table.name}.{name}'
    return f'{op} {name}'


def _sql(value):
    """A value of a ``modify_*`` difference as text: a server default as
    its SQL, a type as its SQL name, anything else (a bool, None, a
    comment) as itself."""
    if isinstance(value, sa.schema.DefaultClause):
        value = value.arg
    if isinstance(value, sa.Identity):
        options = ', '.join(
            f'{name}={getattr(value, name)}' for name in (
                'always', 'start', 'increment')
            if getattr(value, name, None) is not None)
        return f'IDENTITY({options})'
    if isinstance(value, sa.Computed):
        return f'COMPUTED({value.sqltext})'
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, sa.sql.ClauseElement):
        return str(value.compile(compile_kwargs={'literal_binds': True}))
    if isinstance(value, sa.types.TypeEngine):
        try:
            return str(value)
        except sa.exc.CompileError:
            return type(value).__name__
    return str(value)


def schema_dump(connection):
    """The live database's tables and indexes as DDL for its dialect
    (str, statements separated by ``;`` and a blank line), without
    enamel's own bookkeeping tables (``stamp`` makes the version table)."""
    metadata = sa.MetaData()
    try:
        metadata.reflect(connection, only=lambda name, _: (
            name not in databases.OWN_TABLES))
    finally:
        connection.rollback()
    dialect = connection.dialect
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(sa.schema.CreateTable(table).compile(
            dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda i: i.name or ''):
            statements.append(str(sa.schema.CreateIndex(index).compile(
                dialect=dialect)).strip())
    return ''.join(s + ';\n\n' for s in statements)
