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

"""``enamel-sync lint``: the bundled revisions pass it (this is the CI
run of the lint), and each rule fires on a revision that breaks it.

The lint needs no database: the revisions' operations are captured
offline, per engine.
"""

import json
import os
import re

from tests import base

HAZARDS = '''

def upgrade():
    op.drop_column('tasks', 'user_id')
    op.add_column('tasks', sa.Column('size', sa.Integer(), nullable=False))
    op.create_index('ix_tasks_action', 'tasks', ['action'])
    op.alter_column('tasks', 'parameters', new_column_name='params')
    with op.batch_alter_table('tasks') as batch:
        batch.alter_column('uuid', type_=sa.String(64),
                           existing_type=sa.String(36))
    op.create_table('notes', sa.Column('body', sa.Text()))


def downgrade():
    pass
'''

CONTRACT_ADDS = '''

def upgrade():
    op.add_column('tasks', sa.Column('size', sa.Integer(), nullable=True))
    op.drop_column('tasks', 'user_id')


def downgrade():
    pass
'''

PLAIN_SQL = '''

def upgrade():
    op.execute('CREATE INDEX ix_tasks_action ON tasks (action)')
    op.execute('ALTER TABLE tasks DROP COLUMN user_id')


def downgrade():
    pass
'''

IMPORTS = ('from alembic import context\nfrom alembic import op\n'
           'import sqlalchemy as sa\n')

# A revision that asks alembic's context which mode it runs in, as
# alembic's documentation shows for data that only a live database has.
OFFLINE_AWARE = '''

def upgrade():
    if context.is_offline_mode():
        op.create_index('ix_tasks_action', 'tasks', ['action'])
    else:
        op.get_bind().execute(sa.text('SELECT count(*) FROM tasks')).scalar()


def downgrade():
    pass
'''

# Revisions that read the database whatever the mode.
READS_ROWS = '''

def upgrade():
    count = op.get_bind().execute(sa.text('SELECT count(*) FROM tasks'))
    if count.scalar():
        op.drop_column('tasks', 'user_id')


def downgrade():
    pass
'''

READS_URL = '''

def upgrade():
    if op.get_bind().url.drivername.startswith('sqlite'):
        op.drop_column('tasks', 'user_id')


def downgrade():
    pass
'''

BY_VERSION = '''

def upgrade():
    op.add_column('tasks', sa.Column('size', sa.Integer(), nullable=True,
                                     server_default='0'))
    op.create_index('ix_tasks_size', 'tasks', ['size'])
    with op.batch_alter_table('tasks') as batch:
        batch.alter_column('uuid', type_=sa.String(255),
                           existing_type=sa.String(36))


def downgrade():
    pass
'''


LONG_NAMES = """

def upgrade():
    op.create_table(
        '{table}',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('{column}', sa.Integer()))
    op.create_index(op.f('ix_{long_index}'), '{table}', ['{column}'])


def downgrade():
    pass
""".format(table='t' * 64, column='c' * 63, long_index='x' * 62)

# Per-operation exceptions: above an operation, at the end of a line of a
# statement written over several, on a with block's line; one that
# matches nothing; and a string that only looks like one.
PER_OP = """

def upgrade():
    note = '# enamel-lint: this string is no comment'
    # enamel-lint: allow index-not-concurrent: tasks is empty until this release
    op.create_index('ix_tasks_action', 'tasks', ['action'])
    op.create_index('ix_tasks_status', 'tasks', ['status'], info={'n': note})
    op.add_column(
        'tasks',
        sa.Column('size', sa.Integer(), nullable=False),  # enamel-lint: allow not-null-without-default: size is filled before the release that reads it
    )
    with op.batch_alter_table('tasks') as batch:  # enamel-lint: allow copy-alter: the type change is a maintenance-window step
        batch.alter_column('uuid', type_=sa.String(255),
                           existing_type=sa.String(36))
    # enamel-lint: allow rename: nothing renames here
    op.create_index('ix_tasks_user', 'tasks', ['user_id'])


def downgrade():
    pass
"""  # noqa: E501

# Revisions the lint once stopped on, or misread: SQL its scanner cannot
# cut into statements (an unterminated quote), a type given as a class, a
# batch block with alembic's keyword arguments, an empty one, a TextClause
# with bound parameters, an empty upgrade().
ODD = """

def upgrade():
    \"\"\"Odd, but what alembic takes.\"\"\"
    with op.batch_alter_table('tasks', recreate='auto',
                              table_kwargs={'mysql_engine': 'InnoDB'}) as b:
        b.add_column(sa.Column('note', sa.Text(), nullable=True),
                     insert_after='action')
        b.create_index('ix_tasks_note', ['note'], mysql_length={'note': 10})
    with op.batch_alter_table('tasks'):
        pass
    op.execute(sa.text('UPDATE tasks SET action = :a WHERE action IS NULL')
               .bindparams(a='x'))
    op.execute(sa.text(''))
    op.execute("SELECT 'unterminated")
    op.alter_column('tasks', 'uuid', type_=sa.Text,
                    existing_type=sa.String(36))


def downgrade():
    pass
"""

EMPTY = '''

def upgrade():
    pass


def downgrade():
    pass
'''

# The recipes of the developer guide (doc/source/contributor/lint.rst,
# "Recipes for a busy table"), which it says lint clean as written.
RECIPES = """

def upgrade():
    dialect = op.get_context().dialect.name
    if dialect == 'postgresql':
        op.create_check_constraint(op.f('ck_tasks_size_positive'),
                                   'tasks', 'size >= 0',
                                   postgresql_not_valid=True)
        with op.get_context().autocommit_block():
            op.execute('ALTER TABLE tasks VALIDATE CONSTRAINT '
                       'ck_tasks_size_positive')
    elif dialect == 'mysql':
        # enamel-lint: allow copy-alter: tasks is copied once, in the release N+1 maintenance window
        op.create_check_constraint(op.f('ck_tasks_size_positive'),
                                   'tasks', 'size >= 0')
    else:
        with op.batch_alter_table('tasks') as batch:
            batch.create_check_constraint(
                op.f('ck_tasks_size_positive'), 'size >= 0')
    if dialect == 'mysql':
        op.add_column('tasks', sa.Column('size_mb', sa.Integer(),
                                         sa.Computed('size / 1048576')))
    op.add_column('tasks', sa.Column('size_kb', sa.Integer(),
                                     nullable=True))
    if dialect == 'postgresql':
        op.create_foreign_key(op.f('fk_tasks_owner_id_owners'), 'tasks',
                              'owners', ['owner_id'], ['id'],
                              postgresql_not_valid=True)
        with op.get_context().autocommit_block():
            op.execute('ALTER TABLE tasks VALIDATE CONSTRAINT '
                       'fk_tasks_owner_id_owners')
    elif dialect == 'mysql':
        op.execute('SET foreign_key_checks = 0')
        # enamel-lint: allow copy-alter: release N's data migration deleted every orphan owner_id; the service writes none since
        op.create_foreign_key(op.f('fk_tasks_owner_id_owners'), 'tasks',
                              'owners', ['owner_id'], ['id'])
        op.execute('SET foreign_key_checks = 1')
    else:
        with op.batch_alter_table('tasks') as batch:
            batch.create_foreign_key(op.f('fk_tasks_owner_id_owners'),
                                     'owners', ['owner_id'], ['id'])


def downgrade():
    pass
"""  # noqa: E501


NESTED_AUTOCOMMIT = '''

def upgrade():
    with op.get_context().autocommit_block():
        op.create_index('ix_tasks_action', 'tasks', ['action'],
                        postgresql_concurrently=True)
        with op.get_context().autocommit_block():
            op.create_index('ix_tasks_state', 'tasks', ['state'],
                            postgresql_concurrently=True)
        op.create_index('ix_tasks_user', 'tasks', ['user_id'],
                        postgresql_concurrently=True)


def downgrade():
    pass
'''

THROUGH_INVOKE = '''
from alembic.operations import Operations
from alembic.operations import ops


class DropRequestIdOp(ops.MigrateOperation):
    """An operation of the service's own, registered with alembic."""

    def __init__(self, table_name):
        self.table_name = table_name


@Operations.implementation_for(DropRequestIdOp)
def drop_request_id(operations, operation):
    operations.drop_column(operation.table_name, 'request_id')


def upgrade():
    op.invoke(ops.DropColumnOp('tasks', 'user_id'))
    op.invoke(ops.ModifyTableOps('tasks', [
        ops.AlterColumnOp('tasks', 'project_id', modify_nullable=False)]))
    op.invoke(DropRequestIdOp('tasks'))
    with op.batch_alter_table('tasks') as batch:
        batch.invoke(ops.DropIndexOp('ix_tasks_project_id', 'tasks'))


def downgrade():
    pass
'''

SQL_COMMENTS = '''-- enamel-lint: allow index-not-concurrent: tasks is empty
CREATE INDEX ix_tasks_action ON tasks (action);
CREATE INDEX ix_tasks_state
    ON tasks (state); -- enamel-lint: allow index-not-concurrent: state is new
CREATE INDEX ix_tasks_user ON tasks (user_id);
-- enamel-lint: allow index-not-concurrent: nothing follows
'''


def lint_dialects():
    from enamel import lint
    return lint.DIALECTS


class LintTest(base.SQLiteBackend, base.TestCase):

    def setUp(self):
        super().setUp()
        self.env = self.scratch_environment('enamel')

    def run_sync(self, *argv):
        return self.sync_process(*argv, env=self.env)

    def write_revision(self, phase, body, exceptions=''):
        # The first --expand/--contract also prints the branch roots.
        written = self.assertSucceeded(self.run_sync(
            'revision', f'--{phase}', '-m', 'lint me')).stdout
        path = written.splitlines()[-1]
        with open(path) as f:
            source = f.read()
        head, _ = source.split('\n\ndef upgrade():', 1)
        head = head.replace('"""\n\n', '"""\n\n' + IMPORTS, 1)
        with open(path, 'w') as f:
            f.write(head + exceptions + body)
        return re.search(r"^revision = '(\w+)'", source, re.M).group(1)

    def lint(self, *argv):
        result = self.run_sync('lint', '--format', 'json', *argv)
        report = json.loads(result.stdout)
        self.assertEqual(result.code, report['exit_code'], result)
        return report

    def rules(self, report, revision):
        found = {}
        for finding in report['findings']:
            if finding['revision'] == revision:
                found.setdefault(finding['rule'], set()).update(
                    finding['dialects'])
        return found

    def test_bundled_revisions_pass(self):
        # Run in-process on the real revisions: the CI run of the lint.
        result = self.assertSucceeded(self.sync('lint'))
        self.assertIn('0 finding(s)', result.stdout)

    def test_each_hazard_of_an_expand_revision(self):
        revision = self.write_revision('expand', HAZARDS)
        report = self.lint()
        self.assertEqual(10, report['exit_code'])
        every = {'sqlite', 'mysql', 'postgresql'}
        self.assertEqual({
            'expand-removes': every,
            'not-null-without-default': every,
            'index-not-concurrent': {'postgresql'},
            'rename': every,
            # VARCHAR(36) -> (64): free on PostgreSQL (a longer varchar),
            # a copy on MariaDB (144 -> 256 bytes in utf8mb4 crosses the
            # one-byte length), a batch copy on SQLite.
            'table-rewrite': {'sqlite'},
            'copy-alter': {'mysql'},
            'no-primary-key': every,
        }, self.rules(report, revision))
        text = self.run_sync('lint', '--dialect', 'postgresql', revision)
        self.assertEqual(10, text.code, text)
        self.assertIn(f'{revision} (expand) expand-removes [postgresql]: '
                      'drop_column tasks.user_id', text.stdout)

    def test_the_server_version_and_galera_change_the_verdict(self):
        revision = self.write_revision('expand', BY_VERSION)
        mysql = self.rules(self.lint('--dialect', 'mysql', '--dialect',
                                     'postgresql'), revision)
        # VARCHAR(36) to (255) in utf8mb4 is 144 to 1020 bytes: it crosses
        # the one-byte length, a copy on MariaDB; PostgreSQL 12 adds a
        # column with a constant default without a rewrite, 10 rewrites.
        self.assertEqual({'copy-alter': {'mysql'},
                          'index-not-concurrent': {'postgresql'}}, mysql)
        old = self.rules(self.lint('--dialect', 'postgresql',
                                   '--server-version', 'postgresql=10'),
                         revision)
        self.assertEqual({'postgresql'}, old['table-rewrite'])
        galera = self.rules(self.lint('--dialect', 'mysql', '--galera'),
                            revision)
        self.assertEqual({'copy-alter', 'galera-toi'}, set(galera))
        report = self.lint('--server-version', 'mariadb=10.11')
        self.assertIn('MariaDB 10.11', report['servers'])
        bad = self.run_sync('lint', '--server-version', 'oracle=19')
        self.assertEqual(2, bad.code, bad)
        self.assertIn("--server-version 'oracle=19': expected postgresql=N",
                      bad.stderr)

    def test_a_name_an_engine_cannot_hold_is_reported_per_engine(self):
        revision = self.write_revision('expand', LONG_NAMES)
        report = self.lint()
        self.assertEqual(10, report['exit_code'])
        # A 64-character table name fits MySQL, not PostgreSQL; a
        # 63-character column fits both; the 65-character index neither.
        found = sorted((f['message'], tuple(sorted(f['dialects'])))
                       for f in report['findings']
                       if f['revision'] == revision
                       and f['rule'] == 'name-too-long')
        self.assertEqual([
            (f'the index name ix_{"x" * 62} is too long (MySQL/MariaDB '
             'holds 64 characters, it has 65)', ('mysql',)),
            (f'the index name ix_{"x" * 62} is too long (PostgreSQL holds '
             '63 bytes, it has 65)', ('postgresql',)),
            (f'the table name {"t" * 64} is too long (PostgreSQL holds 63 '
             'bytes, it has 64)', ('postgresql',)),
        ], found)

    def test_contract_only_removes(self):
        expand = self.write_revision('expand', '\n\ndef upgrade():\n'
                                     '    pass\n\n\ndef downgrade():\n'
                                     '    pass\n')
        contract = self.write_revision('contract', CONTRACT_ADDS)
        report = self.lint()
        self.assertEqual({}, self.rules(report, expand))
        self.assertEqual({'contract-adds'}, set(self.rules(report,
                                                           contract)))

    def test_plain_sql_is_linted(self):
        revision = self.write_revision('expand', PLAIN_SQL)
        rules = self.rules(self.lint(), revision)
        self.assertEqual({'postgresql'}, rules['index-not-concurrent'])
        self.assertIn('expand-removes', rules)

    def test_revisions_run_in_alembic_offline_context(self):
        # context.is_offline_mode() answers True, as under alembic's
        # upgrade --sql: the offline branch is the one linted.
        revision = self.write_revision('expand', OFFLINE_AWARE)
        report = self.lint()
        self.assertEqual({'index-not-concurrent': {'postgresql'}},
                         self.rules(report, revision))
        offline = self.run_sync('upgrade', '--sql', 'expand@head')
        self.assertEqual(0, offline.code, offline)
        self.assertIn('CREATE INDEX ix_tasks_action', offline.stdout)

    def test_a_revision_that_needs_a_database_is_named_offline(self):
        for body, why in ((READS_ROWS, "'NoneType' object has no attribute "
                           "'scalar'"),
                          (READS_URL, "'MockConnection' object has no "
                           "attribute 'url'")):
            revision = self.write_revision('expand', body)
            rules = self.rules(self.lint(), revision)
            self.assertEqual({'capture': set(lint_dialects())}, rules)
            result = self.run_sync('upgrade', '--sql', 'expand@head')
            self.assertEqual(1, result.code, result)
            self.assertEqual('', result.stdout)
            lines = result.stderr.strip().splitlines()
            self.assertEqual(1, len(lines), result.stderr)
            self.assertIn(f'revision {revision} cannot be written as SQL: '
                          f'AttributeError: {why}', lines[0])
            self.assertIn('needs a live database', lines[0])
            self.assertNotIn('unexpected error', lines[0])
            os.remove(self.revision_path(revision))

    def revision_path(self, revision):
        versions = os.path.join(self.env['PYTHONPATH'], 'alembic_migrations',
                                'versions')
        return os.path.join(versions, [
            p for p in os.listdir(versions) if p.startswith(revision)][0])

    def test_an_exception_needs_a_reason_and_is_listed(self):
        revision = self.write_revision(
            'contract', CONTRACT_ADDS,
            "\nlint_exceptions = {\n    'contract-adds': 'size is unused "
            "by every release; added here to keep the example short',\n"
            "    'set-not-null': 'kept to show an unused exception',\n"
            "}\n")
        report = self.lint()
        self.assertEqual(0, report['exit_code'], report)
        findings = [f for f in report['findings']
                    if f['revision'] == revision]
        self.assertEqual(['contract-adds'], [f['rule'] for f in findings])
        self.assertIn('keep the example short', findings[0]['reason'])
        self.assertEqual(
            [('contract-adds', True), ('set-not-null', False)],
            [(e['rule'], e['used']) for e in report['exceptions']])
        text = self.run_sync('lint', revision)
        self.assertEqual(0, text.code, text)
        self.assertIn(f'{revision} excepts set-not-null: kept to show an '
                      'unused exception (excepts nothing)', text.stdout)

    def test_a_malformed_exception_is_an_error_naming_file_and_key(self):
        revision = self.write_revision('contract', CONTRACT_ADDS,
                                       "\nlint_exceptions = {}\n")
        path = self.revision_path(revision)
        with open(path) as f:
            source = f.read()
        for given, expected in (
                ("{'contract-adds': ' '}",
                 "lint_exceptions['contract-adds'] gives no reason"),
                ("{'contract-add': 'typo'}",
                 "lint_exceptions['contract-add']: no such rule (did you "
                 "mean 'contract-adds'?)"),
                ("['contract-adds']", 'lint_exceptions is a list; '
                 'expected a dict'),
                ("'contract-adds'", 'lint_exceptions is a str; expected '
                 'a dict')):
            with open(path, 'w') as f:
                f.write(source.replace('lint_exceptions = {}',
                                       f'lint_exceptions = {given}'))
            result = self.run_sync('lint')
            self.assertEqual(1, result.code, result)
            self.assertIn(f'{path}: {expected}', result.stderr)
            self.assertIn("{'<rule>': '<why it is safe here>'}",
                          result.stderr)
            self.assertNotIn('Traceback', result.stderr)
            self.assertEqual(1, len(result.stderr.strip().splitlines()),
                             result.stderr)

    def test_a_comment_excepts_one_operation_and_is_listed(self):
        revision = self.write_revision('expand', PER_OP)
        path = self.revision_path(revision)
        with open(path) as f:
            lines = f.read().splitlines()

        def line_of(text):
            return 1 + next(i for i, line in enumerate(lines)
                            if text in line)

        report = self.lint('--dialect', 'postgresql', '--dialect', 'mysql')
        findings = {(f['rule'], f['message'], tuple(f['dialects'])):
                    f['reason'] for f in report['findings']
                    if f['revision'] == revision}
        self.assertEqual({
            # Above the statement: that operation only.
            ('index-not-concurrent', 'create index ix_tasks_action on '
             'tasks without CONCURRENTLY', ('postgresql',)):
            'tasks is empty until this release',
            ('index-not-concurrent', 'create index ix_tasks_status on '
             'tasks without CONCURRENTLY', ('postgresql',)): None,
            ('index-not-concurrent', 'create index ix_tasks_user on '
             'tasks without CONCURRENTLY', ('postgresql',)): None,
            # At the end of any line of a statement written over several.
            ('not-null-without-default', 'add NOT NULL column tasks.size '
             'without a default', ('postgresql',)):
            'size is filled before the release that reads it',
            ('not-null-without-default', 'add NOT NULL column tasks.size '
             'without a server default', ('mysql',)):
            'size is filled before the release that reads it',
            # On a with block's line: every operation inside it.
            ('copy-alter', 'type change of tasks.uuid to '
             'String(length=255) needs ALGORITHM=COPY: writes to the table '
             'wait for the whole copy', ('mysql',)):
            'the type change is a maintenance-window step',
        }, findings)
        # The ix_tasks_status index is not excepted: the lint fails.
        self.assertEqual(10, report['exit_code'])
        self.assertEqual([
            (line_of('allow index-not-concurrent'), 'index-not-concurrent',
             True),
            (line_of('allow not-null-without-default'),
             'not-null-without-default', True),
            (line_of('allow copy-alter'), 'copy-alter', True),
            (line_of('allow rename'), 'rename', False),
        ], [(e['line'], e['rule'], e['used'])
            for e in report['exceptions'] if e['revision'] == revision])
        text = self.run_sync('lint', '--dialect', 'postgresql', revision)
        self.assertEqual(10, text.code, text)
        self.assertIn(f'{revision} line {line_of("allow rename")} excepts '
                      'rename: nothing renames here (excepts nothing)',
                      text.stdout)
        self.assertIn(f'{revision} (expand) index-not-concurrent '
                      '[postgresql]: create index ix_tasks_action on tasks '
                      'without CONCURRENTLY (excepted: tasks is empty until '
                      'this release)', text.stdout)

    def test_a_comment_and_the_revision_wide_exceptions_are_listed(self):
        revision = self.write_revision(
            'contract', CONTRACT_ADDS.replace(
                "    op.drop_column('tasks', 'user_id')",
                "    # enamel-lint: allow contract-adds: kept for the "
                "example\n    op.drop_column('tasks', 'user_id')"),
            "\nlint_exceptions = {'contract-adds': 'size is unused by "
            "every release'}\n")
        with open(self.revision_path(revision)) as f:
            line = 1 + f.read().splitlines().index(
                '    # enamel-lint: allow contract-adds: kept for the '
                'example')
        report = self.lint()
        self.assertEqual(0, report['exit_code'], report)
        self.assertEqual(
            [('contract-adds', None, True), ('contract-adds', line, False)],
            [(e['rule'], e['line'], e['used'])
             for e in report['exceptions']])
        text = self.run_sync('lint', revision)
        self.assertEqual(0, text.code, text)
        self.assertIn(f'{revision} excepts contract-adds: size is unused '
                      'by every release\n', text.stdout)
        self.assertIn(f'{revision} line {line} excepts contract-adds: kept '
                      'for the example (excepts nothing)', text.stdout)

    def test_a_malformed_comment_is_an_error_naming_file_and_line(self):
        revision = self.write_revision('expand', PER_OP)
        path = self.revision_path(revision)
        with open(path) as f:
            source = f.read()
        good = ('# enamel-lint: allow index-not-concurrent: tasks is empty '
                'until this release')
        line = source[:source.index(good)].count('\n') + 1
        shape = ("expected '# enamel-lint: allow <rule>: <why it is safe "
                 "here>' at the end of the operation's line or on the line "
                 "above it")
        for given, expected in (
                ('# enamel-lint: allow index-not-concurrent',
                 "'# enamel-lint: allow index-not-concurrent' is not a lint "
                 f'exception; {shape}'),
                ('# enamel-lint allow index-not-concurrent: why',
                 "'# enamel-lint allow index-not-concurrent: why' is not a "
                 f'lint exception; {shape}'),
                ('# enamel-lint: ignore index-not-concurrent: why',
                 "'# enamel-lint: ignore index-not-concurrent: why' is not a "
                 f'lint exception; {shape}'),
                ('# Enamel_Lint: allow index-not-concurrent: why',
                 "'# Enamel_Lint: allow index-not-concurrent: why' is not a "
                 f'lint exception; {shape}'),
                ('# enamel-lint: allow index-not-concurrent:   ',
                 'enamel-lint: allow index-not-concurrent gives no reason; '
                 f'{shape}'),
                ('# enamel-lint: allow index-not-concurent: typo',
                 "enamel-lint: no such rule 'index-not-concurent' (did you "
                 f"mean 'index-not-concurrent'?); {shape}; rules: ")):
            with open(path, 'w') as f:
                f.write(source.replace(good, given))
            for argv in (('lint',), ('lint', '--format', 'json'),
                         ('lint', '--dialect', 'sqlite', revision)):
                result = self.run_sync(*argv)
                self.assertEqual(1, result.code, result)
                self.assertEqual('', result.stdout)
                self.assertIn(f'{path}:{line}: {expected}', result.stderr)
                self.assertNotIn('Traceback', result.stderr)
                self.assertEqual(
                    1, len(result.stderr.strip().splitlines()),
                    result.stderr)

    def test_a_nested_autocommit_block_is_reported(self):
        # alembic refuses a nested block when it runs (an AssertionError,
        # after the outer block committed); the lint reports it, and the
        # outer block still runs outside the transaction after it.
        revision = self.write_revision('expand', NESTED_AUTOCOMMIT)
        report = self.lint()
        self.assertEqual(10, report['exit_code'])
        self.assertEqual(
            {'nested-autocommit-block': {'sqlite', 'mysql', 'postgresql'}},
            self.rules(report, revision))

    def test_operations_through_invoke_are_phase_checked(self):
        # op.invoke of alembic's operations, of a container of them and of
        # an operation of the service's own (as its implementation runs
        # them), and batch.invoke: each judged as if written directly.
        revision = self.write_revision('expand', THROUGH_INVOKE)
        report = self.lint('--dialect', 'sqlite')
        self.assertEqual(10, report['exit_code'])
        removes = sorted(f['message'] for f in report['findings']
                         if f['revision'] == revision and
                         f['rule'] == 'expand-removes')
        self.assertEqual(4, len(removes), removes)
        for name in ('tasks.user_id', 'tasks.project_id becomes NOT NULL',
                     'tasks.request_id', 'ix_tasks_project_id'):
            self.assertEqual(1, sum(name in m for m in removes),
                             (name, removes))

    def test_a_sql_comment_excepts_one_statement_and_is_listed(self):
        written = self.assertSucceeded(self.run_sync(
            'revision', '--expand', '--sql-files', '-m', 'by sql')).stdout
        path, upgrade_sql, _ = written.splitlines()[-3:]
        revision = re.search(r'(\w+?)_by_sql\.py$', path).group(1)
        with open(upgrade_sql, 'w') as f:
            f.write(SQL_COMMENTS)
        name = os.path.basename(upgrade_sql)
        report = self.lint('--dialect', 'postgresql', revision)
        self.assertEqual({
            ('create index ix_tasks_action on tasks without CONCURRENTLY',
             'tasks is empty'),
            ('create index ix_tasks_state on tasks without CONCURRENTLY',
             'state is new'),
            ('create index ix_tasks_user on tasks without CONCURRENTLY',
             None),
        }, {(f['message'], f['reason']) for f in report['findings']
            if f['rule'] == 'index-not-concurrent'})
        self.assertEqual(10, report['exit_code'])
        self.assertEqual(
            [(1, name, True), (4, name, True), (6, name, False)],
            [(e['line'], e['file'], e['used'])
             for e in report['exceptions']])
        text = self.run_sync('lint', '--dialect', 'postgresql', revision)
        self.assertIn(f'{revision} {name} line 6 excepts '
                      'index-not-concurrent: nothing follows (excepts '
                      'nothing)', text.stdout)
        # A malformed one is an error naming the file and the line.
        with open(upgrade_sql, 'w') as f:
            f.write(SQL_COMMENTS.replace(
                'allow index-not-concurrent: state',
                'allow index-not-concurent: state'))
        result = self.run_sync('lint', revision)
        self.assertEqual(1, result.code, result)
        self.assertIn(f'{upgrade_sql}:4: enamel-lint: no such rule '
                      "'index-not-concurent' (did you mean "
                      "'index-not-concurrent'?); expected '-- enamel-lint: "
                      "allow <rule>: <why it is safe here>'", result.stderr)
        self.assertEqual(1, len(result.stderr.strip().splitlines()),
                         result.stderr)

    def test_odd_revisions_are_linted_not_crashed_on(self):
        odd = self.write_revision('expand', ODD)
        empty = self.write_revision('expand', EMPTY)
        report = self.lint()
        self.assertEqual({}, self.rules(report, empty))
        found = {(f['rule'], f['message'], tuple(f['dialects']))
                 for f in report['findings'] if f['revision'] == odd}
        self.assertEqual({
            ('index-not-concurrent', 'create index ix_tasks_note on tasks '
             'without CONCURRENTLY', ('postgresql',)),
            # One statement, whole: PostgreSQL's parser names the error;
            # the rest of the revision is still read on every engine.
            ('unparsable-sql', "PostgreSQL cannot parse SELECT "
             "'unterminated;: unterminated quoted string at or near "
             "\"'unterminated;\", at index 7", ('postgresql',)),
            # type_=sa.Text is sa.Text(): free on PostgreSQL (varchar to
            # text), a copy on MariaDB, a batch copy on SQLite.
            ('copy-alter', 'type change of tasks.uuid to Text() needs '
             'ALGORITHM=COPY: writes to the table wait for the whole copy',
             ('mysql',)),
            ('table-rewrite', 'type change of tasks.uuid to Text() copies '
             'the table (batch mode)', ('sqlite',)),
        }, found)

    def test_the_guides_recipes_lint_clean(self):
        revision = self.write_revision('expand', RECIPES)
        report = self.lint()
        self.assertEqual(0, report['exit_code'], report)
        # Clean because each operation's exception excepts it, on MariaDB
        # only; without them the copies are findings.
        self.assertEqual(
            {('copy-alter', ('mysql',), True)},
            {(f['rule'], tuple(f['dialects']), bool(f['reason']))
             for f in report['findings'] if f['revision'] == revision})
        self.assertEqual([('copy-alter', True), ('copy-alter', True)],
                         [(e['rule'], e['used'])
                          for e in report['exceptions']])
        path = self.revision_path(revision)
        with open(path) as f:
            source = f.read()
        with open(path, 'w') as f:
            f.write(source.replace('# enamel-lint:', '# was:'))
        self.assertEqual({'copy-alter': {'mysql'}},
                         self.rules(self.lint(), revision))
