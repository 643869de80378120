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

"""A ``--sql-files`` revision on PostgreSQL: a ``$$`` function body stays
one statement, and ``CREATE INDEX CONCURRENTLY`` runs outside the
migration transaction (online, and in ``--sql`` output between a COMMIT
and a BEGIN); the lint accepts what enamel runs that way and refuses the
same statement written through ``op.execute`` in the transaction."""

import json
import os

import sqlalchemy as sa

from tests import base
from tests.functional import test_commands

UPGRADE_SQL = """
CREATE FUNCTION enamel_touch() RETURNS integer AS $$
BEGIN
    RETURN 1;  -- a ';' inside the body
END
$$ LANGUAGE plpgsql;
CREATE INDEX CONCURRENTLY ix_tasks_action_sql ON tasks (action);
"""
DOWNGRADE_SQL = """
DROP INDEX CONCURRENTLY ix_tasks_action_sql;
DROP FUNCTION enamel_touch();
"""


class SQLFilesPostgreSQLTest(base.ScratchEnvironment, base.PostgreSQLBackend,
                             base.TestCase):

    def test_function_body_and_concurrent_index(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        result = self.assertSucceeded(self.run_sync(
            'revision', '--sql-files', '-m', 'by sql', '--rev-id', 'b0c1'))
        path, upgrade_sql, downgrade_sql = result.stdout.splitlines()
        with open(upgrade_sql, 'a') as f:
            f.write(UPGRADE_SQL)
        with open(downgrade_sql, 'a') as f:
            f.write(DOWNGRADE_SQL)

        lint = self.run_sync('lint', '--format', 'json', '--dialect',
                             'postgresql', 'b0c1')
        self.assertEqual(0, lint.code, lint)

        self.assertSucceeded(self.run_sync('upgrade'))
        with self.engine.connect() as connection:
            self.assertEqual(1, connection.execute(sa.text(
                'SELECT enamel_touch()')).scalar())
            valid = connection.execute(sa.text(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = "
                "'ix_tasks_action_sql'::regclass")).scalar()
        self.assertTrue(valid)
        self.assertSucceeded(self.run_sync('downgrade', '-1'))
        self.assertNotIn('ix_tasks_action_sql', {
            i['name'] for i in sa.inspect(self.engine).get_indexes('tasks')})

        offline = self.assertSucceeded(self.run_sync(
            'upgrade', '--sql', f'{test_commands.head()}:b0c1')).stdout
        body = offline.index('RETURN 1;  -- a')
        index = offline.index('CREATE INDEX CONCURRENTLY ix_tasks_action_sql')
        self.assertLess(body, index)
        self.assertIn('COMMIT;', offline[body:index])
        self.assertIn('BEGIN;', offline[index:])

        # The same statement through op.execute runs in the transaction.
        with open(path) as f:
            source = f.read()
        with open(path, 'w') as f:
            f.write(source.replace(
                "sql_files.run(__file__, 'upgrade')",
                "from alembic import op\n    op.execute('CREATE INDEX "
                "CONCURRENTLY ix_tasks_action_sql ON tasks (action)')"))
        report = json.loads(self.run_sync(
            'lint', '--format', 'json', '--dialect', 'postgresql',
            'b0c1').stdout)
        self.assertEqual(['concurrently-in-transaction'],
                         [f['rule'] for f in report['findings']])
        self.assertTrue(os.path.exists(upgrade_sql))
