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

"""A refusal changes nothing: an unversioned database, an unknown
revision, a target that names nothing, a schema that ``stamp --verify``
finds different, a phase rule: each leaves the database as it was, to
the last row: no lock table, no lock row taken, no version table, no
journal (see :meth:`enamel.migrator.Migrator.look`).
"""

import sqlalchemy as sa

from enamel import exception
from enamel import models
from tests import base
from tests.functional import test_phase_rules

UNKNOWN = 'ffffffffffff'


def snapshot(engine):
    """Everything the inspector sees in the database, every table (enamel's
    bookkeeping too), and every table's rows."""
    found = {}
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        for table in sorted(inspector.get_table_names()):
            columns = [(c['name'], str(c['type']), c['nullable'],
                        str(c.get('default')))
                       for c in inspector.get_columns(table)]
            rows = connection.execute(sa.text(
                f'SELECT * FROM {table}')).all()
            found[table] = dict(
                columns=columns,
                pk=inspector.get_pk_constraint(table),
                fks=inspector.get_foreign_keys(table),
                uniques=inspector.get_unique_constraints(table),
                indexes=inspector.get_indexes(table),
                rows=sorted(repr(tuple(r)) for r in rows))
    return found


class RefusalTests:

    def assertRefusedUnchanged(self, code, *argv):
        """``enamel-sync *argv`` exits ``code`` with an error (no
        traceback) and leaves the database exactly as it was."""
        before = snapshot(self.engine)
        result = self.sync(*argv)
        self.assertEqual(code, result.code, result)
        self.assertTrue(result.stderr.startswith('enamel-sync: error: '),
                        result)
        self.assertNotIn('Traceback', result.stderr)
        self.assertEqual(before, snapshot(self.engine), argv)
        return result

    def test_an_unversioned_database_is_refused_unchanged(self):
        models.Base.metadata.create_all(self.engine)
        for argv in (('upgrade',), ('upgrade', 'head'), ('upgrade', '+1'),
                     ('upgrade', '--expand'),
                     ('downgrade', 'base')):
            self.assertRefusedUnchanged(exception.UNVERSIONED, *argv)
        self.assertEqual(set(models.Base.metadata.tables),
                         set(snapshot(self.engine)))

    def test_an_unknown_revision_is_refused_unchanged(self):
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                'CREATE TABLE alembic_version (version_num VARCHAR(32) '
                'NOT NULL PRIMARY KEY)'))
            connection.execute(sa.text(
                f"INSERT INTO alembic_version VALUES ('{UNKNOWN}')"))
        for argv in (('upgrade',), ('downgrade', '-1'),
                     ('stamp', 'head')):
            self.assertRefusedUnchanged(exception.UNKNOWN_REVISION, *argv)

    def test_a_target_that_names_nothing_leaves_an_empty_database_empty(
            self):
        for argv in (('upgrade', 'nosuchrevision'),
                     ('stamp', 'nosuchrevision'),
                     ('downgrade', 'nosuchrevision')):
            self.assertRefusedUnchanged(exception.USAGE, *argv)
        self.assertEqual({}, snapshot(self.engine))

    def test_stamp_verify_of_a_different_schema_is_refused_unchanged(self):
        models.Base.metadata.create_all(self.engine)
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                'CREATE TABLE not_a_model (id INTEGER PRIMARY KEY)'))
            connection.execute(sa.text('DROP TABLE task_items'))
        self.assertRefusedUnchanged(exception.SCHEMA_DRIFT,
                                    'stamp', '--verify', 'head')

    def test_the_python_api_refuses_unchanged(self):
        models.Base.metadata.create_all(self.engine)
        before = snapshot(self.engine)
        migrate = self.make_migration()
        for call in (migrate.upgrade, migrate.upgrade_expand,
                     lambda: migrate.downgrade('base')):
            self.assertRaises(exception.UnversionedDatabase, call)
        self.assertRaises(exception.BadRevision, migrate.stamp, 'nosuch')
        self.assertEqual(before, snapshot(self.engine))

    def test_a_refusal_after_an_upgrade_leaves_the_lock_row_alone(self):
        self.assertSucceeded(self.sync('upgrade'))
        # The lock table and its row exist now; a refusal must not take
        # the lock (its token would move).
        for argv in (('upgrade', 'nosuchrevision'),
                     ('downgrade', 'nosuchrevision')):
            self.assertRefusedUnchanged(exception.USAGE, *argv)


base.for_each_backend(RefusalTests, globals(), topologies=True)


class PhaseRefusalTests(test_phase_rules.PhaseRuleSteps):
    """A phase rule's refusal takes no lock and writes nothing."""

    def test_a_phase_rule_refusal_is_unchanged(self):
        self.rows_left()
        for argv in (('upgrade', '--contract'), ('upgrade', 'contract@head'),
                     ('stamp', 'heads')):
            before = snapshot(self.engine)
            result = self.run_sync(*argv)
            self.assertEqual(exception.PHASE_REFUSED, result.code, result)
            self.assertEqual(before, snapshot(self.engine), argv)


base.for_each_backend(PhaseRefusalTests, globals())
