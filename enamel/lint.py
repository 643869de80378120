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

phase rules (the previous release must keep running after expand):
    ``expand-removes``
        an expand revision drops, renames or tightens (NOT NULL)
        something the previous release may still use;
    ``contract-adds``
        a contract revision creates something: it belongs in expand.
hazards (per engine, from each engine's documented behaviour):
    ``not-null-without-default``
        a NOT NULL column without a server default added to an existing
        table: the previous release's INSERTs fail;
    ``index-not-concurrent`` (PostgreSQL)
        an index on an existing table built without ``CONCURRENTLY``
        blocks writes to it while it builds;
    ``table-rewrite``
        a column type change: PostgreSQL and MySQL copy the table (except
        widening a VARCHAR on PostgreSQL), under a lock;
    ``rename``
        a table or column rename: the previous release's SQL names the old
        one;
    ``no-primary-key``
        a table without a primary key: Galera refuses writes to it under
        ``pxc_strict_mode``/``wsrep_mode`` and cannot certify its rows;
    ``capture``
        the operations could not be captured without a database (the
        revision reads it): it is not linted and must be reviewed.

An exception needs a written reason in the revision, a module-level
``lint_exceptions = {'rule': 'why the previous release stays safe'}``; a
blank reason is itself a finding (``exception-without-reason``).
"""

import contextlib
import dataclasses
import io
import re

import sqlalchemy as sa

from enamel import db
from enamel import exception
from enamel import phases

DIALECTS = ('sqlite', 'mysql', 'postgresql')
EXCEPTIONS = 'lint_exceptions'


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
class Report:
    """All findings; ``exit_code`` 0 when every finding is excepted,
    10 (``LINT_FINDINGS``) otherwise."""

    revisions: list
    findings: list

    @property
    def failing(self):
        return [f for f in self.findings if not f.reason]

    @property
    def exit_code(self):
        return exception.LINT_FINDINGS if self.failing else exception.SUCCESS

    def summary(self):
        return (f'{len(self.revisions)} revision(s) linted: '
                f'{len(self.failing)} finding(s), '
                f'{len(self.findings) - len(self.failing)} excepted')

    def as_dict(self):
        return {'revisions': self.revisions,
                'findings': [dataclasses.asdict(f) for f in self.findings],
                'exit_code': self.exit_code}


def lint(script, revisions=None, dialects=DIALECTS):
    """Lint ``revisions`` (ids; default every revision of ``script``).

    :param script: the ``ScriptDirectory``.
    :param dialects: the engines whose hazards to report.
    :returns: a :class:`Report`.
    :raises exception.BadRevision: a revision that names nothing.
    """
    from enamel import alembic_internals

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
    findings = []
    for revision in chosen:
        phase = planner.layout.phase_of(revision)
        if revision.revision in off_branches:
            refusal = off_branches[revision.revision]
            findings.append(Finding(
                revision.revision, phase, refusal.rule,
                f'{refusal.reason}: {refusal.advice}', list(dialects)))
        findings.extend(lint_revision(revision, dialects, phase))
    return Report([r.revision for r in chosen], findings)


def lint_revision(revision, dialects=DIALECTS, phase=None):
    """The findings of one revision (an ``alembic.script.Script``);
    ``phase`` as :meth:`enamel.phases.Layout.phase_of` gives it (the
    hazard rules of expand apply to a history without the branches and
    to a revision on neither branch)."""
    phase = phase or phases.phase_of(revision)
    shown = phase
    if phase in (phases.PLAIN, phases.NEITHER):
        phase = phases.EXPAND
    raw = {}  # (rule, message) -> dialects, in order
    for dialect in dialects:
        try:
            operations = capture(revision.module.upgrade, dialect)
        except Exception as exc:
            raw.setdefault(('capture', 'upgrade() needs a database or '
                            f'failed offline: {exception.first_line(exc)}'),
                           []).append(dialect)
            continue
        for rule, message in check(operations, phase, dialect):
            raw.setdefault((rule, message), []).append(dialect)
    excepted = getattr(revision.module, EXCEPTIONS, None) or {}
    findings = []
    for rule, reason in excepted.items():
        if not isinstance(reason, str) or not reason.strip():
            findings.append(Finding(
                revision.revision, shown, 'exception-without-reason',
                f'{EXCEPTIONS}[{rule!r}] gives no reason why the previous '
                'release stays safe', list(dialects)))
    for (rule, message), where in raw.items():
        reason = excepted.get(rule)
        findings.append(Finding(
            revision.revision, shown, rule, message, where,
            reason.strip() if isinstance(reason, str) and reason.strip()
            else None))
    return findings


def capture(upgrade, dialect):
    """The operations ``upgrade()`` invokes on ``dialect``, recorded
    without a database (a list of ``alembic.operations.ops``
    ``MigrateOperation``; batch operations are recorded one by one)."""
    from alembic.operations import base as operations_base
    from alembic.runtime import migration as alembic_migration

    from enamel import alembic_internals

    context = alembic_migration.MigrationContext.configure(
        dialect_name=dialect, opts={
            'as_sql': True, 'output_buffer': io.StringIO(),
            'literal_binds': True,
            'target_metadata': sa.MetaData(
                naming_convention=db.NAMING_CONVENTION)})
    recorded = []
    operations = operations_base.Operations(context)
    operations.invoke = recorded.append

    @contextlib.contextmanager
    def batch_alter_table(table_name, schema=None, **kw):
        batch = operations_base.BatchOperations(
            context, impl=_BatchTable(table_name, schema))
        batch.invoke = recorded.append
        yield batch

    operations.batch_alter_table = batch_alter_table
    with alembic_internals.operations_proxy(operations):
        upgrade()
    return recorded


@dataclasses.dataclass
class _BatchTable:
    """What batch operations read from their ``impl`` to name the
    table."""

    table_name: str
    schema: str = None


def check(operations, phase, dialect):
    """``(rule, message)`` pairs for ``operations`` of a revision in
    ``phase`` on ``dialect``."""
    from alembic.operations import ops

    created = {o.table_name for o in operations
               if isinstance(o, ops.CreateTableOp)}
    for o in operations:
        if isinstance(o, ops.ExecuteSQLOp):
            yield from _check_sql(str(o.sqltext), phase, dialect)
            continue
        table = getattr(o, 'table_name', None)
        existing = table not in created
        if isinstance(o, (ops.DropTableOp, ops.DropColumnOp,
                          ops.DropIndexOp, ops.DropConstraintOp)):
            if phase == phases.EXPAND:
                yield ('expand-removes',
                       f'{_describe(o)}: removals belong in contract')
        elif isinstance(o, (ops.CreateTableOp, ops.AddColumnOp,
                            ops.CreateIndexOp, ops.AddConstraintOp)):
            if phase == phases.CONTRACT:
                yield ('contract-adds',
                       f'{_describe(o)}: additions belong in expand')
        if (isinstance(o, ops.CreateTableOp)
                and not o.to_table().primary_key.columns):
            yield ('no-primary-key',
                   f'create table {o.table_name} without a primary key')
        if isinstance(o, ops.AddColumnOp) and existing and (
                not o.column.nullable and o.column.server_default is None):
            yield ('not-null-without-default',
                   f'add NOT NULL column {table}.{o.column.name} without a '
                   'server default')
        if (isinstance(o, ops.CreateIndexOp) and existing
                and dialect == 'postgresql'
                and not o.kw.get('postgresql_concurrently')):
            yield ('index-not-concurrent',
                   f'create index {o.index_name} on {table} without '
                   'postgresql_concurrently=True')
        if isinstance(o, ops.AlterColumnOp):
            yield from _check_alter(o, phase, dialect)
        if isinstance(o, ops.RenameTableOp):
            yield ('rename', f'rename table {o.table_name} to '
                             f'{o.new_table_name}')
            if phase == phases.EXPAND:
                yield ('expand-removes', f'rename table {o.table_name}: '
                       'the old name disappears')


def _check_alter(o, phase, dialect):
    where = f'{o.table_name}.{o.column_name}'
    if o.modify_name:
        yield 'rename', f'rename column {where} to {o.modify_name}'
        if phase == phases.EXPAND:
            yield ('expand-removes', f'rename column {where}: the old name '
                                     'disappears')
    if o.modify_nullable is False and phase == phases.EXPAND:
        yield ('expand-removes', f'{where} becomes NOT NULL: the previous '
                                 'release may still insert NULL')
    if o.modify_type is not None and not _widening(o, dialect):
        yield ('table-rewrite', f'type change of {where} to '
                                f'{o.modify_type!r}')


def _widening(o, dialect):
    """A VARCHAR made longer on PostgreSQL changes only the catalog."""
    old, new = o.kw.get('existing_type'), o.modify_type
    return (dialect == 'postgresql'
            and isinstance(old, sa.String) and isinstance(new, sa.String)
            and type(old) is type(new) and old.length and new.length
            and new.length >= old.length)


_SQL_RULES = (
    # (pattern, rule, phases it applies to, dialects, message)
    (r'\bDROP\s+(TABLE|INDEX|COLUMN|CONSTRAINT)\b', 'expand-removes',
     (phases.EXPAND,), DIALECTS, 'SQL drops: removals belong in contract'),
    (r'\b(CREATE\s+(TABLE|(UNIQUE\s+)?INDEX)|ADD\s+(COLUMN|CONSTRAINT))\b',
     'contract-adds', (phases.CONTRACT,), DIALECTS,
     'SQL creates: additions belong in expand'),
    (r'\bRENAME\b', 'rename', phases.PHASES, DIALECTS, 'SQL renames'),
    (r'\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b|\bMODIFY\b',
     'table-rewrite', phases.PHASES, DIALECTS, 'SQL changes a column type'),
    (r'\bCREATE\s+(UNIQUE\s+)?INDEX\b(?!\s+CONCURRENTLY)',
     'index-not-concurrent', phases.PHASES, ('postgresql',),
     'SQL creates an index without CONCURRENTLY'),
)


def _check_sql(sql, phase, dialect):
    text = re.sub(r'--[^\n]*', '', sql)
    first = ' '.join(text.split())[:60]
    for pattern, rule, in_phases, dialects, message in _SQL_RULES:
        if phase in in_phases and dialect in dialects and re.search(
                pattern, text, re.I):
            yield rule, f'{message}: {first}'
    if re.search(r'\bCREATE\s+TABLE\b', text, re.I) and not re.search(
            r'\bPRIMARY\s+KEY\b', text, re.I):
        yield 'no-primary-key', f'SQL creates a table without a primary ' \
                                f'key: {first}'
    if re.search(r'\bADD\s+(COLUMN\s+)?\S+\s+[^,;]*\bNOT\s+NULL\b', text,
                 re.I) and not re.search(r'\bDEFAULT\b', text, re.I):
        yield ('not-null-without-default',
               f'SQL adds a NOT NULL column without a default: {first}')


def _describe(o):
    """A short name for an operation, e.g. ``drop_column tasks.action``."""
    name = type(o).__name__
    name = re.sub(r'(?<!^)(?=[A-Z])', '_', name[:-2]).lower()
    target = getattr(o, 'table_name', None) or ''
    for attribute in ('column_name', 'index_name', 'constraint_name'):
        value = getattr(o, attribute, None)
        if value:
            target = f'{target}.{value}' if target else str(value)
            break
    column = getattr(o, 'column', None)
    if isinstance(column, sa.Column):
        target = f'{target}.{column.name}'
    return f'{name} {target}'.strip()
