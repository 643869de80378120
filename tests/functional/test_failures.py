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

"""A failing revision, and an upgrade killed midway, on every engine.

Each test writes a synthetic history into a scratch copy of the
environment and runs the real ``enamel-sync`` console script on it. The
kill tests stop the upgrade inside a revision that blocks: it announces
itself on a FIFO the test listens to, then opens a second FIFO that nobody
ever writes, so the test kills a process it knows to be midway without
guessing a delay. The kill tests run with a short lease
(``migration_lock_lease``), after which the processes waiting behind a
killed holder take the lock over; on SQLite the kernel frees the lock at
once.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from enamel import alembic_internals
from enamel import journal
from enamel import migration
from enamel import runner
from tests import base
from tests import synthetic
from tests.functional import test_commands
from tests.functional import test_concurrency

DEADLINE = 120  # seconds; a bound against hanging, not a speed target
LEASE = 3  # seconds, [database] migration_lock_lease of the kill tests
# What a waiter may take beyond the lease to take over: its polls, and a
# loaded two-core machine. A bound, not a measurement.
TAKEOVER_SLACK = 4
BEFORE_FAILURE = 5
# A run this long commits in groups of four on engines with transactional
# DDL.
LONG_RUN = 4 * runner.GROUP_PARTS + 10
# enamel-sync's main, counting the COMMITs of every connection it opens
# (SQLAlchemy's commit event, on every Engine); the count goes to stderr.
COUNTING_COMMITS = '''
import atexit, sys
import sqlalchemy as sa
from enamel.cmd import console
commits = []
sa.event.listen(sa.engine.Engine, 'commit', lambda c: commits.append(1))
atexit.register(lambda: print(f'commits: {len(commits)}', file=sys.stderr))
sys.argv[0] = 'enamel-sync'
sys.exit(console.main())
'''
BEFORE_BLOCK = 20

FAILING = 'fa11ed000001'
BLOCKING = 'b10c4ed00001'
AFTER_BLOCKING = 'af7e4b100001'

FAILING_BODY = '''\
    create('half_done')
    op.execute('INSERT INTO no_such_table (id) VALUES (1)')'''

FIXED_BODY = '''\
    create('half_done')'''

NO_DDL_BODY = '''\
    raise RuntimeError('failed before any statement')'''

# A statement MySQL commits the transaction before, other than DDL.
ANALYZE = '''\
    mysql = op.get_bind().dialect.name == 'mysql'
    op.execute('ANALYZE TABLE tasks' if mysql else 'ANALYZE tasks')
'''
ANALYZE_BODY = ANALYZE + "    raise RuntimeError('failed after ANALYZE')"
ANALYZE_FIXED_BODY = ANALYZE + FIXED_BODY

# Where DDL is transactional the table is created before blocking, to show
# that the kill rolls it back; MySQL would keep it, so it blocks first.
BLOCKING_BODY = '''\
    transactional = op.get_context().impl.transactional_ddl
    if transactional:
        create('blocked')
    fifos = os.environ.get('ENAMEL_TEST_BLOCK_FIFOS')
    if fifos:
        reached, release = fifos.split(os.pathsep)
        with open(reached, 'w') as f:
            f.write(revision)
        with open(release) as f:  # nobody writes it: wait to be killed
            f.read()
    if not transactional:
        create('blocked')'''

# Another holder takes the lease over, from a revision or an env.py
# callback (``bind``: how it reaches the migration's connection).
TAKE_THE_LEASE = '''\
    url = {bind}.engine.url.render_as_string(hide_password=False)
    other = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with other.begin() as connection:
        connection.execute(sa.text(
            "UPDATE enamel_migration_lock SET holder = 'another:1', "
            "token = token + 1"))
    other.dispose()
'''

# An env.py callback (on_version_apply) that runs a body after revision
# {revision}: the body takes the lease over as another holder would, then
# runs DDL; or it runs DDL between two reads of the lease row's heartbeat.
ENV_CALLBACK = '''

def _env_callback(ctx, step, heads, run_args):
    if step.up_revision_id != {revision!r}:
        return
'''
STEAL_THEN_CREATE = TAKE_THE_LEASE.format(bind='ctx.connection') + '''\
    ctx.connection.exec_driver_sql(
        'CREATE TABLE callback_made (id INTEGER PRIMARY KEY)')
'''
# DDL that fails once MySQL committed what was before it.
FAILING_DDL = '''\
    ctx.connection.exec_driver_sql(
        'CREATE TABLE tasks (id INTEGER PRIMARY KEY)')
'''
READ_HEARTBEAT_AROUND_DDL = '''\
    read = 'SELECT heartbeat FROM enamel_migration_lock WHERE id = 1'
    before = ctx.connection.exec_driver_sql(read).scalar()
    ctx.connection.exec_driver_sql(
        'CREATE TABLE callback_made (id INTEGER PRIMARY KEY)')
    after = ctx.connection.exec_driver_sql(read).scalar()
    import sys
    sys.stderr.write(f'heartbeat +{after - before}\\n')
'''

AFTER_BODY = '''\
    create('after_blocked')'''

# Another process takes the lease over, as a second holder would after
# this one stalled past it, then the revision goes on with its DDL.
STEALING = '57ea1e000001'
STEALING_BODY = TAKE_THE_LEASE.format(bind='op.get_bind()') + (
    "    create('stolen')")

# Cut between two statements: MySQL has committed the first one, as has
# every engine inside an autocommit block.
WAIT_FOR_KILL = '''
    fifos = os.environ.get('ENAMEL_TEST_BLOCK_FIFOS')
    if fifos:
        reached, release = fifos.split(os.pathsep)
        with open(reached, 'w') as f:
            f.write(revision)
        with open(release) as f:
            f.read()'''
HALFWAY_BODY = '''\
    create('first_half')''' + WAIT_FOR_KILL + '''
    create('second_half')'''
AUTOCOMMIT_BODY = '''\
    with op.get_context().autocommit_block():
        create('first_half')''' + WAIT_FOR_KILL.replace('\n', '\n    ') + '''
        create('second_half')'''


def reported(stderr):
    """The revisions a run's ``stderr`` says it upgraded to, in order."""
    return re.findall(r'^Upgraded to (\w+) ', stderr, re.MULTILINE)


class ScratchHistory:
    """Helpers shared by the failure and kill tests."""

    def write_revision(self, revision, down_revision, body, table, doc):
        synthetic.write_revision(
            self.versions, revision, down_revision, doc, body,
            f'    op.drop_table({table!r})', slug=table)

    def assert_lost_the_lease(self, result):
        """``result`` is a run that stopped on losing the lease, with its
        one error line; returns the revisions it reported upgraded."""
        self.assertEqual(1, result.code, result)
        self.assertIn('lost the migration lock', result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        return reported(result.stderr)

    def make_scratch(self, synthetic_count):
        self.env = self.scratch_environment()
        # A revision rewritten within the same second must not be read from
        # a stale bytecode cache.
        self.env['PYTHONDONTWRITEBYTECODE'] = '1'
        self.versions = os.path.join(self.workdir, 'scratch',
                                     'alembic_migrations', 'versions')
        return synthetic.write_history(self.versions, synthetic_count,
                                       test_commands.head())

    def sync_scratch(self, *argv, env=None):
        return self.sync_process(*argv, env=dict(self.env, **(env or {})),
                                 timeout=DEADLINE)

    def tables_at(self, count, *extra):
        """The tables a database has after synthetic revision ``count``."""
        return ({'alembic_version', 'tasks', 'task_items'} |
                synthetic.table_names(count) | set(extra))

    def fail_after_a_long_run(self, body):
        """Upgrade a history of LONG_RUN revisions and a last one, FAILING,
        whose upgrade is ``body``; check the one error line and return
        (the revision before FAILING, that line, the stored version)."""
        last = self.make_scratch(LONG_RUN)
        self.write_revision(FAILING, last, body, 'half_done', 'fails')

        result = self.sync_scratch('upgrade')

        self.assertEqual(1, result.code, result)
        error = result.stderr.splitlines()[-1]
        self.assertIn(f'revision {FAILING} failed: ', error)
        [at] = self.stored_version()
        self.assertIn(f'the database is at {at}, where a rerun starts',
                      error)
        return last, error, at

    @property
    def transactional_ddl(self):
        return self.BACKEND != 'mysql'


class FailureTests(ScratchHistory):

    def test_failing_revision_is_reported_and_leaves_a_true_version(self):
        last = self.make_scratch(BEFORE_FAILURE)
        self.write_revision(FAILING, last, FAILING_BODY, 'half_done',
                            'fails halfway')
        # Committed first, in a run of its own.
        self.assertSucceeded(
            self.sync_scratch('upgrade', synthetic.revision_id(3)))

        result = self.sync_scratch('upgrade')

        self.assertEqual(1, result.code, result)
        self.assertNotIn('Traceback', result.stderr)
        errors = [line for line in result.stderr.splitlines()
                  if line.startswith('enamel-sync: error:')]
        self.assertEqual(1, len(errors), result)
        error = errors[0]
        # The last line of stderr, naming the revision and the cause.
        self.assertEqual(error, result.stderr.splitlines()[-1])
        self.assertIn(f'revision {FAILING} failed: ', error)
        self.assertIn('no_such_table', error)
        self.assertNotIn('INSERT', error)  # one line: no SQL echoed
        # Each revision commits with its version row: revisions 4 and 5
        # stay, and the version names the last one that fully applied.
        self.assertIn('the revisions before it are committed; the database '
                      f'is at {last}, where a rerun starts', error)
        self.assertEqual([last], self.stored_version())
        if self.transactional_ddl:
            # The failed revision left no trace.
            self.assertEqual(self.tables_at(BEFORE_FAILURE), self.tables())
        else:
            # MySQL committed the failed revision's CREATE TABLE, which it
            # cannot roll back, and says so.
            self.assertIn('When a migration fails', error)
            self.assertEqual(self.tables_at(BEFORE_FAILURE, 'half_done'),
                             self.tables())
            # The documented recovery: remove what the failed revision
            # left behind before running it again.
            with self.engine.begin() as connection:
                connection.execute(sa.text('DROP TABLE half_done'))

        # Fix the revision and run again: it resumes, and the lock was
        # released by the failed run.
        self.write_revision(FAILING, last, FIXED_BODY, 'half_done', 'fixed')
        result = self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertNotIn('Waiting', result.stderr)
        self.assertIn(f'Upgraded to {FAILING}', result.stderr)
        self.assertEqual([FAILING], self.stored_version())
        self.assertEqual(self.tables_at(BEFORE_FAILURE, 'half_done'),
                         self.tables())

    def test_a_long_run_commits_in_groups(self):
        head = self.make_scratch(LONG_RUN)

        process = subprocess.run(
            [sys.executable, '-c', COUNTING_COMMITS, '--config-file',
             self.config_file, 'upgrade'], cwd=self.workdir, text=True,
            env=dict(os.environ, HOME=self.workdir, **self.env),
            stdin=subprocess.DEVNULL, capture_output=True, timeout=DEADLINE)
        result = base.Result(process.returncode, process.stdout,
                             process.stderr)

        self.assertEqual(0, result.code, result)
        self.assertEqual([head], self.stored_version())
        self.assertEqual(self.tables_at(LONG_RUN), self.tables())
        # Every revision is reported, once committed.
        self.assertEqual(LONG_RUN, result.stderr.count('Upgraded to 5e'))
        commits = int(result.stderr.split('commits: ')[-1])
        # A group holds up to a GROUP_PARTS-th of the run (four revisions
        # here): fewer COMMITs than half the revisions, the lock's and the
        # reads' included. (MySQL also commits at each DDL statement,
        # implicitly: the next test shows those commits fenced.)
        self.assertLess(commits, LONG_RUN // 2)
        # Nothing is left in flight (MySQL's rows were taken over by each
        # next revision's marker and deleted before the last COMMIT).
        with self.engine.connect() as connection:
            self.assertIsNone(journal.InFlight(1).load(connection))

    # MySQL makes the journal's table before every run; the marker's
    # takeover, which the key matters to, is MySQL's.
    @base.only_on('MySQL', 'Galera')
    def test_the_journal_is_keyed_by_statement_and_an_old_table_serves(
            self):
        head = self.make_scratch(LONG_RUN)
        # The table as enamel-sync made it before: keyed by the revision
        # too (the marker's takeover then moves the row in the index).
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f'CREATE TABLE {journal.JOURNAL_TABLE} (id INTEGER NOT '
                'NULL, operation VARCHAR(16) NOT NULL, revision '
                'VARCHAR(255) NOT NULL, statement INTEGER NOT NULL, digest '
                'VARCHAR(64) NOT NULL, PRIMARY KEY (id, operation, '
                'revision, statement)) ENGINE=InnoDB')

        self.assertSucceeded(self.sync_scratch('upgrade'))

        self.assertEqual([head], self.stored_version())
        self.assertEqual(self.tables_at(LONG_RUN), self.tables())
        with self.engine.connect() as connection:
            self.assertIsNone(journal.InFlight(1).load(connection))
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP TABLE {journal.JOURNAL_TABLE}')
        # Dropped while empty, the next run makes it keyed by the
        # database's row and the statement's position.
        self.assertSucceeded(self.sync_scratch('downgrade', '-1'))
        key = sa.inspect(self.engine).get_pk_constraint(
            journal.JOURNAL_TABLE)['constrained_columns']
        self.assertEqual(['id', 'statement'], key)

    def test_a_statement_that_commits_in_a_group_leaves_nothing_in_doubt(
            self):
        last, error, at = self.fail_after_a_long_run(ANALYZE_BODY)
        self.assertEqual(self.tables_at(int(at[2:], 16)), self.tables())
        with self.engine.connect() as connection:
            in_flight = journal.InFlight(1).load(connection)
        if self.transactional_ddl:
            self.assertIsNone(in_flight)
        else:
            # ANALYZE TABLE committed the group, fenced: the revisions
            # before it are committed, and the journal names the failed
            # revision (its ANALYZE in doubt), not one of them.
            self.assertEqual(last, at)
            self.assertIn('the revisions before it are committed', error)
            self.assertEqual(('upgrade', FAILING, []), in_flight)
        # The rerun is not refused and finishes.
        self.write_revision(FAILING, last, ANALYZE_FIXED_BODY, 'half_done',
                            'fixed')
        self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertEqual([FAILING], self.stored_version())
        self.assertEqual(self.tables_at(LONG_RUN, 'half_done'),
                         self.tables())

    def test_a_revision_failing_before_its_ddl_in_a_group_resumes(self):
        last, error, at = self.fail_after_a_long_run(NO_DDL_BODY)
        number = int(at[2:], 16)
        self.assertLessEqual(self.tables_at(number), self.tables())
        if self.tables() != self.tables_at(number):
            # MySQL committed the next revision's DDL, whose version row
            # rolled back: the report and the journal say so.
            self.assertFalse(self.transactional_ddl)
            self.assertEqual(self.tables_at(number + 1), self.tables())
            self.assertIn(
                f'but the DDL of revision {synthetic.revision_id(number + 1)}'
                ' before it committed', error)
        # The rerun resumes there and finishes.
        self.write_revision(FAILING, last, FIXED_BODY, 'half_done', 'fixed')
        self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertEqual([FAILING], self.stored_version())
        self.assertEqual(self.tables_at(LONG_RUN, 'half_done'),
                         self.tables())

    # SQLite's lock is an flock: it cannot be lost while the process lives.
    @base.only_on(*base.SERVER_TARGETS)
    def test_a_lease_lost_in_a_group_commits_nothing_after_it(self):
        last = self.make_scratch(LONG_RUN)
        self.write_revision(STEALING, last, STEALING_BODY, 'stolen',
                            'loses the lease')

        reported = self.assert_lost_the_lease(self.sync_scratch('upgrade'))

        # Its DDL never ran (MySQL's would have committed the group).
        self.assertNotIn('stolen', self.tables())
        # The version rows written before the lease was lost but not yet
        # committed rolled back with the group: the database holds exactly
        # what was reported committed, which is before the revision that
        # lost the lease.
        [stored] = self.stored_version()
        self.assertEqual(reported[-1], stored)
        self.assertNotEqual(STEALING, stored)
        number = int(stored[2:], 16)
        if self.transactional_ddl:
            self.assertEqual(self.tables_at(number), self.tables())
        else:
            # MySQL committed the DDL of the revision after it, which the
            # progress journal records as in flight.
            self.assertLessEqual(self.tables_at(number), self.tables())
            self.assertLessEqual(self.tables(), self.tables_at(number + 1))
        # Once the other holder is gone, a rerun finishes the run.
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                'UPDATE enamel_migration_lock SET holder = NULL'))
        self.write_revision(STEALING, last, "    create('stolen')", 'stolen',
                            'fixed')
        self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertEqual([STEALING], self.stored_version())
        self.assertEqual(self.tables_at(LONG_RUN, 'stolen'), self.tables())

    def add_env_callback(self, body):
        """A scratch history of three synthetic revisions whose env.py has
        an on_version_apply callback of its own, before enamel's, that
        runs ``body`` after the second one (its version row written, not
        committed: on MySQL the DDL of ``body`` commits it)."""
        self.make_scratch(3)
        env_py = os.path.join(os.path.dirname(self.versions), 'env.py')
        with open(env_py) as f:
            text = f.read()
        ours = "config.attributes.get('on_version_apply', ())"
        before = '\n\ndef _configure('
        self.assertIn(ours, text)
        self.assertIn(before, text)
        text = text.replace(ours, f'(_env_callback,) + tuple({ours})')
        with open(env_py, 'w') as f:
            f.write(text.replace(before, ENV_CALLBACK.format(
                revision=synthetic.revision_id(2)) + body + before))

    # SQLite has no lease.
    @base.only_on(*base.SERVER_TARGETS)
    def test_ddl_of_an_env_callback_commits_nothing_once_the_lease_is_lost(
            self):
        self.add_env_callback(STEAL_THEN_CREATE)

        reported = self.assert_lost_the_lease(self.sync_scratch('upgrade'))

        self.assertNotIn('callback_made', self.tables())
        self.assertEqual([synthetic.revision_id(1)], self.stored_version())
        self.assertEqual(synthetic.revision_id(1), reported[-1])

    # SQLite has no lease.
    @base.only_on(*base.SERVER_TARGETS)
    def test_ddl_of_an_env_callback_in_a_stamp_commits_nothing_once_lost(
            self):
        self.add_env_callback(STEAL_THEN_CREATE)
        self.assertSucceeded(self.sync_scratch(
            'upgrade', synthetic.revision_id(1)))

        self.assert_lost_the_lease(self.sync_scratch(
            'stamp', synthetic.revision_id(2)))

        # On MySQL the DDL would have committed the stamp's version row.
        self.assertNotIn('callback_made', self.tables())
        self.assertEqual([synthetic.revision_id(1)], self.stored_version())

    # MySQL commits the version row before the DDL runs; elsewhere the
    # failed statement rolls it back with the revision.
    @base.only_on('MySQL', 'Galera')
    def test_a_failing_env_callback_ddl_leaves_nothing_in_doubt(self):
        self.add_env_callback(FAILING_DDL)

        result = self.sync_scratch('upgrade')

        self.assertEqual(1, result.code, result)
        self.assertNotIn('Traceback', result.stderr)
        # Revision 2's version row committed before the DDL failed, and
        # its journal rows were deleted in that commit.
        self.assertEqual([synthetic.revision_id(2)], self.stored_version())
        with self.engine.connect() as connection:
            self.assertIsNone(journal.InFlight(1).load(connection))
        self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertEqual([synthetic.revision_id(3)], self.stored_version())

    # SQLite has no lease.
    @base.only_on(*base.SERVER_TARGETS)
    def test_ddl_of_an_env_callback_is_fenced_where_it_commits(self):
        self.add_env_callback(READ_HEARTBEAT_AROUND_DDL)

        result = self.assertSucceeded(self.sync_scratch('upgrade'))

        # MySQL commits the version row with the DDL: the lease row is
        # written first, in the same transaction (the fence: a write, which
        # a takeover on another Galera node conflicts with). Elsewhere the
        # DDL commits nothing.
        fenced = 0 if self.transactional_ddl else 1
        self.assertIn(f'heartbeat +{fenced}\n', result.stderr)
        self.assertIn('callback_made', self.tables())
        self.assertEqual([synthetic.revision_id(3)], self.stored_version())

    def test_a_failure_in_a_group_says_what_rolled_back_with_it(self):
        last, error, at = self.fail_after_a_long_run(FAILING_BODY)
        # The version names what is committed: a prefix of the run, no
        # further back than one group.
        number = int(at[2:], 16)
        bundled = len(list(migration.Migration(None).script.walk_revisions()))
        self.assertLessEqual(number, LONG_RUN)
        self.assertGreater(number, LONG_RUN - runner.group_size(
            bundled + LONG_RUN + 1))
        if number < LONG_RUN:
            self.assertIn(f'the {LONG_RUN - number} other revision(s) since '
                          'the last commit were rolled back with it', error)
        else:
            self.assertIn('the revisions before it are committed', error)
        extra = () if self.transactional_ddl else ('half_done',)
        self.assertEqual(self.tables_at(number, *extra), self.tables())
        if not self.transactional_ddl:
            self.assertEqual(LONG_RUN, number)

    def test_statements_committed_by_an_autocommit_block_are_reported(self):
        # A revision as autogenerate wrote them before its concurrent
        # indexes got a revision of their own: a statement in the
        # revision's transaction, then an autocommit block (which commits
        # it) that fails. The report must not say nothing was committed.
        last = self.make_scratch(BEFORE_FAILURE)
        self.write_revision(FAILING, last, FAILING_BODY.replace(
            '    op.execute', '    with op.get_context().autocommit_block():'
            '\n        op.execute'), 'half_done', 'fails in its block')
        self.assertSucceeded(self.sync_scratch('upgrade', last))

        result = self.sync_scratch('upgrade')

        self.assertEqual(1, result.code, result)
        error = result.stderr.splitlines()[-1]
        self.assertIn(f'revision {FAILING} failed: ', error)
        self.assertIn(
            'no revision of this run was committed, but its first 1 '
            'statement(s) committed outside its transaction', error)
        self.assertIn(f'the database is at {last}, where a rerun starts',
                      error)
        self.assertEqual([last], self.stored_version())
        self.assertEqual(self.tables_at(BEFORE_FAILURE, 'half_done'),
                         self.tables())
        # The rerun skips the committed statement, as the report says.
        self.write_revision(FAILING, last, FIXED_BODY, 'half_done', 'fixed')
        result = self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertIn(f'Revision {FAILING}: statement 1 committed by an '
                      'earlier run, skipped', result.stderr)
        self.assertEqual([FAILING], self.stored_version())


class ConcurrentIndexTests(ScratchHistory):

    def test_index_left_by_a_failed_build_is_built_again(self):
        # A unique index built in an autocommit block fails on duplicate
        # rows; CREATE INDEX CONCURRENTLY leaves it behind, invalid, on
        # PostgreSQL. Once the data is fixed the next upgrade must build a
        # valid index, not take "already exists" for committed.
        last = self.make_scratch(2)
        table = synthetic.table_name(2)
        self.write_revision(FAILING, last, f"""\
    with op.get_context().autocommit_block():
        op.create_index('ix_unique_name', {table!r}, ['name'], unique=True,
                        postgresql_concurrently=True)""", table,
                            'a unique index built concurrently')
        self.assertSucceeded(self.sync_scratch('upgrade', last))
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                f"INSERT INTO {table} (id, name) VALUES (1, 'a'), (2, 'a')"))

        result = self.sync_scratch('upgrade')
        self.assertEqual(1, result.code, result)
        self.assertIn(f'revision {FAILING} failed: ',
                      result.stderr.splitlines()[-1])
        with self.engine.begin() as connection:
            connection.execute(sa.text(f'DELETE FROM {table} WHERE id = 2'))

        result = self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertEqual([FAILING], self.stored_version())
        with self.engine.connect() as connection:
            indexes = {i['name']: i for i in
                       sa.inspect(connection).get_indexes(table)}
            self.assertTrue(indexes['ix_unique_name']['unique'])
            if self.BACKEND == 'postgresql':
                self.assertIn('left the index ix_unique_name invalid',
                              result.stderr)
                self.assertEqual([True], connection.execute(sa.text(
                    'SELECT i.indisvalid FROM pg_index i JOIN pg_class c '
                    "ON c.oid = i.indexrelid WHERE c.relname = "
                    "'ix_unique_name'")).scalars().all())


class LockWaitTests(ScratchHistory):

    DATABASE_OPTIONS = {'ddl_lock_timeout': 1, 'ddl_lock_retries': 1}

    # SQLite has no lock waits per statement: its writes wait for the
    # busy timeout.
    @base.only_on(*base.SERVER_TARGETS)
    def test_ddl_behind_a_long_transaction_gives_up_and_retries(self):
        self.upgrade_behind_a_long_transaction(2, 2)

    # SQLite has no lock waits per statement: its writes wait for the
    # busy timeout.
    @base.only_on(*base.SERVER_TARGETS)
    def test_retry_goes_on_after_the_revisions_the_run_committed(self):
        # Revision 2 commits in the same run before the one that waits:
        # the retry runs what is left of the plan.
        self.upgrade_behind_a_long_transaction(2, 1)

    # SQLite has no lock waits per statement: its writes wait for the
    # busy timeout.
    @base.only_on(*base.SERVER_TARGETS)
    def test_ddl_of_an_autocommit_block_gives_up_and_retries(self):
        # No transaction there: PostgreSQL's statement is watched and
        # cancelled, MySQL's session lock_wait_timeout applies.
        self.upgrade_behind_a_long_transaction(2, 2, body="""\
    with op.get_context().autocommit_block():
        op.add_column('tasks', sa.Column('locked_out', sa.Integer()))""")

    def upgrade_behind_a_long_transaction(self, count, before, body="""\
    op.add_column('tasks', sa.Column('locked_out', sa.Integer()))"""):
        """``count`` synthetic revisions and one that alters ``tasks``
        (``body``); the database upgraded to synthetic revision
        ``before``, then upgraded while a service holds a transaction on
        ``tasks``."""
        last = self.make_scratch(count)
        self.write_revision(FAILING, last, body, 'tasks',
                            'alters a table a service reads')
        self.assertSucceeded(self.sync_scratch(
            'upgrade', synthetic.revision_id(before)))
        # A service's transaction that read the table and stays open.
        with self.engine.connect() as service:
            service.execute(sa.text('SELECT * FROM tasks')).all()
            result = self.sync_scratch('upgrade')
            with contextlib.suppress(sa.exc.DBAPIError):
                service.rollback()
        if getattr(self, 'TOPOLOGY', None) == 'Galera':
            # Galera runs DDL in total order and aborts the conflicting
            # local transaction instead of waiting for it.
            self.assertSucceeded(result)
            self.assertEqual([FAILING], self.stored_version())
            return
        self.assertEqual(1, result.code, result)
        self.assertNotIn('Traceback', result.stderr)
        self.assertIn(f'Revision {FAILING} waited 1s for a lock held by '
                      'another session', result.stderr)
        self.assertIn('running it again in 1s (retry 1 of 1', result.stderr)
        error = result.stderr.splitlines()[-1]
        self.assertIn(f'revision {FAILING} failed: ', error)
        self.assertIn('open transactions: ', error)
        self.assertIn(
            'the revisions before it are committed; the database is at '
            f'{last}, where a rerun starts' if before < count else
            'no revision of this run was committed', error)
        self.assertEqual([last], self.stored_version())
        # Once the service's transaction ended, the upgrade goes through.
        result = self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertIn(f'Upgraded to {FAILING}', result.stderr)


class KillTests(ScratchHistory):

    DATABASE_OPTIONS = {'migration_lock_lease': LEASE}
    # An enamel-sync whose stderr is read line by line as it comes.
    start = test_concurrency.ConcurrencyTests.start

    def start_blocking_upgrade(self, body=BLOCKING_BODY):
        """Start ``upgrade`` and return once it is inside the blocking
        revision, every synthetic revision before it applied."""
        last = self.make_scratch(BEFORE_BLOCK)
        self.write_revision(BLOCKING, last, body, 'blocked',
                            'blocks until killed')
        self.write_revision(AFTER_BLOCKING, BLOCKING, AFTER_BODY,
                            'after_blocked', 'after the blocking one')
        process, announced, _ = self.start_blocked_upgrade(self.env,
                                                           DEADLINE)
        self.assertEqual(BLOCKING, announced)
        return process, last

    def reap(self, process):
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=DEADLINE)

    def assert_version_matches_tables(self, last):
        # Each revision before the blocking one was committed with its
        # version row; the blocking one left nothing (on MySQL it had done
        # nothing yet; elsewhere its table was rolled back).
        self.assertEqual([last], self.stored_version())
        self.assertEqual(self.tables_at(BEFORE_BLOCK), self.tables())

    def assert_next_run_completes(self):
        result = self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertIn(f'Upgraded to {AFTER_BLOCKING}', result.stderr)
        self.assertEqual([AFTER_BLOCKING], self.stored_version())
        self.assertEqual(
            self.tables_at(BEFORE_BLOCK, 'blocked', 'after_blocked'),
            self.tables())

    def release_blocking_revision(self):
        """Let the blocking revision go on (it reads its release FIFO)."""
        with open(os.path.join(self.workdir, 'release'), 'w') as fifo:
            fifo.write('go')

    def assert_first_signal_finishes_the_revision(self, signum, code,
                                                  reason):
        process, last = self.start_blocking_upgrade()
        process.send_signal(signum)
        if self.BACKEND != 'postgresql':
            self.release_blocking_revision()
        stdout, stderr = process.communicate(timeout=DEADLINE)
        self.assertEqual(code, process.returncode, stderr)
        self.assertNotIn('Traceback', stderr)
        self.assertIn(f'Upgraded to {last}', stderr)
        if self.BACKEND == 'postgresql':
            # The running statement is cancelled, the revision rolled back.
            self.assertEqual(
                f'enamel-sync: error: {reason}: stopped at once; revision '
                f'{BLOCKING} was rolled back; the database is at {last}, '
                'where a rerun starts', stderr.splitlines()[-1])
            self.assert_version_matches_tables(last)
        else:
            # The running revision finished and committed; the next one
            # never started.
            self.assertIn(f'Upgraded to {BLOCKING}', stderr)
            self.assertEqual(
                f'enamel-sync: error: {reason}: stopped before the next '
                f'revision; the database is at {BLOCKING}, where a rerun '
                'starts', stderr.splitlines()[-1])
            self.assertEqual([BLOCKING], self.stored_version())
            self.assertEqual(self.tables_at(BEFORE_BLOCK, 'blocked'),
                             self.tables())
        self.assert_next_run_completes()

    def test_first_sigterm_lets_the_running_revision_finish(self):
        self.assert_first_signal_finishes_the_revision(
            signal.SIGTERM, 143, 'terminated')

    def test_first_sigint_lets_the_running_revision_finish(self):
        self.assert_first_signal_finishes_the_revision(
            signal.SIGINT, 130, 'interrupted')

    def stop_at_once(self, process):
        """Stop ``process`` at once: SIGTERM, which does so on PostgreSQL;
        elsewhere it says that the revision finishes first, and a second
        signal (SIGINT: handled alike) stops it. Returns (the exit code
        expected, the reason, stderr)."""
        process.send_signal(signal.SIGTERM)
        seen = []
        if self.BACKEND != 'postgresql':
            for line in process.stderr:  # ends when the process does
                seen.append(line)
                if 'the running revision finishes' in line:
                    break
            process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=DEADLINE)
        stderr = ''.join(seen) + stderr
        code, reason = ((143, 'terminated') if self.BACKEND == 'postgresql'
                        else (130, 'interrupted'))
        return code, reason, stderr

    def test_second_signal_stops_at_once(self):
        process, last = self.start_blocking_upgrade()
        code, reason, stderr = self.stop_at_once(process)
        self.assertEqual(code, process.returncode, stderr)
        self.assertNotIn('Traceback', stderr)
        self.assertIn(f'Upgraded to {last}', stderr)
        self.assertNotIn(f'Upgraded to {BLOCKING}', stderr)
        self.assertTrue(stderr.splitlines()[-1].startswith(
            f'enamel-sync: error: {reason}: stopped at once'), stderr)
        self.assertTrue(stderr.splitlines()[-1].endswith(
            f'the database is at {last}, where a rerun starts'), stderr)
        self.assert_version_matches_tables(last)
        self.assert_next_run_completes()

    # A DDL statement waits for a lock a service's transaction holds: not
    # on SQLite (no lock wait per statement), nor on Galera (it aborts the
    # service's transaction instead).
    @base.only_on('MySQL', 'PostgreSQL', 'PgBouncer')
    def test_stopped_at_once_in_a_group_reports_what_committed(self):
        # A long run's group: on MySQL the waiting ALTER TABLE committed
        # the version rows before it (reported only once read back after
        # the signal); elsewhere they roll back with it.
        last = self.make_scratch(LONG_RUN)
        self.write_revision(FAILING, last, """\
    op.add_column('tasks', sa.Column('locked_out', sa.Integer()))""",
                            'tasks', 'waits for a lock')
        self.assertSucceeded(self.sync_scratch(
            'upgrade', synthetic.revision_id(1)))
        with self.engine.connect() as service, \
                self.engine.connect() as watcher:
            service.execute(sa.text('SELECT * FROM tasks')).all()
            process = self.sync_process('upgrade', env=self.env, wait=False)
            self.addCleanup(self.reap, process)
            self.wait_for_a_lock_wait(watcher, process)
            code, reason, stderr = self.stop_at_once(process)
            service.rollback()
        self.assertEqual(code, process.returncode, stderr)
        self.assertNotIn('Traceback', stderr)
        [at] = self.stored_version()
        self.assertTrue(stderr.splitlines()[-1].endswith(
            f'the database is at {at}, where a rerun starts'), stderr)
        # Every revision reported is committed, and the last one committed
        # is reported: "Upgraded to" means committed, both ways.
        self.assertEqual(at, reported(stderr)[-1], stderr)
        if not self.transactional_ddl:
            self.assertEqual(last, at)
        result = self.assertSucceeded(self.sync_scratch('upgrade'))
        self.assertIn(f'Upgraded to {FAILING}', result.stderr)
        self.assertEqual([FAILING], self.stored_version())
        self.assertEqual(self.tables_at(LONG_RUN), self.tables())

    def wait_for_a_lock_wait(self, watcher, process):
        """Return once a session of the database waits for a lock."""
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
            "'Lock' AND datname = current_database()"
            if self.BACKEND == 'postgresql' else
            "SELECT count(*) FROM information_schema.processlist WHERE "
            "state = 'Waiting for table metadata lock' AND db = DATABASE()")
        deadline = time.monotonic() + DEADLINE
        while not watcher.execute(waiting).scalar():
            watcher.rollback()
            if process.poll() is not None:
                self.fail('enamel-sync ended before its DDL waited: '
                          f'{process.communicate()[1]}')
            self.assertLess(time.monotonic(), deadline,
                            'no DDL statement ever waited for the lock')
            # Polling the server's sessions: nothing to wait on instead.
            time.sleep(0.05)

    def test_sigkill_holder_is_taken_over_within_the_lease(self):
        holder, last = self.start_blocking_upgrade()
        config_files = getattr(self, 'config_files', [self.config_file])
        # Two more, on the other nodes of a cluster, wait behind it.
        waiters = [
            self.start('upgrade', env=self.env,
                       config_file=config_files[(n + 1) % len(config_files)])
            for n in range(2)]
        for number, process in enumerate(waiters):
            self.assertTrue(process.waiting.wait(DEADLINE),
                            f'waiter {number} never said that it waits: '
                            f'{process.lines}')
        killed = time.monotonic()
        holder.kill()
        holder.communicate(timeout=DEADLINE)
        codes = [process.finish() for process in waiters]
        stderr = [process.lines for process in waiters]
        self.assertEqual([0, 0], codes, stderr)
        workers = [p for p in waiters if p.first('Upgraded to')]
        self.assertEqual(1, len(workers), stderr)
        worker = workers[0]
        self.assertIn(f'Upgraded to {AFTER_BLOCKING}',
                      ' '.join(worker.lines))
        if self.BACKEND == 'sqlite':
            took_over = worker.first('Upgraded to')
            bound = TAKEOVER_SLACK
        else:
            took_over = worker.first('Took over the migration lock')
            self.assertIsNotNone(took_over, worker.lines)
            bound = LEASE + TAKEOVER_SLACK
        self.assertLess(took_over - killed, bound, worker.lines)
        self.assertEqual([AFTER_BLOCKING], self.stored_version())
        self.assertEqual(
            self.tables_at(BEFORE_BLOCK, 'blocked', 'after_blocked'),
            self.tables())

    def assert_cut_revision_resumes(self, body, committed):
        process, last = self.start_blocking_upgrade(body)
        process.kill()
        process.communicate(timeout=DEADLINE)
        self.assertEqual([last], self.stored_version())
        # What the cut revision committed stays: the rerun finishes it
        # instead of failing on "already exists", without a human.
        self.assertEqual(self.tables_at(BEFORE_BLOCK, *committed),
                         self.tables())
        result = self.assertSucceeded(self.sync_scratch('upgrade'))
        if committed:
            self.assertIn(f'Resuming revision {BLOCKING}', result.stderr)
        self.assertIn(f'Upgraded to {AFTER_BLOCKING}', result.stderr)
        self.assertEqual([AFTER_BLOCKING], self.stored_version())
        self.assertEqual(
            self.tables_at(BEFORE_BLOCK, 'first_half', 'second_half',
                           'after_blocked'), self.tables())
        self.assertEqual([], self.journal_rows())

    def journal_rows(self):
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(journal.JOURNAL_TABLE):
                return []
            return connection.execute(sa.text(
                f'SELECT * FROM {journal.JOURNAL_TABLE}')).all()

    def test_sigkill_between_two_statements_resumes(self):
        self.assert_cut_revision_resumes(
            HALFWAY_BODY, () if self.transactional_ddl else ('first_half',))

    def test_sigkill_inside_an_autocommit_block_resumes(self):
        # enamel begins SQLite's transactions itself (enamel.db): there the
        # block is one more transaction, rolled back.
        self.assert_cut_revision_resumes(
            AUTOCOMMIT_BODY, () if self.BACKEND == 'sqlite' else (
                'first_half',))

    # MySQL commits a cut revision's first DDL statement (elsewhere only
    # an autocommit_block's statements do).
    @base.only_on('MySQL', 'Galera')
    def test_a_cut_revision_resumes_before_one_ordered_ahead_of_it(self):
        process, last = self.start_blocking_upgrade(HALFWAY_BODY)
        process.kill()
        process.communicate(timeout=DEADLINE)
        # Written since: a branch of its own from the cut revision's
        # parent, which alembic runs first (its journal rows would meet
        # the cut revision's).
        other = self.branch_planned_before(last, BLOCKING)

        result = self.assertSucceeded(self.sync_scratch('upgrade', 'heads'))

        self.assertIn(f'Resuming revision {BLOCKING}', result.stderr)
        self.assertEqual(sorted([AFTER_BLOCKING, other]),
                         sorted(self.stored_version()))
        self.assertEqual(
            self.tables_at(BEFORE_BLOCK, 'first_half', 'second_half',
                           'after_blocked', 'other_branch'), self.tables())
        self.assertEqual([], self.journal_rows())

    def branch_planned_before(self, parent, revision):
        """Write a revision on ``parent`` (creating ``other_branch``) whose
        id alembic's plan of ``upgrade heads`` from ``parent`` puts before
        ``revision``; its id."""
        from alembic.script import ScriptDirectory

        for other in ('0a0000000001', 'fa0000000001', 'c00000000001',
                      '5a0000000001'):
            self.write_revision(other, parent, "    create('other_branch')",
                                'other_branch', 'another branch')
            script = ScriptDirectory(
                os.path.dirname(self.versions),
                version_locations=[self.versions])
            order = [step.revision.revision for step in
                     alembic_internals.upgrade_steps(script, 'heads',
                                                     (parent,))]
            if order.index(other) < order.index(revision):
                return other
            os.remove(script.get_revision(other).path)
        self.fail(f'alembic planned no candidate before {revision}')

    def test_sigkill_midway_leaves_a_true_version(self):
        process, last = self.start_blocking_upgrade()
        process.kill()
        stdout, stderr = process.communicate(timeout=DEADLINE)
        self.assertEqual(-signal.SIGKILL, process.returncode)
        self.assertIn(f'Upgraded to {last}', stderr)
        self.assert_version_matches_tables(last)
        self.assert_next_run_completes()


base.for_each_backend(FailureTests, globals(), topologies=True)
base.for_each_backend(KillTests, globals(), topologies=True)
base.for_each_backend(LockWaitTests, globals(), topologies=True)
base.for_each_backend(ConcurrentIndexTests, globals(), topologies=True)
