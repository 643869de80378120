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

"""How the progress journal settles the one statement in doubt, and how
the lease reads Galera's failure detection."""

import sqlite3

import pymysql
import testtools

from enamel import journal
from enamel import lease


class AlreadyAppliedTests(testtools.TestCase):

    def mysql(self, code):
        return pymysql.err.OperationalError(code, 'message')

    def test_an_object_that_exists_settles_a_create(self):
        self.assertTrue(journal.already_applied(
            'mysql', 'CREATE TABLE t (id INTEGER)', self.mysql(1050)))
        self.assertTrue(journal.already_applied(
            'mysql', 'ALTER TABLE t ADD COLUMN c INTEGER', self.mysql(1060)))

    def test_an_object_that_is_gone_settles_only_a_drop_or_rename(self):
        self.assertTrue(journal.already_applied(
            'mysql', 'DROP TABLE t', self.mysql(1051)))
        self.assertTrue(journal.already_applied(
            'mysql', 'ALTER TABLE t RENAME COLUMN a TO b', self.mysql(1054)))
        # A missing table under a CREATE INDEX is a real error.
        self.assertFalse(journal.already_applied(
            'mysql', 'CREATE INDEX ix ON t (c)', self.mysql(1146)))

    def test_other_errors_are_errors(self):
        self.assertFalse(journal.already_applied(
            'mysql', 'CREATE TABLE t (id INTEGER)', self.mysql(1064)))
        self.assertFalse(journal.already_applied(
            'sqlite', 'CREATE TABLE t (id INTEGER)',
            sqlite3.OperationalError('near "x": syntax error')))

    def test_sqlite_is_read_from_the_message(self):
        self.assertTrue(journal.already_applied(
            'sqlite', 'CREATE TABLE t (id INTEGER)',
            sqlite3.OperationalError('table t already exists')))


class KeywordTests(testtools.TestCase):

    def test_the_first_word_decides_what_is_journaled(self):
        self.assertEqual('CREATE', journal.keyword('\n  create table t'))
        self.assertEqual('SELECT', journal.keyword('(SELECT 1)'))
        self.assertEqual('', journal.keyword('   '))

    def test_the_digest_ignores_nothing_of_the_text(self):
        self.assertNotEqual(journal.digest('DROP TABLE a'),
                            journal.digest('DROP TABLE b'))
        self.assertEqual(journal.digest('DROP TABLE a'),
                         journal.digest('DROP TABLE a'))


class ImplicitCommitTests(testtools.TestCase):
    """Which statements MySQL may commit the open transaction before (its
    manual, "Statements That Cause an Implicit Commit"): in a long run
    that transaction holds earlier revisions' version rows, which must
    not commit unfenced."""

    def test_ddl_and_the_other_committing_statements_may_commit(self):
        for statement in ('ALTER TABLE t ADD c INT',
                          '/* a comment */ CREATE INDEX i ON t (a)',
                          '-- a comment\nDROP TABLE t',
                          '# a comment\nRENAME TABLE a TO b',
                          'ANALYZE TABLE t', 'OPTIMIZE TABLE t',
                          'LOCK TABLES t WRITE', 'GRANT SELECT ON d.* TO u',
                          'BEGIN', 'START TRANSACTION', 'COMMIT',
                          'SET autocommit = 1', 'CALL p()'):
            self.assertTrue(journal.may_commit(statement), statement)

    def test_reads_row_changes_and_temporary_tables_do_not(self):
        for statement in ('SELECT 1', ' (SELECT 1)',
                          'INSERT INTO t VALUES (1)',
                          "UPDATE t SET a = 'CREATE'", 'DELETE FROM t',
                          'REPLACE INTO t VALUES (1)', 'SET NAMES utf8mb4',
                          'CREATE TEMPORARY TABLE t (a INT)',
                          'CREATE OR REPLACE TEMPORARY TABLE t (a INT)',
                          'DROP TEMPORARY TABLE t'):
            self.assertFalse(journal.may_commit(statement), statement)

    def test_the_first_word_is_read_after_comments(self):
        self.assertEqual('ALTER', journal.keyword('/* x */ alter table t'))
        self.assertEqual('SELECT', journal.keyword('-- x\n(select 1)'))
        self.assertEqual('', journal.keyword('/* only a comment */'))


class GaleraFailureDetectionTests(testtools.TestCase):

    def test_inactive_timeout_is_read_from_the_provider_options(self):
        self.assertEqual(15, lease.galera_inactive_timeout(
            'evs.suspect_timeout = PT5S; evs.inactive_timeout = PT15S'))
        self.assertEqual(90, lease.galera_inactive_timeout(
            'evs.inactive_timeout = PT1M30S'))
        self.assertIsNone(lease.galera_inactive_timeout('gcache.size = 1G'))
