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

"""Guardrails: databases enamel-sync must not migrate blindly.

A ``create_all()`` database (tables, no version table) is refused until it
is adopted with ``stamp --verify``; a database at a revision this code does
not know is never touched; several heads need an explicit target.
"""

import datetime

import sqlalchemy as sa

from enamel import journal
from enamel import lock
from enamel import models
from tests import base
from tests.functional import test_commands

UNKNOWN = 'f00dfeedbeef'


class AdoptTests:

    def snapshot(self):
        """Tables, their columns and the rows of ``tasks``."""
        inspector = sa.inspect(self.engine)
        schema = {t: sorted(c['name'] for c in inspector.get_columns(t))
                  for t in inspector.get_table_names()
                  # enamel's bookkeeping, made by the commands that ran:
                  # a refusal makes none (see test_refusals).
                  if t not in (lock.LOCK_TABLE, journal.JOURNAL_TABLE)}
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text(
                'SELECT uuid FROM tasks')).scalars().all()
        return schema, rows

    def create_all(self):
        models.Base.metadata.create_all(self.engine)
        with self.engine.begin() as connection:
            connection.execute(models.Task.__table__.insert().values(
                uuid='8c2b1d6e-0000-4000-8000-000000000001', action='boot',
                state='done', created_at=datetime.datetime(2024, 1, 1)))

    def execute(self, statement):
        with self.engine.begin() as connection:
            connection.execute(sa.text(statement))

    # -- create_all() databases -------------------------------------------

    def test_upgrade_refuses_an_unversioned_database_untouched(self):
        self.create_all()
        before = self.snapshot()
        result = self.sync('upgrade')
        self.assertEqual(6, result.code, result)
        self.assertIn('no version table', result.stderr)
        self.assertIn('enamel-sync stamp --verify head', result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertEqual(before, self.snapshot())
        self.assertNotIn('alembic_version', before[0])

    def test_downgrade_refuses_an_unversioned_database(self):
        self.create_all()
        before = self.snapshot()
        self.assertEqual(6, self.sync('downgrade', 'base').code)
        self.assertEqual(before, self.snapshot())

    def test_check_reports_unversioned(self):
        self.create_all()
        result = self.sync('check')
        self.assertEqual(6, result.code, result)
        self.assertIn('stamp --verify head', result.stdout)

    def test_online_data_migrations_refuse_an_unversioned_database(self):
        self.create_all()
        before = self.snapshot()
        result = self.sync('online-data-migrations')
        self.assertEqual(6, result.code, result)
        self.assertIn('no version table', result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertEqual(before, self.snapshot())

    def test_online_data_migrations_of_an_empty_database_have_none(self):
        # A first deploy that runs them before upgrade: nothing is open.
        result = self.assertSucceeded(self.sync('online-data-migrations'))
        self.assertIn('No open data migration', result.stdout + result.stderr)
        self.assertEqual([], sa.inspect(self.engine).get_table_names())

    def test_stamp_verify_adopts_a_matching_database(self):
        self.create_all()
        before = self.snapshot()
        self.assertSucceeded(self.sync('stamp', '--verify', 'heads'))
        self.assertEqual(0, self.sync('check').code)
        self.assertEqual([test_commands.head()], self.sync(
            'version').stdout.split())
        upgrade = self.assertSucceeded(self.sync('upgrade'))
        self.assertIn('Nothing to do', upgrade.stderr)
        schema, rows = self.snapshot()
        self.assertEqual(before[1], rows)

    def test_stamp_verify_refuses_a_different_schema(self):
        self.create_all()
        self.execute('ALTER TABLE tasks ADD COLUMN legacy_flag INTEGER')
        self.execute('DROP INDEX ix_tasks_state' +
                     (' ON tasks' if self.BACKEND == 'mysql' else ''))
        before = self.snapshot()
        result = self.sync('stamp', '--verify', 'heads')
        self.assertEqual(4, result.code, result)
        first, *listed = result.stderr.splitlines()
        self.assertIn('differs from the models in 2 place(s)', first)
        self.assertIn('not stamped', first)
        self.assertEqual(2, len(listed), result)
        self.assertTrue(any('legacy_flag' in d for d in listed), listed)
        self.assertTrue(any('ix_tasks_state' in d for d in listed), listed)
        self.assertEqual(before, self.snapshot())
        self.assertEqual(6, self.sync('check').code)

    def test_stamp_verify_refuses_an_empty_database(self):
        result = self.sync('stamp', '--verify', 'heads')
        self.assertEqual(4, result.code, result)
        self.assertIn('add_table', result.stderr)
        self.assertEqual([], self.sync('version').stdout.split())

    def test_stamp_verify_of_an_older_revision_is_refused(self):
        # The models are this release's, at the heads: at an older
        # revision they would pass the schema that is not there.
        env = self.scratch_environment()
        self.assertSucceeded(self.sync_process(
            'revision', '-m', 'later', '--rev-id', 'b0b0', env=env))
        self.create_all()
        before = self.snapshot()
        result = self.sync_process('stamp', '--verify', test_commands.head(),
                                   env=env)
        self.assertEqual(2, result.code, result)
        self.assertIn('stamp --verify compares the database with the '
                      'models of this release, which are at the heads '
                      '(b0b0)', result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertEqual(before, self.snapshot())
        self.assertEqual([], self.sync_process(
            'version', env=env).stdout.split())
        self.assertSucceeded(self.sync_process('stamp', '--verify', 'head',
                                               env=env))
        self.assertEqual(['b0b0'], self.sync_process(
            'version', env=env).stdout.split())

    def test_stamp_verify_head_adopts_at_every_head_of_a_branched_history(
            self):
        # The advice of every refusal of an unversioned database, followed
        # in the rolling-upgrade layout (an expand and a contract head).
        env = self.scratch_environment()
        self.assertSucceeded(self.sync_process(
            'revision', '--expand', '-m', 'start the branches', env=env))
        self.create_all()
        refused = self.sync_process('upgrade', env=env)
        self.assertEqual(6, refused.code, refused)
        self.assertIn('enamel-sync stamp --verify head', refused.stderr)
        self.assertSucceeded(self.sync_process('stamp', '--verify', 'head',
                                               env=env))
        heads = self.sync_process('heads', env=env).stdout.split()
        version = self.sync_process('version', env=env).stdout.split()
        self.assertEqual(2, len(version), version)
        self.assertTrue(set(version) <= set(heads), (version, heads))
        self.assertEqual(0, self.sync_process('check', env=env).code)

    # -- a revision this code does not know -------------------------------

    def test_unknown_revision_is_never_touched(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.execute(f"UPDATE alembic_version SET version_num = '{UNKNOWN}'")
        schema, _ = self.snapshot()
        for argv in (('upgrade',), ('downgrade', 'base'), ('stamp', 'heads'),
                     ('check',)):
            result = self.sync(*argv)
            self.assertEqual(5, result.code, (argv, result))
            self.assertIn(UNKNOWN, result.stderr + result.stdout)
        self.assertEqual(schema, self.snapshot()[0])
        self.assertEqual([UNKNOWN], self.sync('version').stdout.split())

    # -- several heads ----------------------------------------------------

    def test_several_heads_need_an_explicit_target(self):
        env = self.scratch_environment()
        self.assertSucceeded(self.sync_process('upgrade', env=env))
        for rev_id in ('a1b2', 'a2b2'):
            self.assertSucceeded(self.sync_process(
                'revision', '-m', rev_id, '--rev-id', rev_id,
                '--head', test_commands.head(), '--splice', env=env))
        for argv in (('upgrade',), ('stamp', 'head')):
            result = self.sync_process(*argv, env=env)
            self.assertEqual(2, result.code, (argv, result))
            self.assertIn('Multiple head', result.stderr)
            self.assertEqual(1, len(result.stderr.splitlines()), result)
        self.assertEqual([test_commands.head()], self.sync_process(
            'version', env=env).stdout.split())
        self.assertSucceeded(self.sync_process('upgrade', 'a1b2@head',
                                               env=env))
        self.assertEqual(['a1b2'], self.sync_process(
            'version', env=env).stdout.split())

    def test_relative_downgrade_from_two_heads_is_refused(self):
        env = self.scratch_environment()
        for rev_id in ('a1b2', 'a2b2'):
            self.assertSucceeded(self.sync_process(
                'revision', '-m', rev_id, '--rev-id', rev_id,
                '--head', test_commands.head(), '--splice', env=env))
        self.assertSucceeded(self.sync_process('upgrade', 'heads', env=env))
        for argv in (('downgrade',), ('downgrade', '-1'), ('upgrade', '+1')):
            result = self.sync_process(*argv, env=env)
            self.assertEqual(2, result.code, (argv, result))
            line, = result.stderr.splitlines()
            self.assertIn('a1b2, a2b2', line)
            self.assertIn('nothing was changed', line)
            self.assertEqual({'a1b2', 'a2b2'}, set(self.sync_process(
                'version', env=env).stdout.split()))
        # Named, it is unambiguous.
        self.assertSucceeded(self.sync_process('downgrade', 'a1b2@-1',
                                               env=env))
        self.assertEqual(['a2b2'], self.sync_process(
            'version', env=env).stdout.split())


base.for_each_backend(AdoptTests, globals())
