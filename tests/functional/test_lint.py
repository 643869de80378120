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

IMPORTS = 'from alembic import op\nimport sqlalchemy as sa\n'


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
            'table-rewrite': every,
            'no-primary-key': every,
        }, self.rules(report, revision))
        text = self.run_sync('lint', '--dialect', 'postgresql', revision)
        self.assertEqual(10, text.code, text)
        self.assertIn(f'{revision} (expand) expand-removes [postgresql]: '
                      'drop_column tasks.user_id', text.stdout)

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

    def test_an_exception_needs_a_reason(self):
        revision = self.write_revision(
            'contract', CONTRACT_ADDS,
            "\nlint_exceptions = {\n    'contract-adds': 'size is unused "
            "by every release; added here to keep the example short',\n"
            "}\n")
        report = self.lint()
        self.assertEqual(0, report['exit_code'], report)
        findings = [f for f in report['findings']
                    if f['revision'] == revision]
        self.assertEqual(['contract-adds'], [f['rule'] for f in findings])
        self.assertIn('keep the example short', findings[0]['reason'])

        path = [p for p in os.listdir(os.path.join(
            self.env['PYTHONPATH'], 'alembic_migrations', 'versions'))
            if p.startswith(revision)][0]
        path = os.path.join(self.env['PYTHONPATH'], 'alembic_migrations',
                            'versions', path)
        with open(path) as f:
            source = f.read()
        with open(path, 'w') as f:
            f.write(re.sub(r"'contract-adds': '[^']*'",
                           "'contract-adds': ' '", source))
        report = self.lint()
        self.assertEqual(10, report['exit_code'])
        self.assertIn('exception-without-reason',
                      self.rules(report, revision))
