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

"""PostgreSQL cases for comparing ``enamel-sync lint`` with squawk.

One case per squawk rule about locking, downtime or compatibility (and a
few squawk has no rule for), each written twice: ``bad`` (a hazard for a
rolling upgrade on a large, busy table) and ``safe`` (the recipe), and
each of those in two forms: alembic operations (``ops``, the body of
``upgrade()``) and SQL (``sql``, a ``--sql-files`` file). The existing
schema is ``tasks (id, action, user_id, note VARCHAR(64), ...)`` and
``users (id)``; ``phase`` is the branch the revision is on.

:func:`judge` runs one form through both tools: enamel's lint without a
database, squawk (``squawk-cli``, default rules, ``--pg-version`` of the
lint's default server) on the SQL that would run (for the ops form,
alembic's offline SQL of the revision, transaction included). squawk's
session and style rules (timeouts, ``prefer-*``, ``ban-char-field``,
``prefer-robust-stmts``) are left out of the verdict: they judge the
session or a naming taste, not the statement's lock (a DDL wait is the
runner's to bound, DESIGN.md's ``lock_timeout``, not each revision's).
``squawk_wrong`` documents a case where squawk's verdict is wrong for a
rolling upgrade; ``enamel_blind`` a form where the
lint cannot know (SQL text without the column's old type).

``tools/lint_comparison.py`` writes the table in the developer guide from
these cases; ``tests/functional/test_lint_squawk.py`` holds the lint to
it.
"""

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import sqlalchemy as sa

from enamel import hazards
from enamel import lint
from enamel import sql_files

# squawk's rules that judge the session or a naming taste.
SQUAWK_IGNORED = frozenset((
    'require-timeout-settings', 'require-lock-timeout',
    'require-statement-timeout', 'prefer-robust-stmts',
    'prefer-bigint-over-int', 'prefer-bigint-over-smallint',
    'prefer-big-int', 'prefer-identity', 'prefer-text-field',
    'prefer-timestamptz', 'prefer-timestamp-tz', 'ban-char-field'))

AUTOCOMMIT = 'with op.get_context().autocommit_block():\n    '


@dataclasses.dataclass
class Case:
    """One hazard: ``name``, the ``squawk`` rules about it (empty: squawk
    has none), the ``phase``, and the four forms."""

    name: str
    squawk: tuple
    phase: str
    bad_ops: str
    bad_sql: str
    safe_ops: str
    safe_sql: str
    squawk_wrong: str = ''
    enamel_blind: tuple = ()
    safe_phase: str = None

    def phase_of(self, form):
        return (self.safe_phase or self.phase) if form.startswith(
            'safe') else self.phase


CASES = (
    Case('index built without CONCURRENTLY',
         ('require-concurrent-index-creation',), 'expand',
         "op.create_index('ix_tasks_action', 'tasks', ['action'])",
         'CREATE INDEX ix_tasks_action ON tasks (action);',
         AUTOCOMMIT + "op.create_index('ix_tasks_action', 'tasks', "
         "['action'], postgresql_concurrently=True)",
         'CREATE INDEX CONCURRENTLY ix_tasks_action ON tasks (action);'),
    Case('CONCURRENTLY inside the transaction',
         ('ban-concurrent-index-creation-in-transaction',), 'expand',
         "op.execute('CREATE INDEX CONCURRENTLY ix_tasks_action ON tasks "
         "(action)')",
         'BEGIN;\nCREATE INDEX CONCURRENTLY ix_tasks_action ON tasks '
         '(action);\nCOMMIT;',
         AUTOCOMMIT + "op.execute('CREATE INDEX CONCURRENTLY "
         "ix_tasks_action ON tasks (action)')",
         'CREATE INDEX CONCURRENTLY ix_tasks_action ON tasks (action);'),
    Case('index dropped without CONCURRENTLY',
         ('require-concurrent-index-deletion',), 'contract',
         "op.drop_index('ix_tasks_state', table_name='tasks')",
         'DROP INDEX ix_tasks_state;',
         AUTOCOMMIT + "op.drop_index('ix_tasks_state', table_name='tasks', "
         "postgresql_concurrently=True)",
         'DROP INDEX CONCURRENTLY ix_tasks_state;'),
    Case('foreign key validated under lock',
         ('adding-foreign-key-constraint', 'constraint-missing-not-valid'),
         'expand',
         "op.create_foreign_key('fk_tasks_user', 'tasks', 'users', "
         "['user_id'], ['id'])",
         'ALTER TABLE tasks ADD CONSTRAINT fk_tasks_user FOREIGN KEY '
         '(user_id) REFERENCES users (id);',
         "op.create_foreign_key('fk_tasks_user', 'tasks', 'users', "
         "['user_id'], ['id'], postgresql_not_valid=True)\n" + AUTOCOMMIT +
         "op.execute('ALTER TABLE tasks VALIDATE CONSTRAINT fk_tasks_user')",
         'ALTER TABLE tasks ADD CONSTRAINT fk_tasks_user FOREIGN KEY '
         '(user_id) REFERENCES users (id) NOT VALID;'),
    Case('check validated under lock', ('constraint-missing-not-valid',),
         'expand',
         "op.create_check_constraint('ck_tasks_attempts', 'tasks', "
         "'attempts >= 0')",
         'ALTER TABLE tasks ADD CONSTRAINT ck_tasks_attempts CHECK '
         '(attempts >= 0);',
         "op.create_check_constraint('ck_tasks_attempts', 'tasks', "
         "'attempts >= 0', postgresql_not_valid=True)",
         'ALTER TABLE tasks ADD CONSTRAINT ck_tasks_attempts CHECK '
         '(attempts >= 0) NOT VALID;'),
    Case('VALIDATE in the transaction of its NOT VALID',
         ('constraint-missing-not-valid',), 'expand',
         "op.create_check_constraint('ck_tasks_attempts', 'tasks', "
         "'attempts >= 0', postgresql_not_valid=True)\n"
         "op.execute('ALTER TABLE tasks VALIDATE CONSTRAINT "
         "ck_tasks_attempts')",
         'ALTER TABLE tasks ADD CONSTRAINT ck_tasks_attempts CHECK '
         '(attempts >= 0) NOT VALID;\nALTER TABLE tasks VALIDATE '
         'CONSTRAINT ck_tasks_attempts;',
         "op.execute('ALTER TABLE tasks VALIDATE CONSTRAINT "
         "ck_tasks_attempts')",
         'ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_attempts;'),
    Case('unique constraint building its index',
         ('disallowed-unique-constraint',), 'expand',
         "op.create_unique_constraint('uq_tasks_uuid', 'tasks', ['uuid'])",
         'ALTER TABLE tasks ADD CONSTRAINT uq_tasks_uuid UNIQUE (uuid);',
         AUTOCOMMIT + "op.create_index('uq_tasks_uuid', 'tasks', ['uuid'], "
         "unique=True, postgresql_concurrently=True)\nop.execute('ALTER "
         "TABLE tasks ADD CONSTRAINT uq_tasks_uuid UNIQUE USING INDEX "
         "uq_tasks_uuid')",
         'ALTER TABLE tasks ADD CONSTRAINT uq_tasks_uuid UNIQUE USING INDEX '
         'uq_tasks_uuid;'),
    Case('primary key building its index',
         ('adding-primary-key-constraint',), 'expand',
         "op.create_primary_key('pk_audit', 'audit', ['id'])",
         'ALTER TABLE audit ADD CONSTRAINT pk_audit PRIMARY KEY (id);',
         AUTOCOMMIT + "op.create_index('pk_audit', 'audit', ['id'], "
         "unique=True, postgresql_concurrently=True)\nop.execute('ALTER "
         "TABLE audit ADD CONSTRAINT pk_audit PRIMARY KEY USING INDEX "
         "pk_audit')",
         'ALTER TABLE audit ADD CONSTRAINT pk_audit PRIMARY KEY USING INDEX '
         'pk_audit;'),
    Case('SET NOT NULL scanning the table', ('adding-not-nullable-field',),
         'contract',
         "op.alter_column('tasks', 'user_id', nullable=False, "
         "existing_type=sa.Integer())",
         'ALTER TABLE tasks ALTER COLUMN user_id SET NOT NULL;',
         "op.create_check_constraint('ck_user_id', 'tasks', 'user_id IS NOT "
         "NULL', postgresql_not_valid=True)\n" + AUTOCOMMIT +
         "op.execute('ALTER TABLE tasks VALIDATE CONSTRAINT ck_user_id')\n"
         "op.alter_column('tasks', 'user_id', nullable=False, "
         "existing_type=sa.Integer())\nop.drop_constraint('ck_user_id', "
         "'tasks', type_='check')",
         'ALTER TABLE tasks VALIDATE CONSTRAINT ck_user_id;\nALTER TABLE '
         'tasks ALTER COLUMN user_id SET NOT NULL;',
         squawk_wrong='the ops form is the documented recipe; squawk '
         'flags dropping the temporary check once NOT NULL holds',
         enamel_blind=('safe_sql',)),
    Case('NOT NULL column without a default', ('adding-required-field',),
         'expand',
         "op.add_column('tasks', sa.Column('size', sa.Integer(), "
         "nullable=False))",
         'ALTER TABLE tasks ADD COLUMN size integer NOT NULL;',
         "op.add_column('tasks', sa.Column('size', sa.Integer(), "
         "nullable=False, server_default='0'))",
         "ALTER TABLE tasks ADD COLUMN size integer NOT NULL DEFAULT 0;"),
    Case('volatile default rewriting the table',
         ('adding-field-with-default',), 'expand',
         "op.add_column('tasks', sa.Column('token', sa.String(36), "
         "server_default=sa.text('gen_random_uuid()')))",
         'ALTER TABLE tasks ADD COLUMN token uuid DEFAULT '
         'gen_random_uuid();',
         "op.add_column('tasks', sa.Column('token', sa.String(36), "
         "server_default='none'))",
         "ALTER TABLE tasks ADD COLUMN token varchar(36) DEFAULT 'none';"),
    Case('stable default (free from PostgreSQL 11)',
         ('adding-field-with-default',), 'expand',
         "op.add_column('tasks', sa.Column('seen', sa.DateTime(), "
         "server_default=sa.text('clock_timestamp()')))",
         'ALTER TABLE tasks ADD COLUMN seen timestamp DEFAULT '
         'clock_timestamp();',
         "op.add_column('tasks', sa.Column('seen', sa.DateTime(), "
         "server_default=sa.func.now()))",
         'ALTER TABLE tasks ADD COLUMN seen timestamp DEFAULT now();'),
    Case('stored generated column', ('adding-field-with-default',),
         'expand',
         "op.add_column('tasks', sa.Column('next', sa.Integer(), "
         "sa.Computed('attempts + 1', persisted=True)))",
         'ALTER TABLE tasks ADD COLUMN next integer GENERATED ALWAYS AS '
         '(attempts + 1) STORED;',
         "op.add_column('tasks', sa.Column('next', sa.Integer(), "
         "nullable=True))",
         'ALTER TABLE tasks ADD COLUMN next integer;'),
    Case('serial column', ('adding-serial-primary-key-field',), 'expand',
         "op.execute('ALTER TABLE tasks ADD COLUMN seq bigserial')",
         'ALTER TABLE tasks ADD COLUMN seq bigserial;',
         "op.add_column('tasks', sa.Column('seq', sa.BigInteger(), "
         "nullable=True))",
         'ALTER TABLE tasks ADD COLUMN seq bigint;'),
    Case('type change rewriting the table', ('changing-column-type',),
         'expand',
         "op.alter_column('tasks', 'attempts', type_=sa.BigInteger(), "
         "existing_type=sa.Integer())",
         'ALTER TABLE tasks ALTER COLUMN attempts TYPE bigint;',
         "op.alter_column('tasks', 'note', type_=sa.String(128), "
         "existing_type=sa.String(64))",
         'ALTER TABLE tasks ALTER COLUMN note TYPE varchar(128);',
         squawk_wrong='a longer varchar only changes the catalog '
         '(PostgreSQL\'s ALTER TABLE notes); squawk flags every type change',
         enamel_blind=('safe_sql',)),
    Case('column renamed under the previous release',
         ('renaming-column',), 'expand',
         "op.alter_column('tasks', 'note', new_column_name='remark', "
         "existing_type=sa.String(64))",
         'ALTER TABLE tasks RENAME COLUMN note TO remark;',
         "op.add_column('tasks', sa.Column('remark', sa.String(64), "
         "nullable=True))",
         'ALTER TABLE tasks ADD COLUMN remark varchar(64);'),
    Case('table renamed under the previous release',
         ('renaming-table',), 'expand',
         "op.rename_table('tasks', 'jobs')",
         'ALTER TABLE tasks RENAME TO jobs;',
         "op.create_table('jobs', sa.Column('id', sa.Integer(), "
         "primary_key=True))",
         'CREATE TABLE jobs (id integer PRIMARY KEY);'),
    Case('column dropped while the previous release reads it',
         ('ban-drop-column',), 'expand',
         "op.drop_column('tasks', 'note')",
         'ALTER TABLE tasks DROP COLUMN note;',
         "op.drop_column('tasks', 'note')",
         'ALTER TABLE tasks DROP COLUMN note;', safe_phase='contract',
         squawk_wrong='the safe form is the same DROP in the contract '
         'phase, when no service of the previous release runs: squawk '
         'cannot know the phase'),
    Case('table dropped while the previous release reads it',
         ('ban-drop-table',), 'expand',
         "op.drop_table('task_items')",
         'DROP TABLE task_items;',
         "op.drop_table('task_items')",
         'DROP TABLE task_items;', safe_phase='contract',
         squawk_wrong='the safe form is the same DROP in the contract '
         'phase, when no service of the previous release runs'),
    Case('NOT NULL dropped', ('ban-drop-not-null',), 'contract',
         None, None,
         "op.alter_column('tasks', 'note', nullable=True, "
         "existing_type=sa.String(64))",
         'ALTER TABLE tasks ALTER COLUMN note DROP NOT NULL;',
         squawk_wrong='in contract every service runs the release that '
         'no longer needs the constraint; dropping NOT NULL takes a brief '
         'lock and no scan'),
    Case('transaction control in a revision', ('transaction-nesting',),
         'expand',
         "op.execute('COMMIT')",
         "COMMIT;\nALTER TABLE tasks ADD COLUMN seq bigint;",
         "op.add_column('tasks', sa.Column('seq', sa.BigInteger(), "
         "nullable=True))",
         'ALTER TABLE tasks ADD COLUMN seq bigint;'),
    Case('index on a table the revision creates',
         ('require-concurrent-index-creation',), 'expand', None, None,
         "op.create_table('events', sa.Column('id', sa.Integer(), "
         "primary_key=True), sa.Column('kind', sa.String(16)))\n"
         "op.create_index('ix_events_kind', 'events', ['kind'])",
         'CREATE TABLE events (id integer PRIMARY KEY, kind varchar(16));\n'
         'CREATE INDEX ix_events_kind ON events (kind);',
         squawk_wrong='an index on a table created in the same revision '
         'has no reader to block'),
    Case('VACUUM FULL rewriting the table', (), 'expand',
         AUTOCOMMIT + "op.execute('VACUUM FULL tasks')",
         'VACUUM FULL tasks;',
         AUTOCOMMIT + "op.execute('VACUUM tasks')",
         'VACUUM tasks;'),
)

FORMS = ('bad_ops', 'bad_sql', 'safe_ops', 'safe_sql')


def upgrade_of(case, form, workdir):
    """The ``upgrade()`` of one form of ``case``: the ops run against
    ``alembic.op``, the SQL through :func:`enamel.sql_files.run`."""
    from alembic import op

    if form.endswith('_ops'):
        source = 'def upgrade():\n' + ''.join(
            f'    {line}\n' for line in getattr(case, form).splitlines())
        namespace = {'op': op, 'sa': sa}
        exec(compile(source, f'<{case.name} {form}>', 'exec'), namespace)
        return namespace['upgrade']
    revision_file = os.path.join(workdir, 'case.py')
    with open(os.path.join(workdir, 'case_upgrade.sql'), 'w') as f:
        f.write(getattr(case, form) + '\n')
    return lambda: sql_files.run(revision_file, 'upgrade')


def enamel_rules(case, form, workdir, servers=None):
    """The rules enamel's lint reports for one form (PostgreSQL)."""
    upgrade = upgrade_of(case, form, workdir)
    operations = lint.capture(upgrade, 'postgresql')
    return sorted({rule for rule, _ in lint.check(
        operations, case.phase_of(form), 'postgresql',
        servers or hazards.Servers())})


def offline_sql(case, form, workdir):
    """What would run for one form, as SQL: the SQL file itself, or
    alembic's offline SQL of the ops (in a transaction, with COMMIT and
    BEGIN around an ``autocommit_block``)."""
    if form.endswith('_sql'):
        return getattr(case, form) + '\n'
    from alembic.operations import base as operations_base
    from alembic.runtime import migration as alembic_migration

    from enamel import alembic_internals

    buffer = io.StringIO()
    context = alembic_migration.MigrationContext.configure(
        dialect_name='postgresql', opts={
            'as_sql': True, 'output_buffer': buffer,
            'literal_binds': True, 'transactional_ddl': True})
    operations = operations_base.Operations(context)
    upgrade = upgrade_of(case, form, workdir)
    with alembic_internals.operations_proxy(operations):
        context.impl.emit_begin()
        upgrade()
        context.impl.emit_commit()
    return buffer.getvalue()


def squawk_executable():
    """squawk beside this Python (the test requirements install it)."""
    candidate = os.path.join(os.path.dirname(sys.executable), 'squawk')
    return candidate if os.path.exists(candidate) else shutil.which(
        'squawk')


def squawk_version():
    """squawk's version (``squawk --version``: ``squawk 2.70.0``)."""
    return subprocess.run([squawk_executable(), '--version'],
                          capture_output=True, text=True,
                          timeout=60).stdout.split()[-1]


def squawk_rules(sql, workdir, servers=None):
    """The rules squawk reports on ``sql``, less :data:`SQUAWK_IGNORED`.
    """
    servers = servers or hazards.Servers()
    path = os.path.join(workdir, 'squawk.sql')
    with open(path, 'w') as f:
        f.write(sql)
    version = '.'.join(str(v) for v in servers.postgresql + (0,))[:5]
    result = subprocess.run(
        [squawk_executable(), '--reporter', 'json',
         f'--pg-version={version}', path],
        capture_output=True, text=True, timeout=60)
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f'squawk failed: {result.stderr.strip()}')
    return sorted({v['rule_name'] for v in json.loads(result.stdout)}
                  - SQUAWK_IGNORED)


@dataclasses.dataclass
class Verdict:
    """Both tools' rules on one form of one case."""

    case: Case
    form: str
    enamel: list
    squawk: list

    @property
    def hazard(self):
        return self.form.startswith('bad')


def verdicts():
    """A :class:`Verdict` for every form every case has."""
    return [judge(case, form) for case in CASES for form in FORMS
            if getattr(case, form) is not None]


def judge(case, form):
    """A :class:`Verdict` for one form of ``case``."""
    workdir = tempfile.mkdtemp(prefix='enamel-lint-corpus-')
    try:
        return Verdict(case, form, enamel_rules(case, form, workdir),
                       squawk_rules(offline_sql(case, form, workdir),
                                    workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def tally(verdicts):
    """``{tool: {form: {'found', 'false alarms', 'missed'}}}`` over
    ``verdicts``, with ``form`` ``'ops'`` or ``'sql'``."""
    table = {}
    for tool in ('squawk', 'enamel'):
        for verdict in verdicts:
            kind = verdict.form.split('_')[1]
            counts = table.setdefault(tool, {}).setdefault(
                kind, {'found': 0, 'false alarms': 0, 'missed': 0})
            flagged = bool(getattr(verdict, tool))
            if verdict.hazard:
                counts['found' if flagged else 'missed'] += 1
            elif flagged:
                counts['false alarms'] += 1
    return table
