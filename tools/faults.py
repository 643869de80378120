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
PgBouncer, on port 6433, restarted under the upgrade). Targets: sqlite,
mysql (127.0.0.1:3306), postgresql (:5432), galera (:13306, a node of
tools/galera.sh's cluster), pgbouncer (:6432). Only enamel-sync processes
and the suite's own PgBouncer are killed: the shared servers are not.

Prints one line per fault and target, ``kill9 mysql: 10/10 consistent``,
and exits 1 when any trial was not. ``--short`` is CI's version (two
trials of each, fewer pairs); run with PYTHONPATH at the checkout (it
imports tests.synthetic): ``tox -e faults``.
"""

import argparse
import os
import random
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

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = 'openstack_citest'
SERVERS = {
    'mysql': ('mysql+pymysql', 3306, 3306),
    'postgresql': ('postgresql+psycopg', 5432, 5432),
    'galera': ('mysql+pymysql', 13306, 13306),
    'pgbouncer': ('postgresql+psycopg', 6432, 5432),
    'own-pgbouncer': ('postgresql+psycopg', 6433, 5432),
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
}
SHORT = {
    'kill9': ('sqlite', 'mysql', 'postgresql', 'galera', 'pgbouncer'),
    'sigterm': ('mysql', 'postgresql'),
    'sigint': ('mysql',),
    'sigstop': ('mysql', 'postgresql'),
    'pooler-restart': ('own-pgbouncer',),
}

BODY = '''\
    create({table!r})
    op.add_column({table!r}, sa.Column('extra', sa.Integer()))
    op.create_index('ix_{table}_extra', {table!r}, ['extra'])'''
DOWN = '''\
    op.drop_table({table!r})'''


class Target:
    """A throwaway database on one target, made fresh for each trial."""

    def __init__(self, name, workdir):
        self.name = name
        self.workdir = workdir
        self.database = f'enamel_faults_{uuid.uuid4().hex[:8]}'
        if name == 'sqlite':
            self.path = os.path.join(workdir, 'faults.sqlite')
            self.url = f'sqlite:///{self.path}'
            self.admin = None
            return
        driver, port, admin_port = SERVERS[name]
        self.url = (f'{driver}://{USER}:{USER}@127.0.0.1:{port}/'
                    f'{self.database}')
        admin_db = USER if driver.startswith('mysql') else 'postgres'
        self.admin = sa.create_engine(
            f'{driver}://{USER}:{USER}@127.0.0.1:{admin_port}/{admin_db}',
            isolation_level='AUTOCOMMIT', poolclass=sa.pool.NullPool)
        self.quote = '`' if driver.startswith('mysql') else '"'

    def fresh(self):
        if self.admin is None:
            for suffix in ('', '.lock', '-journal'):
                if os.path.exists(self.path + suffix):
                    os.unlink(self.path + suffix)
            return
        with self.admin.connect() as connection:
            connection.exec_driver_sql(self._drop())
            connection.exec_driver_sql(
                f'CREATE DATABASE {self.quote}{self.database}{self.quote}')

    def _drop(self):
        # A pooler keeps server sessions open on the database: PostgreSQL
        # drops it only WITH (FORCE) (PostgreSQL 13 and later).
        force = ' WITH (FORCE)' if self.quote == '"' else ''
        return (f'DROP DATABASE IF EXISTS {self.quote}{self.database}'
                f'{self.quote}{force}')

    def drop(self):
        if self.admin is not None:
            with self.admin.connect() as connection:
                connection.exec_driver_sql(self._drop())
            self.admin.dispose()

    def engine(self):
        url = self.url
        if self.name in ('pgbouncer', 'own-pgbouncer'):
            url = url.replace(f':{SERVERS[self.name][1]}/', ':5432/')
        return sa.create_engine(url, poolclass=sa.pool.NullPool)

    def snapshot(self):
        """(schema, version rows, journal rows, lease holder)."""
        engine = self.engine()
        try:
            with engine.connect() as connection:
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

    def __init__(self, workdir, seed, trials, verbose):
        self.workdir = workdir
        self.random = random.Random(seed)
        self.trials = trials
        self.verbose = verbose
        self.scratch = os.path.join(workdir, 'scratch')
        copy = os.path.join(self.scratch, 'alembic_migrations')
        shutil.copytree(os.path.join(REPO_ROOT, 'alembic_migrations'), copy,
                        ignore=shutil.ignore_patterns('__pycache__'))
        versions = os.path.join(copy, 'versions')
        previous = migration.Migration(None).script.get_current_head()
        for number in range(1, REVISIONS + 1):
            revision = synthetic.revision_id(number)
            table = synthetic.table_name(number)
            synthetic.write_revision(
                versions, revision, previous, f'faults {number}',
                BODY.format(table=table), DOWN.format(table=table))
            previous = revision
        self.head = previous
        self.env = dict(os.environ, PYTHONPATH=self.scratch,
                        PYTHONDONTWRITEBYTECODE='1', HOME=workdir)
        self.env.pop('OS_DATABASE__CONNECTION', None)
        self.clean = {}  # target name -> (schema, seconds)
        self.resumed = 0  # next runs that finished a revision cut midway
        self.executable = os.path.join(os.path.dirname(sys.executable),
                                       'enamel-sync')
        if not os.path.exists(self.executable):
            self.executable = shutil.which('enamel-sync')

    def config(self, target):
        path = os.path.join(self.workdir, f'{target.name}.conf')
        with open(path, 'w') as f:
            f.write(f'[database]\nconnection = {target.url}\n'
                    f'migration_lock_lease = {LEASE}\n'
                    'migration_lock_timeout = 120\n')
        return path

    def start(self, target):
        return Run([self.executable, '--config-file', self.config(target),
                    'upgrade'], self.env, self.workdir)

    def finish(self, process):
        return process.finish()

    def wait_for_moment(self, process, at):
        """Return at the fault's moment: ``at`` = (revisions, seconds):
        once the run has applied that many revisions, that much later."""
        revisions, seconds = at
        process.applied(revisions)
        time.sleep(seconds)

    def baseline(self, target):
        if target.name not in self.clean:
            target.fresh()
            process = self.start(target)
            process.applied(1)
            started = time.monotonic()
            code, stderr = self.finish(process)
            if code != 0:
                raise SystemExit(f'faults: a clean upgrade on {target.name} '
                                 f'failed: {stderr.strip()[-300:]}')
            self.clean[target.name] = (target.snapshot()[0],
                                       time.monotonic() - started)
        return self.clean[target.name]

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

    # -- judging -------------------------------------------------------------

    def trial(self, fault, target):
        schema, seconds = self.baseline(target)
        target.fresh()
        # After a random number of revisions (the first is the bundled
        # history), a random part of one revision's time later.
        at = (self.random.randrange(REVISIONS),
              self.random.uniform(0, seconds / (REVISIONS + 1)))
        outcomes = getattr(self, fault.replace('-', '_'))(target, at)
        code, stderr = self.finish(self.start(target))
        outcomes.append((code, stderr))
        problems = []
        if code != 0:
            problems.append(f'the next upgrade exited {code}: '
                            f'{(stderr.strip().splitlines() or [""])[-1]}')
        for _, text in outcomes:
            for bad in ('Traceback', 'unexpected error'):
                if bad in text:
                    line = [x for x in text.splitlines() if bad in x][0]
                    problems.append(f'printed {line.strip()[:200]}')
        now, version, rows, holder = target.snapshot()
        if now != schema:
            missing = sorted(set(schema) ^ set(now)) or [
                t for t in schema if schema[t] != now.get(t)]
            problems.append(f'schema differs from a clean upgrade: '
                            f'{missing[:3]}')
        if version != [self.head]:
            problems.append(f'version {version}, not {self.head}')
        if rows:
            problems.append(f'{rows} journal row(s) left')
        if holder is not None:
            problems.append(f'lease held by {holder}')
        self.resumed += 'Resuming revision' in stderr
        if self.verbose:
            print(f'  {fault} {target.name} after {at[0]} revisions + '
                  f'{at[1]:.3f}s: '
                  f'{"; ".join(problems) or "consistent"} (exit codes '
                  f'{[c for c, _ in outcomes]})', flush=True)
        return problems

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
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    plan = SHORT if args.short else FAULTS
    plan = {f: tuple(t for t in targets
                     if not args.target or t in args.target)
            for f, targets in plan.items()
            if not args.fault or f in args.fault}
    plan = {f: t for f, t in plan.items() if t}
    trials = args.trials or (2 if args.short else 10)
    print(f'faults: seed {seed}, {trials} trial(s) each, {REVISIONS} '
          'revisions of 3 DDL statements', flush=True)
    workdir = tempfile.mkdtemp(prefix='enamel-faults-')
    if any('own-pgbouncer' in t for t in plan.values()):
        own_pgbouncer()
    try:
        failed = Suite(workdir, seed, trials, args.verbose).run(plan)
    finally:
        stop_own_pgbouncer()
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
