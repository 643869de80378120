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

"""Fault injection: ``enamel-sync upgrade`` broken the way deploys break it.

For each fault and each target where it applies, several trials: a fresh
database, a scratch history of revisions of three DDL statements each (a
table, a column, an index: MySQL commits each one), an ``upgrade`` hit by
the fault at a random moment, then the next ``upgrade`` with no human in
between. A trial is *consistent* when that next run exits 0 and

- the schema (tables, columns, indexes) equals a clean upgrade's,
- the version table names the head, and the progress journal is empty,
- the lease row is free,
- and neither run printed a traceback or an "unexpected error".

Faults: ``kill9`` (SIGKILL), ``sigterm``, ``sigint``, ``sigstop`` (the
holder frozen past its lease while a second upgrader takes over, then
resumed: it must commit nothing more), ``pooler-restart`` (the suite's OWN
PgBouncer, on port 6433, restarted under the upgrade), ``server-restart``
(the suite's own PostgreSQL or MariaDB server stopped, fast or as a crash,
and started again), ``node-kill`` (``kill -9`` of the Galera node the
upgrade uses, in the suite's own cluster; the next upgrade runs on another
node or on the rejoined one, and all three nodes are judged) and
``metadata-lock`` (another session's transaction on a table the next
revision alters, held past the DDL lock wait, then ended; a failed run
must name what the database holds). Targets: sqlite, mysql
(127.0.0.1:3306), postgresql (:5432), galera (:13306, a node of
tools/galera.sh's cluster), pgbouncer (:6432), and the suite's own servers
(tools/own_servers.py): own-postgresql (:5442), own-mariadb (:3316),
own-galera (:23306-23308). Only enamel-sync processes and the suite's own
servers are killed or restarted: the shared servers are not.

Prints one line per fault and target, ``kill9 mysql: 10/10 consistent``,
and exits 1 when any trial was not. ``--short`` is CI's version (two
trials of each, fewer pairs); run with PYTHONPATH at the checkout (it
imports tests.synthetic): ``tox -e faults``. ``--revisions 120`` runs a
history long enough that PostgreSQL and SQLite commit its revisions in
groups (see "How revisions commit" in the operator guide).
"""

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import sqlalchemy as sa

from enamel import journal
from enamel import lock
from enamel import migration
from tests import synthetic

import own_servers  # tools/, beside this script
import scratch_database  # tools/, beside this script

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = 'openstack_citest'
SERVERS = {
    'mysql': ('mysql+pymysql', 3306, 3306),
    'postgresql': ('postgresql+psycopg', 5432, 5432),
    'galera': ('mysql+pymysql', 13306, 13306),
    'pgbouncer': ('postgresql+psycopg', 6432, 5432),
    'own-pgbouncer': ('postgresql+psycopg', 6433, 5432),
    'own-postgresql': ('postgresql+psycopg', 5442, 5442),
    'own-mariadb': ('mysql+pymysql', 3316, 3316),
    'own-galera': ('mysql+pymysql', 23306, 23306),
}
OWN_SERVERS = {
    'own-postgresql': own_servers.PostgreSQL,
    'own-mariadb': own_servers.MariaDB,
    'own-galera': own_servers.Galera,
}
OWN_PGBOUNCER_DIR = os.path.join(tempfile.gettempdir(),
                                 'enamel-faults-pgbouncer')
LEASE = 3  # seconds: [database] migration_lock_lease of every trial
REVISIONS = 24
DEADLINE = 180  # seconds for one enamel-sync run: a bound, not a target

FAULTS = {
    'kill9': ('sqlite', 'mysql', 'postgresql', 'galera', 'pgbouncer'),
    'sigterm': ('sqlite', 'mysql', 'postgresql', 'galera', 'pgbouncer'),
    'sigint': ('sqlite', 'mysql', 'postgresql'),
    'sigstop': ('mysql', 'postgresql', 'galera', 'pgbouncer'),
    'pooler-restart': ('own-pgbouncer',),
    'server-restart': ('own-postgresql', 'own-mariadb'),
    'node-kill': ('own-galera',),
    'metadata-lock': ('mysql', 'postgresql', 'galera', 'pgbouncer'),
}
SHORT = {
    'kill9': ('sqlite', 'mysql', 'postgresql', 'galera', 'pgbouncer'),
    'sigterm': ('mysql', 'postgresql'),
    'sigint': ('mysql',),
    'sigstop': ('mysql', 'postgresql'),
    'pooler-restart': ('own-pgbouncer',),
    'server-restart': ('own-postgresql', 'own-mariadb'),
    'node-kill': ('own-galera',),
    'metadata-lock': ('postgresql',),
}
# The exit codes a fault may leave the run it hits with (documented in
# failures.rst); the older faults' are the signals'.
EXIT_CODES = {
    'server-restart': (0, 1),
    'node-kill': (0, 1),
    'metadata-lock': (0, 1),
}
# The metadata-lock fault's DDL lock wait: [database] ddl_lock_timeout and
# ddl_lock_retries, a run gives up after about 1 + 1 + 1 seconds.
DDL_LOCK = {'ddl_lock_timeout': 1, 'ddl_lock_retries': 1}
HOLD = (0.5, 6)  # seconds the other session holds its lock: either side

BODY = '''\
    create({table!r})
    op.add_column({table!r}, sa.Column('extra', sa.Integer()))
    op.create_index('ix_{table}_extra', {table!r}, ['extra'])'''
# Every third revision of the plain history runs part of its work in an
# autocommit block (outside the revision's transaction, on every engine):
# a fault there leaves a statement committed before the version row.
AUTOCOMMIT_BODY = '''\
    create({table!r})
    with op.get_context().autocommit_block():
        op.add_column({table!r}, sa.Column('extra', sa.Integer()))
    op.create_index('ix_{table}_extra', {table!r}, ['extra'])'''
DOWN = '''\
    op.drop_table({table!r})'''
# The metadata-lock fault's history: each revision alters a table that
# exists before the upgrade (tasks, the bundled history's), which another
# session can hold; every other one in an autocommit block (outside any
# transaction: PostgreSQL bounds its wait another way).
TASKS_BODY = '''\
    create({table!r})
    op.add_column('tasks', sa.Column('{table}', sa.Integer()))
    op.create_index('ix_{table}_name', {table!r}, ['name'])'''
TASKS_AUTOCOMMIT_BODY = '''\
    create({table!r})
    with op.get_context().autocommit_block():
        op.add_column('tasks', sa.Column('{table}', sa.Integer()))
    op.create_index('ix_{table}_name', {table!r}, ['name'])'''
TASKS_DOWN = '''\
    op.drop_column('tasks', {table!r})
    op.drop_table({table!r})'''
# name -> (bodies, taken in turn by the revisions, downgrade)
HISTORIES = {'plain': ((BODY, BODY, AUTOCOMMIT_BODY), DOWN),
             'tasks': ((TASKS_BODY, TASKS_AUTOCOMMIT_BODY), TASKS_DOWN)}
FAULT_HISTORY = {'metadata-lock': 'tasks'}
FAULT_OPTIONS = {'metadata-lock': DDL_LOCK}
REPORT = re.compile(r'the database is at (.*), where a rerun starts')


class Target(scratch_database.ScratchDatabase):
    """A throwaway database on one target, made fresh for each trial."""

    def __init__(self, name, workdir):
        self.name = name
        self.workdir = workdir
        self.database = f'enamel_faults_{uuid.uuid4().hex[:8]}'
        if name == 'sqlite':
            path = os.path.join(workdir, 'faults.sqlite')
            super().__init__(f'sqlite:///{path}')
            return
        driver, port, admin_port = SERVERS[name]
        admin_db = USER if driver.startswith('mysql') else 'postgres'
        super().__init__(
            f'{driver}://{USER}:{USER}@127.0.0.1:{port}/{self.database}',
            f'{driver}://{USER}:{USER}@127.0.0.1:{admin_port}/{admin_db}',
            self.database)

    def engine(self, port=None):
        """An engine on the server itself (not through a pooler), or on
        the Galera node at ``port``."""
        url = self.url
        if self.name in ('pgbouncer', 'own-pgbouncer'):
            url = url.replace(f':{SERVERS[self.name][1]}/', ':5432/')
        if port:
            url = self.node_url(port)
        return sa.create_engine(url, poolclass=sa.pool.NullPool)

    def node_url(self, port):
        return self.url.replace(f':{SERVERS[self.name][1]}/', f':{port}/')

    def snapshot(self, port=None):
        """(schema, version rows, journal rows, lease holder)."""
        engine = self.engine(port)
        try:
            with engine.connect() as connection:
                if 'galera' in self.name:
                    # Causal reads, as enamel's own on Galera: a node that
                    # just rejoined may still be applying what the cluster
                    # committed; what it holds once it has is judged.
                    connection.exec_driver_sql(
                        'SET SESSION wsrep_sync_wait = 15')
                inspector = sa.inspect(connection)
                own = {lock.LOCK_TABLE, journal.JOURNAL_TABLE,
                       'alembic_version'}
                schema = {}
                for table in sorted(inspector.get_table_names()):
                    if table in own:
                        continue
                    schema[table] = (
                        sorted(c['name'] for c in
                               inspector.get_columns(table)),
                        sorted(i['name'] for i in
                               inspector.get_indexes(table)))
                names = inspector.get_table_names()
                version = sorted(connection.exec_driver_sql(
                    'SELECT version_num FROM alembic_version').scalars()) if (
                        'alembic_version' in names) else []
                rows = connection.exec_driver_sql(
                    f'SELECT COUNT(*) FROM {journal.JOURNAL_TABLE}'
                ).scalar() if journal.JOURNAL_TABLE in names else 0
                holder = connection.exec_driver_sql(
                    f'SELECT holder FROM {lock.LOCK_TABLE} WHERE id = 1'
                ).scalar() if lock.LOCK_TABLE in names else None
        finally:
            engine.dispose()
        return schema, version, rows, holder


class Run:
    """A running enamel-sync whose stderr is read as it comes."""

    def __init__(self, args, env, cwd):
        self.popen = subprocess.Popen(
            args, env=env, cwd=cwd, text=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.popen.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)  # the end
            self.changed.notify_all()

    def applied(self, count):
        """Wait until ``count`` revisions were applied or the run ended
        (bounded by DEADLINE)."""
        def reached():
            done = sum(1 for x in self.lines if x and x.startswith(
                'Upgraded to'))
            return done >= count or None in self.lines
        with self.changed:
            self.changed.wait_for(reached, timeout=DEADLINE)

    def poll(self):
        return self.popen.poll()

    def send_signal(self, number):
        self.popen.send_signal(number)

    def finish(self):
        try:
            self.popen.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            self.reader.join(DEADLINE)
            return None, ''.join(x for x in self.lines if x) + (
                '\n(killed: ran past the deadline)')
        self.reader.join(DEADLINE)
        return self.popen.returncode, ''.join(x for x in self.lines if x)


class Suite:

    def __init__(self, workdir, seed, trials, verbose, revisions=REVISIONS):
        self.workdir = workdir
        self.revisions = revisions
        self.random = random.Random(seed)
        self.trials = trials
        self.verbose = verbose
        self.histories = {}  # name -> (environment of enamel-sync, head)
        self.clean = {}  # (target name, history) -> (schema, seconds)
        self.resumed = 0  # next runs that finished a revision cut midway
        self.own = {}  # target name -> its own_servers server, started
        self.executable = os.path.join(os.path.dirname(sys.executable),
                                       'enamel-sync')
        if not os.path.exists(self.executable):
            self.executable = shutil.which('enamel-sync')

    def history(self, name):
        """The environment running a scratch history ``name`` (of
        :data:`HISTORIES`), and its head."""
        if name not in self.histories:
            scratch = os.path.join(self.workdir, f'scratch-{name}')
            copy = os.path.join(scratch, 'alembic_migrations')
            shutil.copytree(
                os.path.join(REPO_ROOT, 'alembic_migrations'), copy,
                ignore=shutil.ignore_patterns('__pycache__'))
            versions = os.path.join(copy, 'versions')
            previous = migration.Migration(None).script.get_current_head()
            bodies, down = HISTORIES[name]
            for number in range(1, self.revisions + 1):
                revision = synthetic.revision_id(number)
                table = synthetic.table_name(number)
                body = bodies[number % len(bodies)]
                synthetic.write_revision(
                    versions, revision, previous, f'faults {number}',
                    body.format(table=table), down.format(table=table))
                previous = revision
            env = dict(os.environ, PYTHONPATH=scratch,
                       PYTHONDONTWRITEBYTECODE='1', HOME=self.workdir)
            env.pop('OS_DATABASE__CONNECTION', None)
            self.histories[name] = (env, previous)
        return self.histories[name]

    def config(self, target, url=None, options=None):
        path = os.path.join(self.workdir, f'{target.name}.conf')
        with open(path, 'w') as f:
            f.write(f'[database]\nconnection = {url or target.url}\n'
                    f'migration_lock_lease = {LEASE}\n'
                    'migration_lock_timeout = 120\n')
            for name, value in (options or {}).items():
                f.write(f'{name} = {value}\n')
        return path

    def start(self, target, url=None):
        """Start ``upgrade`` of the trial's history (with its options) on
        ``target``, or at ``url``."""
        history, options = self.setting
        env, _ = self.history(history)
        return Run([self.executable, '--config-file',
                    self.config(target, url, options), 'upgrade'],
                   env, self.workdir)

    def finish(self, process):
        return process.finish()

    def wait_for_moment(self, process, at):
        """Return at the fault's moment: ``at`` = (revisions, seconds):
        once the run has applied that many revisions, that much later."""
        revisions, seconds = at
        process.applied(revisions)
        time.sleep(seconds)

    def baseline(self, target):
        key = (target.name, self.setting[0])
        if key not in self.clean:
            target.fresh()
            process = self.start(target)
            process.applied(1)
            started = time.monotonic()
            code, stderr = self.finish(process)
            if code != 0:
                raise SystemExit(f'faults: a clean upgrade on {target.name} '
                                 f'failed: {stderr.strip()[-300:]}')
            self.clean[key] = (target.snapshot()[0],
                               time.monotonic() - started)
        return self.clean[key]

    # -- the faults ----------------------------------------------------------

    def kill9(self, target, at):
        return self._signal(target, at, [signal.SIGKILL])

    def sigterm(self, target, at):
        return self._signal(target, at, [signal.SIGTERM])

    def sigint(self, target, at):
        return self._signal(target, at, [signal.SIGINT])

    def _signal(self, target, at, signals):
        process = self.start(target)
        self.wait_for_moment(process, at)
        for number in signals:
            if process.poll() is None:
                process.send_signal(number)
        return [self.finish(process)]

    def sigstop(self, target, at):
        holder = self.start(target)
        self.wait_for_moment(holder, at)
        if holder.poll() is not None:
            return [self.finish(holder)]
        holder.send_signal(signal.SIGSTOP)
        taker = self.start(target)  # takes over after the lease
        outcome = self.finish(taker)
        holder.send_signal(signal.SIGCONT)
        return [outcome, self.finish(holder)]

    def pooler_restart(self, target, at):
        process = self.start(target)
        self.wait_for_moment(process, at)
        pidfile = os.path.join(OWN_PGBOUNCER_DIR, 'pgbouncer.pid')
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGTERM)  # PgBouncer: immediate shutdown
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        own_pgbouncer()
        return [self.finish(process)]

    def server_restart(self, target, at):
        """The suite's own server stopped (``fast``: sessions ended, or
        ``immediate``: a crash), down for up to 3 seconds, started
        again."""
        process = self.start(target)
        self.wait_for_moment(process, at)
        mode = self.random.choice(('fast', 'immediate'))
        down = self.random.uniform(0, 3)
        server = self.own[target.name]
        server.stop(mode)
        time.sleep(down)  # the fault's length, not a synchronisation
        server.start()
        self.note = f'{mode} stop, down {down:.1f}s'
        outcome = self.finish(process)
        self.report = target.snapshot()[1]
        return [outcome]

    def node_kill(self, target, at):
        """``kill -9`` of the Galera node the upgrade runs on (node 1).
        Either it rejoins and the next upgrade runs on it, or the next
        upgrade runs on node 2 and node 1 rejoins after; all three nodes
        are judged."""
        galera = self.own[target.name]
        process = self.start(target)
        self.wait_for_moment(process, at)
        galera.kill(1)
        outcome = self.finish(process)
        other = galera.node_port(2)
        self.report = target.snapshot(other)[1]
        if self.random.random() < 0.5:
            galera.start()
            self.note = 'node 1 rejoined, then the next upgrade on it'
        else:
            self.next_url = target.node_url(other)
            self.after_next = galera.start
            self.note = 'the next upgrade on node 2, then node 1 rejoined'
        self.judged = [galera.node_port(n) for n in galera.nodes]
        return [outcome]

    def metadata_lock(self, target, at):
        """Another session's open transaction that read ``tasks``, which
        every revision of this history alters, for a random time around
        the DDL lock wait; then it ends."""
        process = self.start(target)
        # tasks exists once the first revision (the bundled one) is in.
        self.wait_for_moment(process, (max(at[0], 1), at[1]))
        hold = self.random.uniform(*HOLD)
        engine = target.engine()
        try:
            with engine.connect() as session:
                session.exec_driver_sql('SELECT * FROM tasks').all()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.popen.wait(timeout=hold)
                # On Galera the DDL aborts this transaction instead.
                with contextlib.suppress(sa.exc.DBAPIError):
                    session.rollback()
        finally:
            engine.dispose()
        self.note = f'held {hold:.1f}s'
        outcome = self.finish(process)
        self.report = target.snapshot()[1]
        return [outcome]

    # -- judging -------------------------------------------------------------

    def trial(self, fault, target):
        self.setting = (FAULT_HISTORY.get(fault, 'plain'),
                        FAULT_OPTIONS.get(fault))
        schema, seconds = self.baseline(target)
        head = self.history(self.setting[0])[1]
        target.fresh()
        # After a random number of revisions (the first is the bundled
        # history), a random part of one revision's time later.
        at = (self.random.randrange(self.revisions),
              self.random.uniform(0, seconds / (self.revisions + 1)))
        # What a fault may set: where the next upgrade runs, what follows
        # it, the ports judged, the version after the faulted run.
        self.next_url = self.after_next = self.report = None
        self.judged = [None]
        self.note = ''
        outcomes = getattr(self, fault.replace('-', '_'))(target, at)
        problems = self.judge_report(fault, outcomes[-1])
        code, stderr = self.finish(self.start(target, self.next_url))
        outcomes.append((code, stderr))
        if self.after_next is not None:
            self.after_next()
        if code != 0:
            problems.append(f'the next upgrade exited {code}: '
                            f'{(stderr.strip().splitlines() or [""])[-1]}')
        for _, text in outcomes:
            for bad in ('Traceback', 'unexpected error'):
                if bad in text:
                    lines = text.splitlines()
                    at_line = [i for i, x in enumerate(lines) if bad in x][0]
                    # The exception and where it came from, to diagnose.
                    tail = ' | '.join(x.strip() for x in lines[at_line:][-4:])
                    problems.append(f'printed {tail[:600]}')
        for port in self.judged:
            node = f' on port {port}' if port else ''
            now, version, rows, holder = target.snapshot(port)
            if now != schema:
                missing = sorted(set(schema) ^ set(now)) or [
                    t for t in schema if schema[t] != now.get(t)]
                problems.append(f'schema{node} differs from a clean '
                                f'upgrade: {missing[:3]}')
            if version != [head]:
                problems.append(f'version{node} {version}, not {head}')
            if rows:
                problems.append(f'{rows} journal row(s) left{node}')
            if holder is not None:
                problems.append(f'lease held by {holder}{node}')
        self.resumed += 'Resuming revision' in stderr
        if self.verbose:
            print(f'  {fault} {target.name} after {at[0]} revisions + '
                  f'{at[1]:.3f}s{", " if self.note else ""}{self.note}: '
                  f'{"; ".join(problems) or "consistent"} (exit codes '
                  f'{[c for c, _ in outcomes]})', flush=True)
            if fault in EXIT_CODES and outcomes[0][0]:
                said = (outcomes[0][1].strip().splitlines() or [''])[-1]
                print(f'    {said}', flush=True)
            for number, (_, text) in enumerate(outcomes if problems else ()):
                tail = text.strip().splitlines()[-12:]
                print(f'    run {number + 1}:\n      ' + '\n      '.join(
                    tail), flush=True)
        return problems

    def judge_report(self, fault, outcome):
        """The faulted run's exit code and last line: a documented code,
        and on exit 1 a line that names the version the database holds
        (``self.report``, read after the run), or says it could not be
        read, or (the database at base) that it could not connect."""
        if fault not in EXIT_CODES:
            return []
        code, text = outcome
        last = (text.strip().splitlines() or [''])[-1]
        if code not in EXIT_CODES[fault]:
            return [f'the faulted run exited {code}: {last[:200]}']
        if code == 0:
            return []
        if last.startswith('enamel-sync: error: cannot connect to the '
                           'database') and not self.report:
            # The server was down when the run began: it connected to
            # nothing and changed nothing (the database is where the
            # fresh trial left it, at base). A database that answered
            # once in the run is tried again for 10 seconds instead.
            return []
        match = REPORT.search(last)
        if not last.startswith('enamel-sync: error:') or not match:
            return [f'the faulted run ended with {last[:200]!r}']
        said = match.group(1)
        if said.startswith('unknown') or sorted(
                said.split(', ')) == sorted(self.report or ['base']):
            return []
        return [f'the faulted run said the database is at {said}; it is at '
                f'{self.report}']

    def run(self, plan):
        failed = 0
        for fault, targets in plan.items():
            for name in targets:
                target = Target(name, self.workdir)
                self.resumed = 0
                started = time.monotonic()
                try:
                    results = [self.trial(fault, target)
                               for _ in range(self.trials)]
                finally:
                    target.drop()
                good = sum(1 for r in results if not r)
                failed += len(results) - good
                print(f'{fault} {name}: {good}/{len(results)} consistent '
                      f'({self.resumed} resumed a revision cut midway; '
                      f'{time.monotonic() - started:.0f}s)', flush=True)
                for problems in results:
                    if problems:
                        print(f'  - {"; ".join(problems)}', flush=True)
        return failed


def own_pgbouncer():
    """Start (or leave running) the suite's own PgBouncer on port 6433."""
    subprocess.run(
        ['bash', os.path.join(REPO_ROOT, 'tools', 'pgbouncer.sh')],
        env=dict(os.environ, ENAMEL_PGBOUNCER_PORT='6433',
                 ENAMEL_PGBOUNCER_DIR=OWN_PGBOUNCER_DIR),
        check=True, stdout=subprocess.DEVNULL)


def stop_own_pgbouncer():
    pidfile = os.path.join(OWN_PGBOUNCER_DIR, 'pgbouncer.pid')
    try:
        with open(pidfile) as f:
            os.kill(int(f.read().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--short', action='store_true',
                        help="CI's version: 2 trials, fewer pairs")
    parser.add_argument('--trials', type=int, help='trials per pair')
    parser.add_argument('--fault', action='append', choices=sorted(FAULTS),
                        help='only this fault (repeatable)')
    parser.add_argument('--target', action='append',
                        help='only this target (repeatable)')
    parser.add_argument('--seed', type=int, default=None)
    parser.add_argument('--verbose', action='store_true')
    parser.add_argument(
        '--revisions', type=int, default=REVISIONS,
        help=f'revisions in the history (default {REVISIONS}); from 100 '
        'on, every engine commits them in groups')
    args = parser.parse_args(argv)
    if args.revisions < 1:
        parser.error('--revisions must be at least 1')
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    plan = SHORT if args.short else FAULTS
    plan = {f: tuple(t for t in targets
                     if not args.target or t in args.target)
            for f, targets in plan.items()
            if not args.fault or f in args.fault}
    plan = {f: t for f, t in plan.items() if t}
    trials = args.trials or (2 if args.short else 10)
    print(f'faults: seed {seed}, {trials} trial(s) each, {args.revisions} '
          'revisions of 3 DDL statements', flush=True)
    workdir = tempfile.mkdtemp(prefix='enamel-faults-')
    suite = Suite(workdir, seed, trials, args.verbose, args.revisions)
    try:
        if any('own-pgbouncer' in t for t in plan.values()):
            own_pgbouncer()
        for name, server in OWN_SERVERS.items():
            if any(name in t for t in plan.values()):
                suite.own[name] = server()
                suite.own[name].start()
        failed = suite.run(plan)
    finally:
        stop_own_pgbouncer()
        for server in suite.own.values():
            server.remove()
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
