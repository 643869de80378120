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

"""``enamel-sync lint``: keep each phase of a rolling upgrade honest.

Each revision's ``upgrade()`` is run without a database, once per engine,
against an alembic ``Operations`` whose ``invoke`` records the operation
instead of running it (``op.execute`` of a plain-SQL revision records its
SQL text). The operations are then checked:

phase rules (the previous release must keep running after expand; a
history without the expand and contract branches has none):
    ``expand-removes``
        an expand revision drops, renames or tightens (NOT NULL)
        something the previous release may still use;
    ``contract-adds``
        a contract revision creates something: it belongs in expand.
engine hazards (:mod:`enamel.hazards` lists each with the lock it takes,
why it hurts and the safe recipe): PostgreSQL's are read from the SQL each
operation compiles to (:mod:`enamel.lint_postgresql`, with ``pglast``),
MariaDB/MySQL's from what InnoDB does with each change on the server
version judged for (:mod:`enamel.lint_mysql`); ``name-too-long``: a
name the revision creates is longer than PostgreSQL or MySQL/MariaDB
holds (:func:`enamel.ops.names_too_long`); ``capture``: the operations
could not be captured without a database (the revision reads it): it is
not linted and must be reviewed.

An exception needs a written reason in the revision: for the whole
revision a module-level ``lint_exceptions = {'rule': 'why the previous
release stays safe'}``, for one operation a comment ``# enamel-lint:
allow rule: why`` on its line or right above it
(:mod:`enamel.lint_comments`). A malformed one (not a dict, an unknown
rule, a blank reason, a comment of another shape) is an error naming the
file and the key or line (:func:`exceptions`). The report lists the
exceptions in force.
"""

import contextlib
import dataclasses
import io
import os
import re

import sqlalchemy as sa

from enamel import exception
from enamel import hazards
from enamel import lint_comments
from enamel import lint_mysql
from enamel import lint_postgresql
from enamel import ops as op_kinds
from enamel import phases
from enamel import sql_statements

DIALECTS = ('sqlite', 'mysql', 'postgresql')
EXCEPTIONS = 'lint_exceptions'
PHASE_RULES = ('expand-removes', 'contract-adds', 'neither-branch')
SHAPE = ("{'<rule>': '<why it is safe here>'}, e.g. "
         "{'index-not-concurrent': 'the table is empty until this "
         "release'}")


def rules():
    """Every rule id the lint reports (phase rules, the hazards of
    :data:`enamel.hazards.RULES`, ``capture``)."""
    return PHASE_RULES + tuple(hazards.RULES) + ('capture',)


@dataclasses.dataclass
class Finding:
    """One finding: ``revision`` id, its ``phase``, the ``rule``, the
    ``dialects`` it applies to, a one-line ``message``, and the written
    ``reason`` when the revision excepts the rule (then it does not fail
    the lint)."""

    revision: str
    phase: str
    rule: str
    message: str
    dialects: list
    reason: str = None

    def describe(self):
        where = ','.join(self.dialects)
        line = (f'{self.revision} ({self.phase}) {self.rule} [{where}]: '
                f'{self.message}')
        if self.reason:
            line += f' (excepted: {self.reason})'
        return line


@dataclasses.dataclass
class Exception_:
    """An exception in force: the ``revision`` that excepts ``rule`` for
    ``reason``, and whether it ``used`` (excepted a finding); ``line``:
    None for the revision's ``lint_exceptions``, else the line of its
    ``# enamel-lint: allow`` comment, which excepts the rule for that
    operation only."""

    revision: str
    rule: str
    reason: str
    used: bool = False
    line: int = None
    file: str = None  # the .sql file of a --sql-files revision's comment

    def describe(self):
        where = '' if self.line is None else f' line {self.line}'
        if self.file:
            where = f' {self.file}{where}'
        return (f'{self.revision}{where} excepts {self.rule}: '
                f'{self.reason}{"" if self.used else " (excepts nothing)"}')


@dataclasses.dataclass
class Report:
    """All findings and the exceptions in force; ``exit_code`` 0 when
    every finding is excepted, 10 (``LINT_FINDINGS``) otherwise."""

    revisions: list
    findings: list
    exceptions: list = dataclasses.field(default_factory=list)
    servers: str = ''

    @property
    def failing(self):
        return [f for f in self.findings if not f.reason]

    @property
    def exit_code(self):
        return exception.LINT_FINDINGS if self.failing else exception.SUCCESS

    def summary(self):
        return (f'{len(self.revisions)} revision(s) linted for '
                f'{self.servers}: {len(self.failing)} finding(s), '
                f'{len(self.findings) - len(self.failing)} excepted')

    def as_dict(self):
        return {'revisions': self.revisions,
                'servers': self.servers,
                'findings': [dataclasses.asdict(f) for f in self.findings],
                'exceptions': [dataclasses.asdict(e)
                               for e in self.exceptions],
                'exit_code': self.exit_code}


def lint(script, revisions=None, dialects=DIALECTS, servers=None,
         config=None):
    """Lint ``revisions`` (ids; default every revision of ``script``).

    :param script: the ``ScriptDirectory``.
    :param config: its alembic ``Config``, which the revisions see as
        ``context.config`` (see :func:`capture`).
    :param dialects: the engines whose hazards to report.
    :param servers: the :class:`enamel.hazards.Servers` to judge for
        (default: the oldest versions enamel supports).
    :returns: a :class:`Report`.
    :raises exception.BadRevision: a revision that names nothing.
    :raises exception.ConfigError: a malformed ``lint_exceptions`` (naming
        the file, the key and the expected shape), or a missing SQL
        parser (naming the package).
    """
    from enamel import alembic_internals

    servers = servers or hazards.Servers()
    if revisions:
        with alembic_internals.errors(revision_argument=True):
            chosen = [script.get_revision(r) for r in revisions]
    else:
        chosen = list(reversed(list(script.walk_revisions('base', 'heads'))))
    from enamel import planner as planning

    planner = planning.Planner(script)
    # The phase rule the planner enforces at upgrade time, reported here
    # too: a revision on neither branch, with what to do.
    off_branches = {r.revision: r for r in planner.off_branches()}
    findings, excepted = [], []
    for revision in chosen:
        phase = planner.layout.phase_of(revision)
        if revision.revision in off_branches:
            refusal = off_branches[revision.revision]
            findings.append(Finding(
                revision.revision, phase, refusal.rule,
                f'{refusal.reason}: {refusal.advice}', list(dialects)))
        found, in_force = lint_revision(revision, dialects, servers, phase,
                                        config=config, script=script)
        findings.extend(found)
        excepted.extend(in_force)
    return Report([r.revision for r in chosen], findings, excepted,
                  servers.describe())


def lint_revision(revision, dialects=DIALECTS, servers=None, phase=None,
                  config=None, script=None):
    """The findings of one revision (an ``alembic.script.Script``) and
    the exceptions it declares: ``(findings, exceptions)``.

    :param phase: as :meth:`enamel.phases.Layout.phase_of` gives it;
        default from its labels. A revision on neither branch is judged
        as expand; in a history without the branches (``plain``) no phase
        rule applies, as the planner applies none there: no previous
        release is promised to keep serving until the project starts the
        branches. The engine hazards apply in every phase.
    :param config: see :func:`capture`.
    :param script: see :func:`capture`.
    :raises exception.ConfigError: a malformed ``lint_exceptions`` or
        ``# enamel-lint`` comment.
    """
    phase = phase or phases.phase_of(revision)
    shown = phase
    if phase == phases.NEITHER:
        phase = phases.EXPAND
    in_force = exceptions(revision)
    allows = lint_comments.read(revision.path, rules())
    sql_path = _upgrade_sql(revision)
    allows_sql = None  # the .sql file's, read with the first capture
    # (rule, message, index of the per-op exception or None) -> dialects
    raw = {}
    for dialect in dialects:
        sources = {}
        try:
            operations = capture(revision.module.upgrade, dialect,
                                 config=config, script=script,
                                 sources=sources)
        except Exception as exc:
            raw.setdefault(('capture', 'upgrade() needs a database or '
                            f'failed offline: {exception.first_line(exc)}',
                            None), []).append(dialect)
            continue
        if sql_path:
            from enamel import sql_files

            statements = sql_files.statements(sql_path, dialect)
            if allows_sql is None:
                # Line-based: the same comments for every engine.
                allows_sql = lint_comments.read_sql(sql_path, rules(),
                                                    statements)
                allows = allows + allows_sql
            _sql_sources(operations, sources, sql_path, statements)
        try:
            found = list(findings_of(operations, phase, dialect, servers))
        except exception.EnamelSyncError:
            raise
        except Exception as exc:  # no input may crash the lint
            found = [('capture', 'the lint could not read the operations: '
                      f'{exception.first_line(exc)}', None)]
        for rule, message, o in found:
            lines = sources.get(id(o), frozenset())
            allowed = next((i for i, a in enumerate(allows)
                            if a.applies(rule, lines)), None)
            raw.setdefault((rule, message, allowed), []).append(dialect)
    if sql_path and allows_sql is None:
        # upgrade() was captured on no engine: its comments are still
        # checked (cut by SQLite's grammar, which needs no parser).
        from enamel import sql_files

        allows = allows + lint_comments.read_sql(
            sql_path, rules(), sql_files.statements(sql_path, 'sqlite'))
    per_op = [Exception_(revision.revision, a.rule, a.reason, line=a.line,
                         file=a.file) for a in allows]
    reasons = {e.rule: e for e in in_force}
    findings = []
    for (rule, message, allowed), where in raw.items():
        excepted = (per_op[allowed] if allowed is not None
                    else reasons.get(rule))
        if excepted:
            excepted.used = True
        findings.append(Finding(
            revision.revision, shown, rule, message, where,
            excepted.reason if excepted else None))
    return findings, in_force + per_op


def _upgrade_sql(revision):
    """The upgrade ``.sql`` file of a ``--sql-files`` revision, or None."""
    from enamel import sql_files

    path = sql_files.paths(revision)[0]
    return path if os.path.isfile(path) else None


def _sql_sources(operations, sources, sql_path, statements):
    """Add to ``sources`` the ``(file name, line)`` pairs of the
    statement of ``sql_path`` each ``op.execute`` of it ran (in order),
    which its ``-- enamel-lint`` comments are matched against."""
    from alembic.operations import ops

    queue = list(zip(statements, lint_comments.statement_lines(
        sql_path, statements)))
    for o in operations:
        if (isinstance(o, ops.ExecuteSQLOp) and queue and
                o.sqltext == queue[0][0]):
            sources[id(o)] = sources.get(id(o), frozenset()) | queue[0][1]
            queue.pop(0)


def exceptions(revision):
    """The exceptions ``revision`` declares in ``lint_exceptions`` (a list
    of :class:`Exception_`).

    :raises exception.ConfigError: it is not a dict of a known rule to a
        non-blank reason; the message names the file, the key and the
        shape expected.
    """
    import difflib

    declared = getattr(revision.module, EXCEPTIONS, None)
    if declared is None:
        return []
    where = f'{revision.path}: {EXCEPTIONS}'
    if not isinstance(declared, dict):
        raise exception.ConfigError(
            f'{where} is a {type(declared).__name__}; expected a dict '
            f'{SHAPE}')
    known = rules()
    found = []
    for rule, reason in declared.items():
        if rule not in known:
            close = difflib.get_close_matches(str(rule), known, 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ''
            raise exception.ConfigError(
                f'{where}[{rule!r}]: no such rule{hint}; expected '
                f'{SHAPE}; rules: {", ".join(known)}')
        if not isinstance(reason, str) or not reason.strip():
            raise exception.ConfigError(
                f'{where}[{rule!r}] gives no reason; expected {SHAPE}: say '
                'why the previous release and the live table stay safe')
        found.append(Exception_(revision.revision, rule, reason.strip()))
    return found


def capture(upgrade, dialect, config=None, script=None, sources=None):
    """The operations ``upgrade()`` invokes on ``dialect``, recorded
    without a database (a list of ``alembic.operations.ops``
    ``MigrateOperation``; batch operations are recorded one by one).

    ``upgrade()`` runs as under ``alembic upgrade --sql``: inside an
    alembic ``EnvironmentContext`` with ``as_sql=True``, so
    ``alembic.context`` answers it (``context.is_offline_mode()`` is
    True, ``context.get_x_argument()``, ``context.config``) and
    ``alembic.op`` records instead of running.

    :param config: the alembic ``Config`` (default: an empty one); the
        options enamel gives env.py
        (:func:`enamel.environment.context_options`) are those of its
        database.
    :param script: its ``ScriptDirectory``, if any.
    :param sources: a dict to fill with ``id(operation)``: the frozenset
        of the lines of ``upgrade``'s file that invoked it (every frame of
        that file on the stack), which per-operation exceptions are
        matched against (:mod:`enamel.lint_comments`).
    """
    from alembic import config as alembic_config
    from alembic.operations import base as operations_base
    from alembic.operations import ops
    from alembic.runtime import environment as alembic_environment

    from enamel import alembic_internals
    from enamel import environment

    if config is None:
        config = alembic_config.Config()
    options = environment.context_options(
        dialect, models=False,
        database=environment.env_options(config).database)
    options.update(dialect_name=dialect, output_buffer=io.StringIO(),
                   literal_binds=True)
    recorded = []
    filename = getattr(getattr(upgrade, '__code__', None), 'co_filename',
                       None)

    def note(operation):
        recorded.append(operation)
        if sources is not None and filename:
            sources[id(operation)] = lint_comments.lines_in(filename)

    def recorder(operations):
        """``operations.invoke``: record an operation of alembic's own;
        a container (``ModifyTableOps``...) as the operations it holds; an
        operation of another kind (registered with alembic's
        ``Operations.register_operation``) as those its implementation
        invokes. Each is then judged like one written directly."""
        def record(operation):
            if isinstance(operation, ops.OpContainer):
                for inner in operation.ops:
                    record(inner)
                return None
            if not isinstance(operation, alembic_ops):
                implementation = alembic_internals.implementation(
                    operations, operation)
                if implementation is not None:
                    return implementation(operations, operation)
            note(operation)
            return None
        return record

    depth = [0]  # autocommit_block()s open
    alembic_ops = _alembic_ops()

    with alembic_environment.EnvironmentContext(
            config, script, as_sql=True) as env:
        env.configure(**options)
        context = env.get_context()
        operations = operations_base.Operations(context)
        operations.invoke = recorder(operations)

        @contextlib.contextmanager
        def batch_alter_table(table_name, schema=None, **kw):
            batch = operations_base.BatchOperations(
                context, impl=_BatchTable(table_name, schema))
            batch.invoke = recorder(batch)
            yield batch

        operations.batch_alter_table = batch_alter_table

        @contextlib.contextmanager
        def autocommit_block():
            # A nested block is recorded as a finding's marker: the
            # statements after it still run outside the transaction of
            # the outer block (nested-autocommit-block).
            depth[0] += 1
            note(_Marker(False, nested=depth[0] > 1))
            try:
                yield
            finally:
                depth[0] -= 1
                if not depth[0]:
                    recorded.append(_Marker(True))

        context.autocommit_block = autocommit_block
        with alembic_internals.operations_proxy(operations):
            upgrade()
    return recorded


@dataclasses.dataclass
class _Marker:
    """Recorded where an ``autocommit_block()`` begins
    (``in_transaction`` False) and ends (True); ``nested``: a block begun
    inside another (which alembic refuses when it runs)."""

    in_transaction: bool
    nested: bool = False


def _alembic_ops():
    """The operation classes of alembic itself (its ``toimpl`` runs
    them), which the lint judges as they are."""
    from alembic.operations import ops

    return tuple(
        cls for cls in vars(ops).values()
        if isinstance(cls, type) and issubclass(cls, ops.MigrateOperation)
        and not issubclass(cls, ops.OpContainer)
        and cls is not ops.MigrateOperation)


@dataclasses.dataclass
class _BatchTable:
    """What batch operations read from their ``impl`` to name the
    table."""

    table_name: str
    schema: str = None


def check(operations, phase, dialect, servers=None):
    """``(rule, message)`` pairs for ``operations`` of a revision in
    ``phase`` on ``dialect`` (``servers``: an
    :class:`enamel.hazards.Servers`, default the oldest supported).

    :param operations: what :func:`capture` recorded: alembic operations,
        and ``AUTOCOMMIT``/``TRANSACTION`` markers around an
        ``autocommit_block()``.
    """
    for rule, message, _ in findings_of(operations, phase, dialect,
                                        servers):
        yield rule, message


def findings_of(operations, phase, dialect, servers=None):
    """As :func:`check`, with the operation each finding comes from:
    ``(rule, message, operation)`` triples."""
    from alembic.operations import ops

    servers = servers or hazards.Servers()
    operations = list(operations)
    created = {o.table_name for o in operations
               if isinstance(o, ops.CreateTableOp)}
    for o in operations:
        if isinstance(o, ops.ExecuteSQLOp):
            for rule, message in _check_sql_phase(_sql_text(o, dialect),
                                                  phase, dialect):
                yield rule, message, o
            continue
        if isinstance(o, _Marker) and o.nested:
            yield ('nested-autocommit-block', 'an autocommit_block() inside '
                   'another: alembic refuses it when the revision runs',
                   o)
        if isinstance(o, _Marker) or _temporary(o, operations):
            continue
        for rule, message in _check_phase(o, phase):
            yield rule, message, o
    if dialect in op_kinds.IDENTIFIER_LIMITS:
        for o in operations:
            if not isinstance(o, _Marker):
                for problem in op_kinds.names_too_long([o], (dialect,)):
                    yield 'name-too-long', problem, o
    if dialect == 'postgresql':
        for rule, message, statement in lint_postgresql.findings(
                _compiled(operations, dialect), servers, created):
            yield rule, message, statement.op
        return
    for o in operations:
        for rule, message in _check_generic(o, dialect, created):
            yield rule, message, o
    if dialect == 'mysql':
        changes = []
        for o in operations:
            if isinstance(o, ops.ExecuteSQLOp):
                found = lint_mysql.from_sql(_sql_text(o, dialect))
            elif not isinstance(o, _Marker):
                found = lint_mysql.from_op(o)
            else:
                continue
            changes.extend(dataclasses.replace(c, source=o) for c in found)
        for rule, message, change in lint_mysql.findings(changes, servers):
            yield rule, message, change.source


def _temporary(o, operations):
    """Is ``o`` a constraint the same revision drops again (a check that
    lets PostgreSQL set NOT NULL without a scan)? It adds nothing."""
    from alembic.operations import ops

    # A foreign key's op names its table source_table, the others
    # table_name.
    table = getattr(o, 'table_name', None) or getattr(o, 'source_table',
                                                      None)
    return isinstance(o, ops.AddConstraintOp) and any(
        isinstance(d, ops.DropConstraintOp) and
        d.constraint_name == o.constraint_name and
        d.table_name == table for d in operations)


def _check_phase(o, phase):
    """The phase rules of one operation, read from the op classification
    table (:func:`enamel.ops.classify`), as autogenerate's split reads
    it."""
    kind = op_kinds.classify(o)
    if phase == phases.PLAIN:
        return
    if phase == phases.EXPAND and kind.contract_only:
        yield ('expand-removes', _phase_message(o, kind))
    elif (phase == phases.CONTRACT and kind.kind == op_kinds.ADDS):
        yield ('contract-adds',
               f'{_describe(o)}: additions belong in expand')


def _phase_message(o, kind):
    from alembic.operations import ops

    if kind.kind == op_kinds.TIGHTENS:
        return (f'{kind.where} becomes NOT NULL: the previous release may '
                'still insert NULL')
    if isinstance(o, ops.RenameTableOp):
        return f'rename table {o.table_name}: the old name disappears'
    if isinstance(o, ops.AlterColumnOp):
        return f'rename column {kind.where}: the old name disappears'
    return f'{_describe(o)}: removals belong in contract'


def _check_generic(o, dialect, created):
    """The hazards of SQLite and MariaDB/MySQL read from one operation
    itself (PostgreSQL's come from its SQL:
    :mod:`enamel.lint_postgresql`)."""
    from alembic.operations import ops

    table = getattr(o, 'table_name', None)
    existing = table not in created
    if (isinstance(o, ops.CreateTableOp)
            and not o.to_table().primary_key.columns):
        yield ('no-primary-key',
               f'create table {o.table_name} without a primary key')
    if isinstance(o, ops.AddColumnOp) and existing and (
            op_kinds.needs_default(o.column)):
        yield ('not-null-without-default',
               f'add NOT NULL column {table}.{o.column.name} without a '
               'server default')
    if isinstance(o, ops.RenameTableOp):
        yield ('rename', f'rename table {o.table_name} to '
                         f'{o.new_table_name}')
    if isinstance(o, ops.AlterColumnOp) and existing:
        where = f'{o.table_name}.{o.column_name}'
        if o.modify_name:
            yield 'rename', f'rename column {where} to {o.modify_name}'
        if o.modify_type is not None and dialect == 'sqlite':
            yield ('table-rewrite', f'type change of {where} to '
                   f'{sa.types.to_instance(o.modify_type)!r} copies the '
                   'table (batch mode)')
    if isinstance(o, ops.ExecuteSQLOp) and dialect == 'sqlite':
        yield from _check_sqlite_sql(_sql_text(o, dialect))


def _check_sqlite_sql(sql):
    """SQLite's hazards of SQL text: transaction control breaks the
    revision's atomicity."""
    for statement in sql_statements.split(sql, 'sqlite'):
        first = statement.lstrip().split(None, 1)[0].upper() if \
            statement.strip() else ''
        if first in ('BEGIN', 'COMMIT', 'ROLLBACK', 'END'):
            yield ('transaction-control', f'{first}: enamel runs each '
                   'revision in its own transaction')


def _check_sql_phase(sql, phase, dialect):
    """The phase rules of SQL text, read by the engine's parser."""
    if dialect == 'postgresql':
        found = lint_postgresql.changes(sql)
    else:
        found = [('removes' if c.kind.startswith(('drop', 'rename'))
                  or c.kind == 'set_not_null' else
                  'adds' if c.kind.startswith(('create', 'add')) else None,
                  c.what) for c in lint_mysql.from_sql(sql, dialect)]
    first = ' '.join(sql.split())[:60]
    removes = [d for k, d in found if k == 'removes']
    adds = [d for k, d in found if k == 'adds']
    if removes and phase == phases.EXPAND:
        yield ('expand-removes',
               f'SQL {removes[0]}: removals belong in contract: {first}')
    if adds and phase == phases.CONTRACT:
        yield ('contract-adds',
               f'SQL {adds[0]}: additions belong in expand: {first}')


def _sql_text(o, dialect):
    """The SQL of an ``op.execute``: its text, or the construct compiled
    for ``dialect``."""
    text = o.sqltext
    if isinstance(text, str):
        return text
    if isinstance(text, sa.sql.elements.TextClause):
        return text.text
    return ''.join(_compile(o, dialect))


def _compiled(operations, dialect):
    """:class:`enamel.lint_postgresql.Statement` list: each operation
    compiled by alembic's offline mode for ``dialect``, knowing whether it
    runs inside an ``autocommit_block()``."""
    in_transaction = True
    statements = []
    for o in operations:
        if isinstance(o, _Marker):
            in_transaction = o.in_transaction
            continue
        for sql in sql_statements.split(''.join(_compile(o, dialect)),
                                        dialect):
            statements.append(lint_postgresql.Statement(
                sql, in_transaction, o))
    return statements


def _compile(o, dialect):
    """The SQL alembic writes for ``o`` offline (a list with one str;
    empty for an operation it cannot compile without a database)."""
    from alembic.operations import base as operations_base
    from alembic.runtime import migration as alembic_migration

    buffer = io.StringIO()
    context = alembic_migration.MigrationContext.configure(
        dialect_name=dialect, opts={
            'as_sql': True, 'output_buffer': buffer,
            'literal_binds': True})
    try:
        operations_base.Operations(context).invoke(o)
    except Exception:  # an operation needing a bind: nothing to read
        return []
    return [buffer.getvalue()]


def _describe(o):
    """A short name for an operation, e.g. ``drop_column tasks.action``."""
    name = type(o).__name__
    name = re.sub(r'(?<!^)(?=[A-Z])', '_', name[:-2]).lower()
    target = (getattr(o, 'table_name', None) or
              getattr(o, 'source_table', None) or '')
    for attribute in ('column_name', 'index_name', 'constraint_name'):
        value = getattr(o, attribute, None)
        if value:
            target = f'{target}.{value}' if target else str(value)
            break
    column = getattr(o, 'column', None)
    if isinstance(column, sa.Column):
        target = f'{target}.{column.name}'
    return f'{name} {target}'.strip()
