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

"""SQL text cut into statements by each engine's grammar, and what
PostgreSQL refuses inside a transaction block."""

import sys
from unittest import mock

from enamel import exception
from enamel import sql_statements
from tests import base

POSTGRESQL = """-- upgrade
CREATE FUNCTION touch() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();  -- a ';' inside the body
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
/* a comment; with a semicolon */
CREATE INDEX CONCURRENTLY ix_tasks_action ON tasks (action);
INSERT INTO notes (body) VALUES ('a;b');
-- trailing comment only
"""

SQLITE = """CREATE TRIGGER touch AFTER UPDATE ON tasks BEGIN
    UPDATE tasks SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
    SELECT 1;
END;
INSERT INTO notes (body) VALUES ('a;b');
-- done
"""

MYSQL = "INSERT INTO notes (body) VALUES ('a;b'); ALTER TABLE t ADD c INT;\n"


class SplitTest(base.TestCase):

    def test_postgresql_keeps_function_bodies_and_quotes_whole(self):
        statements = sql_statements.split(POSTGRESQL, 'postgresql')
        self.assertEqual(3, len(statements), statements)
        self.assertIn('RETURN NEW;\nEND\n$$ LANGUAGE plpgsql', statements[0])
        self.assertTrue(statements[1].endswith(
            'CREATE INDEX CONCURRENTLY ix_tasks_action ON tasks (action)'))
        self.assertTrue(statements[2].endswith("VALUES ('a;b')"))

    def test_sqlite_keeps_trigger_bodies_whole(self):
        statements = sql_statements.split(SQLITE, 'sqlite')
        self.assertEqual(2, len(statements), statements)
        self.assertTrue(statements[0].endswith('SELECT 1;\nEND'))
        self.assertEqual("INSERT INTO notes (body) VALUES ('a;b')",
                         statements[1])

    def test_mysql_keeps_quoted_semicolons(self):
        self.assertEqual(["INSERT INTO notes (body) VALUES ('a;b')",
                          'ALTER TABLE t ADD c INT'],
                         sql_statements.split(MYSQL, 'mysql'))

    def test_text_the_scanner_cannot_read_is_one_statement(self):
        # An unterminated comment or quote: the engine's scanner raises;
        # the text stays whole (the server refuses it, the lint reports
        # it as unparsable-sql) instead of stopping the caller.
        for dialect in ('postgresql', 'mysql'):
            for sql in ("SELECT 1; SELECT 'a;b", 'SELECT 1; /* open;'):
                self.assertEqual([sql],
                                 sql_statements.split(sql + '\n', dialect),
                                 dialect)

    def test_what_postgresql_refuses_in_a_transaction(self):
        refused = {
            'CREATE INDEX CONCURRENTLY ix ON t (a)':
                'CREATE INDEX CONCURRENTLY',
            'DROP INDEX CONCURRENTLY ix': 'DROP INDEX CONCURRENTLY',
            'REINDEX INDEX CONCURRENTLY ix': 'REINDEX CONCURRENTLY',
            'VACUUM t': 'VACUUM',
            'CREATE INDEX ix ON t (a)': None,
            "SELECT 'CREATE INDEX CONCURRENTLY'": None,
        }
        for statement, reason in refused.items():
            self.assertEqual(reason, sql_statements.outside_transaction(
                statement, 'postgresql'), statement)
            self.assertIsNone(sql_statements.outside_transaction(
                statement, 'mysql'))


class MissingParserTest(base.TestCase):

    def test_one_line_names_the_package_to_install(self):
        for dialect, module, extra in (
                ('postgresql', 'pglast', 'enamel-sync[postgresql]'),
                ('mysql', 'sqlglot', 'enamel-sync[mysql]')):
            with mock.patch.dict(sys.modules, {module: None}):
                error = self.assertRaises(exception.ConfigError,
                                          sql_statements.split,
                                          'SELECT 1;', dialect)
            message = str(error)
            self.assertEqual(1, len(message.splitlines()))
            self.assertIn(f'needs the {module} package: pip install '
                          f'"{extra}" (or "enamel-sync[lint]"', message)
        # SQLite is cut by the standard library: nothing to install.
        with mock.patch.dict(sys.modules, {'pglast': None, 'sqlglot': None}):
            self.assertEqual(['SELECT 1'],
                             sql_statements.split('SELECT 1;', 'sqlite'))
