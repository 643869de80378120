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

"""The migrations on real engines: they build what the models describe,
and every revision walks up and down with its data intact.

Each case runs on SQLite, MariaDB/MySQL and PostgreSQL
(:func:`tests.base.for_each_backend`), each test in a throwaway database.
"""

import datetime
import os
import re
import subprocess
import sys

from oslo_db.sqlalchemy import test_migrations
import sqlalchemy as sa

from enamel import api_models
from enamel import conf as enamel_conf
from enamel import environment
from enamel import journal
from enamel import lock
from enamel import migration
from enamel import models
from tests import base
from tests import synthetic
from tests import walker


def first():
    """The first revision (on base), read from the script directory; the
    walker's hooks below carry its id in their names, as the walker's
    ``_check_<revision>`` convention has it."""
    return base.first_revision(base.bundled_script())


class ModelsMatchMigrationsTests(test_migrations.ModelsMigrationsSync):
    """``upgrade head`` builds exactly the schema the models describe.

    oslo.db's ModelsMigrationsSync runs alembic's ``compare_metadata``:
    tables, columns, types, nullability, server defaults, indexes, unique
    constraints and foreign keys (with their ON DELETE/ON UPDATE).
    Primary keys, which alembic does not compare, are checked below.
    """

    def get_engine(self):
        return self.engine

    def get_metadata(self):
        return models.Base.metadata

    def db_sync(self, engine):
        self.make_migration().upgrade('heads')

    def include_object(self, object_, name, type_, reflected, compare_to):
        # The same filter as enamel-sync check: only what the models own.
        return environment.include_object(
            object_, name, type_, reflected, compare_to)

    def test_primary_keys_match_models(self):
        self.make_migration().upgrade('heads')
        inspector = sa.inspect(self.engine)
        for table in models.Base.metadata.sorted_tables:
            reflected = inspector.get_pk_constraint(table.name)
            self.assertEqual(
                [c.name for c in table.primary_key.columns],
                reflected['constrained_columns'],
                f'primary key of {table.name} on {self.BACKEND}')


base.for_each_backend(ModelsMatchMigrationsTests, globals())


class ApiModelsMatchMigrationsTests(ModelsMatchMigrationsTests):
    """The same for the API database: its revisions build its models."""

    def get_metadata(self):
        return api_models.Base.metadata

    def api_migration(self):
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        return migration.Migration(conf, engine=self.engine, database='api')

    def db_sync(self, engine):
        self.api_migration().upgrade('heads')

    def test_primary_keys_match_models(self):
        self.api_migration().upgrade('heads')
        inspector = sa.inspect(self.engine)
        for table in api_models.Base.metadata.sorted_tables:
            reflected = inspector.get_pk_constraint(table.name)
            self.assertEqual(
                [c.name for c in table.primary_key.columns],
                reflected['constrained_columns'])


base.for_each_backend(ApiModelsMatchMigrationsTests, globals())


class WalkVersionsTests(walker.WalkVersionsMixin):
    """Every revision, one at a time, with hooks checking real rows."""

    def setUp(self):
        super().setUp()
        self.calls = []

    def migration(self):
        return self.make_migration(getattr(self, 'extra_versions', None))

    # -- hooks for 6a1c2e9d4b01: create tasks and task items --------------

    def _pre_upgrade_6a1c2e9d4b01(self, engine):
        self.calls.append(('pre_upgrade', first()))
        self.assertEqual([], [t for t in _tables(engine)
                              if t != 'alembic_version'])
        return {'uuid': 'c0ffee00-0000-4000-8000-000000000001'}

    def _check_6a1c2e9d4b01(self, engine, data):
        self.calls.append(('check', first()))
        created = datetime.datetime(2026, 11, 22, 13, 48, 27)
        task = dict(
            uuid=data['uuid'], action='resize', state='pending',
            request_id='req-1', user_id='ü-user', project_id='p1',
            # Four-byte UTF-8 proves utf8mb4 on MySQL.
            parameters='{"flavor": "m1.small", "note": "\U0001f680"}',
            created_at=created)
        tasks, items = _table(engine, 'tasks'), _table(engine, 'task_items')
        with _connect(engine) as connection:
            task_id = connection.execute(
                tasks.insert().values(**task)).inserted_primary_key[0]
            connection.execute(items.insert(), [
                dict(uuid=f'item-{n}', action='step', state='pending',
                     task_id=task_id, created_at=created)
                for n in range(3)])
            connection.commit()
            row = connection.execute(
                tasks.select().where(tasks.c.id == task_id)).one()
            self.assertEqual(task, {k: row._mapping[k] for k in task})
            self.assertEqual(3, _count(connection, items))

            # The foreign key holds: no item for a task that is not there.
            self.assertRaises(
                sa.exc.IntegrityError, _insert_and_commit, connection,
                items, dict(uuid='orphan', action='step', state='pending',
                            task_id=task_id + 1000, created_at=created))
            # The unique constraint on uuid holds.
            self.assertRaises(
                sa.exc.IntegrityError, _insert_and_commit, connection,
                tasks, dict(task, uuid=data['uuid']))
            # Deleting a task deletes its items (ON DELETE CASCADE).
            connection.execute(tasks.delete().where(tasks.c.id == task_id))
            connection.commit()
            self.assertEqual(0, _count(connection, items))
            # Rows for the later revisions to find.
            task_id = connection.execute(
                tasks.insert().values(**task)).inserted_primary_key[0]
            connection.execute(items.insert().values(
                uuid='kept', action='step', state='running',
                task_id=task_id, created_at=created))
            connection.commit()
        self.kept = task

    def _post_downgrade_6a1c2e9d4b01(self, engine):
        self.calls.append(('post_downgrade', first()))
        self.assertEqual([], [t for t in _tables(engine)
                              if t in ('tasks', 'task_items')])

    # -- the tests ---------------------------------------------------------

    def test_walk_versions(self):
        walked = self.walk_versions()
        self.assertEqual(
            [r.revision for expand, contract in walker.rounds(
                self.migration().script) for r in expand + contract],
            walked)
        self.assertEqual(first(), walked[0])
        self.assertEqual([('pre_upgrade', first()), ('check', first()),
                          ('post_downgrade', first())], self.calls)
        self.assertEqual(['alembic_version'], _tables(self.engine))

    def test_stairway(self):
        walked = self.walk_versions(stairway=True)
        self.assertEqual(first(), walked[0])
        # Up, down (checked), up again, and the final walk down.
        self.assertEqual([('pre_upgrade', first()), ('check', first()),
                          ('post_downgrade', first()),
                          ('post_downgrade', first())], self.calls)
        self.assertEqual(['alembic_version'], _tables(self.engine))

    def test_data_survives_later_revisions(self):
        # Three synthetic revisions on top of the real head, the third
        # taking SQLite's batch (copy and move) path on another table.
        self.extra_versions = os.path.join(self.workdir, 'extra_versions')
        os.mkdir(self.extra_versions)
        script = self.migration().script
        before = len(list(script.walk_revisions()))
        last = synthetic.write_history(self.extra_versions, 3,
                                       base.tip(script))
        found = []

        def check_last(engine, data):
            with _connect(engine) as connection:
                tasks = _table(engine, 'tasks')
                items = _table(engine, 'task_items')
                found.append(connection.execute(
                    tasks.select()).one()._mapping['parameters'])
                found.append(connection.execute(
                    sa.select(items.c.uuid, items.c.task_id)).one())
                found.append(connection.execute(
                    sa.select(tasks.c.id)).scalar_one())
        setattr(self, f'_check_{last}', check_last)

        walked = self.walk_versions(downgrade=False)
        self.assertEqual(before + 3, len(walked))
        self.assertEqual(last, walked[-1])
        self.assertEqual(self.kept['parameters'], found[0])
        self.assertEqual(('kept', found[2]), tuple(found[1]))

    def test_failing_revision_is_named_with_the_engine(self):
        self.extra_versions = os.path.join(self.workdir, 'extra_versions')
        os.mkdir(self.extra_versions)
        bad = synthetic.write_history(self.extra_versions, 1,
                                      base.tip(self.migration().script))
        # It creates a table that the first revision already created.
        _replace(self.extra_versions, bad,
                 f'    create({synthetic.table_name(1)!r})',
                 "    create('tasks')")
        error = self.assertRaises(walker.WalkError, self.walk_versions)
        self.assertIn(f'upgrade of revision {bad}', str(error))
        self.assertIn(f'on {self.engine.dialect.name}', str(error))
        self.assertIn('already exists', str(error))

    def test_failing_hook_is_named_with_the_engine(self):
        def broken_check(engine, data):
            raise AssertionError('the rows are gone')
        setattr(self, f'_check_{first()}', broken_check)
        error = self.assertRaises(walker.WalkError, self.walk_versions)
        self.assertIn(f'_check_{first()} failed for revision {first()}',
                      str(error))
        self.assertIn(f'on {self.engine.dialect.name}', str(error))
        self.assertIn('the rows are gone', str(error))

    def test_stairway_catches_a_downgrade_that_leaves_a_table(self):
        self.extra_versions = os.path.join(self.workdir, 'extra_versions')
        os.mkdir(self.extra_versions)
        bad = synthetic.write_history(self.extra_versions, 1,
                                      base.tip(self.migration().script))
        table = synthetic.table_name(1)
        _replace(self.extra_versions, bad, f'    op.drop_table({table!r})',
                 '    pass')
        error = self.assertRaises(walker.WalkError, self.walk_versions,
                                  stairway=True)
        self.assertIn(f'stairway of revision {bad}', str(error))
        self.assertIn(f'on {self.engine.dialect.name}', str(error))
        self.assertIn(f'table {table} was left behind', str(error))


base.for_each_backend(WalkVersionsTests, globals())


class MismatchIsCaughtTest(base.TestCase):
    """The models-vs-migrations test fails, on every engine, when a model
    changes without a migration (in a scratch copy of enamel)."""

    CLASSES = [f'ModelsMatchMigrations{name}'
               for name in ('SQLite', 'MySQL', 'PostgreSQL')]

    def run_sync_test(self, env, cls):
        """Run one engine's models-vs-migrations test in a child Python
        that imports the scratch copies of enamel and alembic_migrations.

        :returns: ``(outcome, detail)``: outcome is ``'ok'``, ``'skipped'``
            (detail: the reason, one line) or ``'failed'`` (detail: the
            child's output).
        """
        scratch = env['PYTHONPATH']
        name = f'{__name__}.{cls}.test_models_sync'
        # The child's working directory comes first on its path, so it is
        # the scratch directory; the repository provides the tests.
        child_env = dict(os.environ,
                         PYTHONPATH=os.pathsep.join([scratch,
                                                     base.REPO_ROOT]))
        # unittest's runner, unlike testtools', reports skips and their
        # reasons in its summary.
        result = subprocess.run(
            [sys.executable, '-m', 'unittest', '-v', name],
            cwd=scratch, env=child_env, text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        skipped = re.search(r"\.\.\. skipped '(.*)'$", result.stdout,
                            re.MULTILINE)
        if result.returncode == 0 and skipped:
            return 'skipped', skipped.group(1)
        return ('ok' if result.returncode == 0 else 'failed',
                result.stdout)

    def test_model_change_without_migration_fails_on_every_engine(self):
        env = self.scratch_environment('enamel')
        outcome, detail = self.run_sync_test(env, self.CLASSES[0])
        self.assertEqual('ok', outcome, detail)

        path = os.path.join(env['PYTHONPATH'], 'enamel', 'models.py')
        with open(path) as f:
            source = f.read()
        anchor = "        sa.Index(None, 'state'),\n"
        self.assertIn(anchor, source)
        with open(path, 'w') as f:
            f.write(source.replace(
                anchor, anchor + "        sa.Index(None, 'user_id'),\n"))

        unavailable = []
        for cls in self.CLASSES:
            outcome, detail = self.run_sync_test(env, cls)
            if outcome == 'skipped':
                # Only where a server is missing and CI is unset: under CI
                # the child fails instead, and so does this test.
                unavailable.append(detail)
                continue
            self.assertEqual('failed', outcome, f'{cls}: {detail}')
            self.assertIn("Models and migration scripts aren't in sync",
                          detail, cls)
            self.assertIn("'add_index'", detail, cls)
            self.assertIn('ix_tasks_user_id', detail, cls)
        if unavailable:
            self.skipTest('; '.join(unavailable))


def _tables(engine):
    with engine.connect() as connection:
        # The migration lock's and the progress journal's tables are no
        # revision's.
        return sorted(t for t in sa.inspect(connection).get_table_names()
                      if t not in (lock.LOCK_TABLE, journal.JOURNAL_TABLE))


def _table(engine, name):
    return sa.Table(name, sa.MetaData(), autoload_with=engine)


def _connect(engine):
    connection = engine.connect()
    if engine.dialect.name == 'sqlite':
        # SQLite enforces foreign keys only when a connection asks, outside
        # a transaction (so on the driver's connection, before any BEGIN).
        connection.connection.driver_connection.execute(
            'PRAGMA foreign_keys = ON')
    return connection


def _count(connection, table):
    return connection.execute(
        sa.select(sa.func.count()).select_from(table)).scalar_one()


def _insert_and_commit(connection, table, values):
    try:
        connection.execute(table.insert().values(**values))
        connection.commit()
    finally:
        connection.rollback()


def _replace(versions_dir, revision, old, new):
    path = os.path.join(versions_dir, f'{revision}_synthetic.py')
    with open(path) as f:
        source = f.read()
    assert old in source, (old, source)
    with open(path, 'w') as f:
        f.write(source.replace(old, new))
