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

"""Several enamel-sync processes at once, and the migration lock's timeout.

The race runs real ``enamel-sync upgrade`` processes over a synthetic
history written into a scratch copy of the environment. The test holds the
migration lock itself (with :func:`enamel.lock.migration_lock`, as another
enamel-sync would) until every process has said that it waits, so the
eight of them are guaranteed to overlap however slowly they start, and
then lets them race for it. On a Galera cluster the processes are spread
over the three nodes, and the race runs three times, each on a fresh
database; through PgBouncer likewise three times.
"""

import collections
import compileall
import contextlib
import os
import re
import subprocess
import threading
import time

import sqlalchemy as sa

from enamel import exception
from enamel import heads_file
from enamel import lock
from enamel import migration
from tests import base
from tests import synthetic
from tests.functional import test_commands

PROCESSES = 8
SYNTHETIC_REVISIONS = 40
DEADLINE = 240  # seconds; a bound against hanging, not a speed target
UPGRADED = re.compile(r'^Upgraded to (\S+) ')
TOPOLOGY_RUNS = 3  # races in a row on Galera and PgBouncer
INDEXED = 'c1c000000001'
INDEX_BODY = """\
    create('indexed')
    op.execute("INSERT INTO indexed (id, name) VALUES (1, 'a'), (2, 'b')")"""
CONCURRENT_INDEX_BODY = """\
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    with op.get_context().autocommit_block():
        op.create_index('ix_indexed_name', 'indexed', ['name'],
                        postgresql_concurrently=True)"""


class Process:
    """A running enamel-sync whose stderr is read line by line as it comes,
    so that the test can wait for a line without sleeping."""

    def __init__(self, args, env, cwd):
        self.popen = subprocess.Popen(
            args, cwd=cwd, env=env, text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self.times = []  # time.monotonic() when each line was read
        self.waiting = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.popen.stderr:
            self.times.append(time.monotonic())
            self.lines.append(line.rstrip('\n'))
            if line.startswith('Waiting up to'):
                self.waiting.set()
        self.popen.stderr.close()

    def first(self, prefix):
        """When the first line starting with ``prefix`` was read (None:
        never)."""
        for when, line in zip(self.times, self.lines):
            if line.startswith(prefix):
                return when
        return None

    def finish(self):
        code = self.popen.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        return code

    def stop(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


class ConcurrencyTests:

    def start(self, *argv, config_file=None, env=None):
        args = [base.enamel_sync_executable(), '--config-file',
                config_file or self.config_file] + list(argv)
        process_env = dict(os.environ, HOME=self.workdir)
        process_env.pop('OS_DATABASE__CONNECTION', None)
        process_env.update(env or {})
        process = Process(args, process_env, self.workdir)
        self.addCleanup(process.stop)
        return process

    @contextlib.contextmanager
    def holding_the_lock(self):
        """Take the migration lock as another enamel-sync would."""
        conf = self.load_conf()
        conf.set_override('migration_lock_timeout', 0, group='database')
        with lock.migration_lock(self.engine, conf):
            yield

    def start_waiting(self, count, env):
        """Start ``count`` upgrades, spread over the ways in (the nodes of
        a cluster), while holding the lock; return once each says that it
        waits, the lock released."""
        config_files = getattr(self, 'config_files', [self.config_file])
        with self.holding_the_lock():
            processes = [
                self.start('upgrade', env=env,
                           config_file=config_files[n % len(config_files)])
                for n in range(count)]
            for number, process in enumerate(processes):
                self.assertTrue(
                    process.waiting.wait(DEADLINE),
                    f'process {number} never said that it waits: '
                    f'{process.lines}')
        return processes

    def assert_nothing_left_locked(self, env):
        """The lock row is free, no session holds a lock in the database,
        and the next run neither waits nor has work to do."""
        if self.BACKEND != 'sqlite':
            self.assertIsNone(self.lock_row()['holder'])
        if self.BACKEND == 'postgresql':
            with self.engine.connect() as connection:
                held = connection.execute(sa.text(
                    'SELECT l.locktype, l.mode FROM pg_locks l JOIN '
                    'pg_database d ON d.oid = l.database WHERE d.datname = '
                    'current_database() AND l.pid <> pg_backend_pid()'
                )).all()
            self.assertEqual([], held)
        started = time.monotonic()
        result = self.assertSucceeded(self.sync_process('upgrade', env=env))
        self.assertNotIn('Waiting', result.stderr)
        self.assertIn('Nothing to do', result.stderr)
        self.assertLess(time.monotonic() - started, 30, result)

    def test_eight_concurrent_upgrades_run_each_migration_once(self):
        env = self.scratch_environment()
        versions = os.path.join(self.workdir, 'scratch',
                                'alembic_migrations', 'versions')
        head = synthetic.write_history(versions, SYNTHETIC_REVISIONS,
                                       test_commands.head())
        # As "enamel-sync revision" leaves it: the processes that find the
        # work done recognise the head through the HEADS file.
        heads_file.write(versions)
        expected = [test_commands.head()] + [
            synthetic.revision_id(n)
            for n in range(1, SYNTHETIC_REVISIONS + 1)]
        # Compiled once here rather than by each of the eight processes.
        compileall.compile_dir(versions, quiet=1)
        runs = TOPOLOGY_RUNS if self.TOPOLOGY else 1
        for run in range(runs):
            if run:
                self.use_new_database()
            self.race(env, head, expected)

    def race(self, env, head, expected):
        processes = self.start_waiting(PROCESSES, env)
        # All eight wait; the lock is free now and they race for it.
        codes = [process.finish() for process in processes]
        stderr = [process.lines for process in processes]

        self.assertEqual([0] * PROCESSES, codes, stderr)
        applied = collections.Counter(
            match.group(1) for lines in stderr for line in lines
            for match in [UPGRADED.match(line)] if match)
        # Every revision ran, and none ran twice.
        self.assertEqual(collections.Counter(expected), applied)
        # One process did all the work; the others waited, read the
        # version again and found nothing to do.
        workers = [lines for lines in stderr
                   if any(UPGRADED.match(line) for line in lines)]
        self.assertEqual(1, len(workers), stderr)
        idle = [lines for lines in stderr if lines not in workers]
        self.assertEqual(PROCESSES - 1, len(idle))
        for lines in idle:
            self.assertIn(f'Nothing to do: the database is at {head}', lines)
        for lines in stderr:
            self.assertFalse([line for line in lines if 'error' in line],
                             lines)
        self.assertEqual([head], self.stored_version())
        self.assertEqual(
            {'alembic_version', 'tasks', 'task_items'} |
            synthetic.table_names(SYNTHETIC_REVISIONS),
            self.tables())
        self.assert_nothing_left_locked(env)

    @base.only_on(*base.POSTGRESQL_TARGETS)  # CREATE INDEX CONCURRENTLY
    def test_concurrent_upgrades_with_an_index_built_concurrently(self):
        env = self.scratch_environment()
        versions = os.path.join(self.workdir, 'scratch',
                                'alembic_migrations', 'versions')
        last = synthetic.write_history(versions, 3, test_commands.head())
        synthetic.write_revision(
            versions, INDEXED, last, 'a table to index', INDEX_BODY,
            "    op.drop_table('indexed')", slug='indexed')
        synthetic.write_revision(
            versions, 'c1c000000002', INDEXED, 'index it concurrently',
            CONCURRENT_INDEX_BODY,
            "    op.drop_index('ix_indexed_name', table_name='indexed')",
            slug='index_concurrently')
        # The two that lose the race wait while the index is built.
        processes = self.start_waiting(3, env)
        codes = [process.finish() for process in processes]
        stderr = [process.lines for process in processes]
        self.assertEqual([0, 0, 0], codes, stderr)
        applied = [match.group(1) for lines in stderr for line in lines
                   for match in [UPGRADED.match(line)] if match]
        self.assertEqual(1, applied.count('c1c000000002'), stderr)
        self.assertEqual(['c1c000000002'], self.stored_version())
        with self.engine.connect() as connection:
            valid = connection.execute(sa.text(
                'SELECT indisvalid FROM pg_index WHERE indexrelid = '
                "'ix_indexed_name'::regclass")).scalar()
        self.assertIs(True, valid)
        self.assert_nothing_left_locked(env)

    def test_quiet_lock_timeout_says_only_the_error(self):
        config_file = self.write_config(self.url, name='timeout.conf',
                                        migration_lock_timeout=1)
        with self.holding_the_lock():
            result = self.sync_process('-q', 'upgrade',
                                       config_file=config_file)
        self.assertEqual(1, result.code, result)
        self.assertEqual(
            'enamel-sync: error: gave up after 1s waiting for the migration '
            'lock held by another enamel-sync process ([database] '
            'migration_lock_timeout)\n', result.stderr)

    def test_lock_timeout_gives_up_with_a_clear_error(self):
        config_file = self.write_config(self.url, name='timeout.conf',
                                        migration_lock_timeout=1)
        with self.holding_the_lock():
            result = self.sync_process('upgrade', config_file=config_file)
        self.assertEqual(1, result.code, result)
        lines = result.stderr.splitlines()
        self.assertEqual(2, len(lines), result)
        self.assertIn('Waiting up to 1s for the migration lock', lines[0])
        self.assertEqual(
            'enamel-sync: error: gave up after 1s waiting for the migration '
            'lock held by another enamel-sync process ([database] '
            'migration_lock_timeout)', lines[1])
        self.assertNotIn('Traceback', result.stderr)
        # Nothing was changed.
        self.assertEqual([], self.stored_version())
        self.assertEqual(set(), self.tables())
        # And the lock was given back: the next run neither waits nor fails.
        result = self.assertSucceeded(self.sync(
            'upgrade', config_file=config_file))
        self.assertNotIn('Waiting', result.stderr)
        self.assertEqual([test_commands.head()], self.stored_version())

    def test_zero_timeout_does_not_wait_for_any_writing_command(self):
        self.assertSucceeded(self.sync('upgrade'))
        config_file = self.write_config(self.url, name='nowait.conf',
                                        migration_lock_timeout=0)
        with self.holding_the_lock():
            for argv in (['upgrade'], ['upgrade', '--expand'],
                         ['upgrade', '--contract'], ['downgrade', 'base'],
                         ['stamp', 'base']):
                result = self.sync(*argv, config_file=config_file)
                self.assertEqual(1, result.code, (argv, result))
                self.assertEqual(
                    'enamel-sync: error: gave up after 0s waiting for the '
                    'migration lock held by another enamel-sync process '
                    '([database] migration_lock_timeout)\n', result.stderr,
                    argv)
            # Reading commands take no lock.
            self.assertSucceeded(self.sync('version', config_file=config_file))
        self.assertEqual([test_commands.head()], self.stored_version())
        self.assertEqual({'alembic_version', 'tasks', 'task_items'},
                         self.tables())

    def test_zero_timeout_does_not_wait_in_a_branched_history(self):
        # The rolling-upgrade layout (a first "revision --expand"),
        # applied: every phase has nothing to do, and each writing command
        # still takes the lock before it says so, as in a linear history.
        env = self.scratch_environment('enamel')
        self.assertSucceeded(self.sync_process('upgrade', env=env))
        self.assertSucceeded(self.sync_process(
            'revision', '--expand', '-m', 'start the branches', env=env))
        self.assertSucceeded(self.sync_process('upgrade', env=env))
        version = sorted(self.stored_version())
        self.assertEqual(2, len(version))
        config_file = self.write_config(self.url, name='nowait.conf',
                                        migration_lock_timeout=0)
        with self.holding_the_lock():
            for argv in (['upgrade'], ['upgrade', 'heads'],
                         ['upgrade', '--expand'], ['upgrade', '--contract'],
                         ['downgrade', 'base'], ['stamp', 'base']):
                result = self.sync_process(*argv, config_file=config_file,
                                           env=env)
                self.assertEqual(1, result.code, (argv, result))
                self.assertEqual(
                    'enamel-sync: error: gave up after 0s waiting for the '
                    'migration lock held by another enamel-sync process '
                    '([database] migration_lock_timeout)\n', result.stderr,
                    argv)
            # The Python API, with the scratch revisions added by a
            # configure callback.
            migrate = migration.Migration(self.load_conf(config_file))
            self.addCleanup(migrate.engine.dispose)

            @migrate.configure
            def scratch_revisions(config):
                config.set_main_option('version_locations', os.path.join(
                    env['PYTHONPATH'], 'alembic_migrations', 'versions'))
                return config
            for upgrade in (migrate.upgrade, migrate.upgrade_expand,
                            migrate.upgrade_contract):
                self.assertRaises(exception.LockTimeout, upgrade)
        self.assertEqual(version, sorted(self.stored_version()))
        # Free again: the same run finds nothing to do, without waiting.
        result = self.assertSucceeded(self.sync_process(
            'upgrade', config_file=config_file, env=env))
        said = re.fullmatch(r'Nothing to do: the database is at (.+)\n',
                            result.stderr)
        self.assertIsNotNone(said, result)
        self.assertEqual(version, sorted(said.group(1).split(', ')))


base.for_each_backend(ConcurrencyTests, globals(), topologies=True)
