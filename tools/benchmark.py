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

"""How much enamel-sync costs, measured against plain alembic.

For each engine and each history length N, a scratch copy of
``alembic_migrations`` gets N synthetic revisions (:mod:`tests.synthetic`)
and every measurement is a whole process, timed from start to exit:

* the import floor, ``python -c 'import sqlalchemy, alembic'``;
* ``enamel-sync version`` and ``check`` against ``alembic current`` (a stock
  alembic environment, alembic's ``generic`` template, over the same
  revision files) on a database at head, ``version`` timed in turns
  across N;
* ``enamel-sync upgrade`` on a database at head against ``version`` and
  against ``alembic upgrade head``;
* ``enamel-sync upgrade`` from empty against ``alembic upgrade head`` and
  against the SQL floor: the offline SQL (``upgrade --sql``) run by the
  engine's own client (sqlite3, psql, mysql);
* the test walker's upgrade pass against one in-process upgrade;
* K concurrent ``enamel-sync upgrade`` against one, and the CPU floor: the
  CPU time the K processes used, divided by the number of cores, against
  one (no schedule finishes them sooner on this machine).

Measurements that are compared are taken back to back in each run, and a
ratio is reported as the median over the runs with its min-max. Run from
the repository root::

    tox -e benchmark                          # or:
    PYTHONPATH=. python tools/benchmark.py --runs 3 --counts 50,200

``--smoke`` (tox -e benchmark-smoke, in CI) runs everything once on a tiny
history and checks that every command worked, not how fast. Exit codes: 0
all well, 1 a command failed, 3 a speed target was missed (full mode only).
"""

import argparse
import configparser
import datetime
import importlib.metadata
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

import sqlalchemy as sa

from tests import synthetic

import scratch_database  # tools/, beside this script

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINES = ('sqlite', 'postgresql', 'mysql')
SERVER_USER = 'openstack_citest'
SERVER_URLS = {
    'postgresql': 'postgresql+psycopg://{u}:{u}@127.0.0.1/{db}',
    'mysql': 'mysql+pymysql://{u}:{u}@127.0.0.1/{db}?charset=utf8mb4',
}
FAILED, MISSED = 1, 3

# Run in a child process with the scratch environment first on the path:
# one upgrade from empty, or the walker's upgrade pass, timed in-process
# from the creation of the Migration (the script directory included).
CHILD = textwrap.dedent('''\
    import sys, time
    from enamel import conf as enamel_conf
    from enamel import migration
    mode, config_file = sys.argv[1], sys.argv[2]
    conf = enamel_conf.load(['--config-file', config_file],
                            default_config_files=[])
    start = time.perf_counter()
    migrate = migration.Migration(conf)
    if mode == 'upgrade':
        migrate.upgrade('head')
    else:
        try:
            from tests import walker
        except ImportError:
            walker = None
        if walker is not None and hasattr(walker, 'walk'):
            walker.walk(migrate, migrate.engine, downgrade=False)
        else:
            for script in reversed(list(migrate.script.walk_revisions())):
                migrate.upgrade(script.revision)
        print('walker' if walker is not None else 'loop', file=sys.stderr)
    print(time.perf_counter() - start)
''')


class BenchmarkError(Exception):
    """A command that should have worked did not."""


def executable(name):
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(candidate):
        return candidate
    found = shutil.which(name)
    if not found:
        raise BenchmarkError(f'{name} is not installed')
    return found


def run(args, env, expect=(0,), stdin=None):
    """Run a process to its end; (wall seconds, CompletedProcess)."""
    with open(stdin) if stdin else open(os.devnull) as infile:
        start = time.perf_counter()
        proc = subprocess.run(args, env=env, stdin=infile, text=True,
                              cwd=env['HOME'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
    if proc.returncode not in expect:
        last = (proc.stderr.strip().splitlines() or ['(no output)'])[-1]
        raise BenchmarkError(f'{os.path.basename(args[0])} '
                             f'{" ".join(args[1:])[-120:]} exited '
                             f'{proc.returncode}: {last}')
    return elapsed, proc


class Database(scratch_database.ScratchDatabase):
    """A throwaway database on one engine, recreated empty on demand."""

    def __init__(self, engine, workdir):
        self.engine = engine
        self.workdir = workdir
        name = f'enamel_bench_{uuid.uuid4().hex[:10]}'
        if engine == 'sqlite':
            path = os.path.join(workdir, 'bench.sqlite')
            super().__init__(f'sqlite:///{path}')
            return
        super().__init__(
            SERVER_URLS[engine].format(u=SERVER_USER, db=name),
            SERVER_URLS[engine].format(u=SERVER_USER, db=SERVER_USER), name)

    def server_version(self):
        if self.admin is None:
            return f'SQLite {_sqlite_version()}'
        with self.admin.connect() as conn:
            version = conn.exec_driver_sql('SELECT version()').scalar()
        return version.split(',')[0].split(' on ')[0]

    def heads(self):
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return sorted(conn.exec_driver_sql(
                    'SELECT version_num FROM alembic_version').scalars())
        except sa.exc.DBAPIError:
            return []
        finally:
            engine.dispose()

    def client(self, env):
        """The engine's own command-line client, reading SQL on stdin."""
        env = dict(env)
        if self.engine == 'sqlite':
            return [executable('sqlite3'), '-bail', self.path], env
        if self.engine == 'postgresql':
            env['PGPASSWORD'] = SERVER_USER
            return [executable('psql'), '-q', '-X', '-v', 'ON_ERROR_STOP=1',
                    '-h', '127.0.0.1', '-U', SERVER_USER, '-d',
                    self.db_name], env
        env['MYSQL_PWD'] = SERVER_USER
        return [executable('mysql'), '-h', '127.0.0.1', '-u', SERVER_USER,
                self.db_name], env


def _sqlite_version():
    import sqlite3
    return sqlite3.sqlite_version


class Scenario:
    """One engine and one history length: files, config, and commands.

    ``database`` is emptied before each upgrade that is timed; ``kept`` is
    upgraded once and serves the commands that find a database at head.
    """

    def __init__(self, database, kept, count, root, cache):
        self.database = database
        self.kept = kept
        self.count = count
        self.dir = os.path.join(root, f'{database.engine}-{count}')
        scratch = os.path.join(self.dir, 'scratch')
        versions, self.head = synthetic.scratch_copy(scratch, count)
        self.env = _child_env(self.dir, scratch, cache)
        self.floor = [sys.executable, '-c', 'import sqlalchemy, alembic']
        self.sql = os.path.join(self.dir, 'upgrade.sql')
        self.upgrade_runs = 0
        stock_ini = _stock_alembic(self.dir, self.env)
        self.sync, self.alembic = {}, {}
        for name, db in (('work', database), ('kept', kept)):
            config_file = os.path.join(self.dir, f'enamel-{name}.conf')
            with open(config_file, 'w') as f:
                f.write(f'[database]\nconnection = {db.url}\n')
            self.sync[db] = [executable('enamel-sync'), '--config-file',
                             config_file]
            self.alembic[db] = [executable('alembic'), '-c', _alembic_ini(
                self.dir, name, stock_ini, versions, db.url)]

    def check_at_head(self, what, database=None):
        database = database or self.database
        heads = database.heads()
        if heads != [self.head]:
            raise BenchmarkError(f'{database.engine} N={self.count}: '
                                 f'after {what} the database is at {heads}, '
                                 f'not {self.head}')

    def prepare(self):
        """Warm caches, write the offline SQL, upgrade the kept database,
        check every command once."""
        sync, alembic = self.sync[self.kept], self.alembic[self.kept]
        run(self.floor, self.env)
        _, proc = run(sync + ['upgrade', '--sql'], self.env)
        with open(self.sql, 'w') as f:
            f.write(proc.stdout)
        self.kept.fresh()
        run(sync + ['upgrade'], self.env)
        self.check_at_head('enamel-sync upgrade', self.kept)
        _, proc = run(sync + ['version'], self.env)
        if proc.stdout.split() != [self.head]:
            raise BenchmarkError(f'enamel-sync version printed '
                                 f'{proc.stdout!r}, not {self.head}')
        _, proc = run(sync + ['upgrade'], self.env)
        if 'Nothing to do' not in proc.stderr:
            raise BenchmarkError(f'enamel-sync upgrade at head said '
                                 f'{proc.stderr!r}')
        # The synthetic tables are not in enamel's models and no revision
        # creates them by name (they use a helper): check leaves them
        # alone and finds the database at head, after all of its work.
        run(sync + ['check'], self.env, expect=(0,))
        _, proc = run(alembic + ['current'], self.env)
        if self.head not in proc.stdout:
            raise BenchmarkError(f'alembic current printed {proc.stdout!r}')
        run(alembic + ['upgrade', 'head'], self.env)
        self.check_at_head('alembic upgrade head at head', self.kept)

    # -- the measurements, each returning {name: seconds} ----------------

    def read_only(self):
        """The commands that find the database at head."""
        sync, alembic = self.sync[self.kept], self.alembic[self.kept]
        t = {}
        t['floor'] = run(self.floor, self.env)[0]
        t['check'] = run(sync + ['check'], self.env, expect=(0,))[0]
        t['alembic current'] = run(alembic + ['current'], self.env)[0]
        t['upgrade at head'] = run(sync + ['upgrade'], self.env)[0]
        t['alembic upgrade at head'] = run(alembic + ['upgrade', 'head'],
                                           self.env)[0]
        return t

    def upgrades(self):
        commands = [
            ('upgrade', self.sync[self.database] + ['upgrade']),
            ('alembic upgrade', self.alembic[self.database] + [
                'upgrade', 'head'])]
        # Each goes first in every other run: neither inherits the other's
        # after-effects (the server flushing the dropped database) more.
        self.upgrade_runs += 1
        t = {}
        for name, args in commands[::1 if self.upgrade_runs % 2 else -1]:
            self.database.fresh()
            t[name] = run(args, self.env)[0]
            self.check_at_head(name)
        self.database.fresh()
        args, env = self.database.client(self.env)
        t['SQL floor'] = run(args, env, stdin=self.sql)[0]
        self.check_at_head('the offline SQL')
        return t

    def walker(self):
        t = {}
        args = [sys.executable, '-c', CHILD]
        for mode in ('upgrade', 'walker'):
            self.database.fresh()
            _, proc = run(args + [mode, self.sync[self.database][-1]],
                          self.env)
            t[f'{mode} (in-process)'] = float(proc.stdout.split()[-1])
            self.check_at_head(mode)
            if mode == 'walker':
                self.walked_with = proc.stderr.split()[-1]
        return t

    def concurrent(self, processes):
        sync = self.sync[self.database]
        t = {}
        self.database.fresh()
        t['upgrade'] = run(sync + ['upgrade'], self.env)[0]
        self.database.fresh()
        cpu = _children_cpu()
        start = time.perf_counter()
        procs = [subprocess.Popen(sync + ['upgrade'], env=self.env,
                                  cwd=self.dir,
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
                 for _ in range(processes)]
        errors = [p.communicate()[1] for p in procs]
        t[f'{processes} concurrent'] = time.perf_counter() - start
        # The CPU the processes used, spread over every core: no schedule
        # can finish them sooner (a database server's CPU not counted).
        t['CPU floor'] = (_children_cpu() - cpu) / os.cpu_count()
        for proc, err in zip(procs, errors):
            if proc.returncode:
                raise BenchmarkError(f'a concurrent upgrade exited '
                                     f'{proc.returncode}: {err.strip()}')
        self.check_at_head('concurrent upgrades')
        return t


def _children_cpu():
    """CPU seconds used by this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child_env(home, scratch, cache):
    env = dict(os.environ, HOME=home, PYTHONPATH=scratch + os.pathsep +
               REPO_ROOT, PYTHONPYCACHEPREFIX=cache)
    # Byte-code is cached (in a private prefix), as it would be for an
    # installed package: the benchmark measures runs, not compilation.
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    env.pop('OS_DATABASE__CONNECTION', None)
    return env


def _stock_alembic(directory, env):
    """A stock alembic environment, as ``alembic init`` makes it from the
    ``generic`` template (env.py, script.py.mako and its alembic.ini);
    the path of that alembic.ini."""
    stock = os.path.join(directory, 'stock')
    ini = os.path.join(directory, 'alembic-stock.ini')
    run([executable('alembic'), '-c', ini, 'init', '-t', 'generic', stock],
        env)
    return ini


def _alembic_ini(directory, name, stock_ini, versions, url):
    """The stock alembic.ini (its logging included: alembic's INFO line
    per revision, as enamel-sync prints one) pointed at the revision
    files and the database at ``url``; its path."""
    parser = configparser.RawConfigParser()
    parser.read(stock_ini)
    parser.set('alembic', 'version_locations', versions)
    parser.set('alembic', 'path_separator', 'os')
    parser.set('alembic', 'sqlalchemy.url', url.replace('%', '%%'))
    ini = os.path.join(directory, f'alembic-{name}.ini')
    with open(ini, 'w') as f:
        parser.write(f)
    return ini


class Results:
    """Timings per (engine, N, group) over the runs; paired ratios."""

    def __init__(self):
        self.runs = {}

    def add(self, engine, count, timings):
        for name, seconds in timings.items():
            self.runs.setdefault((engine, count, name), []).append(seconds)

    def times(self, engine, count, name):
        return self.runs.get((engine, count, name))

    def ratio(self, engine, count, num, den):
        """``num / den`` paired run by run: (median, min, max)."""
        return _paired(self.times(engine, count, num),
                       self.times(engine, count, den))

    def growth(self, engine, name, big, small):
        """How ``name`` grows from N=small to N=big, paired run by run
        (each run times every N back to back): (median, min, max)."""
        return _paired(self.times(engine, big, name),
                       self.times(engine, small, name))


def _paired(a, b):
    """``a[i] / b[i]`` over the runs: (median, min, max), or None."""
    if not a or not b:
        return None
    values = [x / y for x, y in zip(a, b)]
    return statistics.median(values), min(values), max(values)


RATIOS = (
    # (label, numerator, denominator)
    ('version / import floor', 'version', 'floor'),
    ('version / alembic current', 'version', 'alembic current'),
    ('check / import floor', 'check', 'floor'),
    ('check / alembic current', 'check', 'alembic current'),
    ('alembic current / import floor', 'alembic current', 'floor'),
    ('upgrade at head / version', 'upgrade at head', 'version'),
    ('upgrade at head / alembic', 'upgrade at head',
     'alembic upgrade at head'),
    ('upgrade / alembic upgrade head', 'upgrade', 'alembic upgrade'),
    ('upgrade / SQL floor', 'upgrade', 'SQL floor'),
    ('alembic upgrade head / SQL floor', 'alembic upgrade', 'SQL floor'),
    ('walker / upgrade (in-process)', 'walker (in-process)',
     'upgrade (in-process)'),
)


def targets(engines, counts, processes):
    """The issue's speed targets: (engine, label, limit, measure), where
    measure(results) gives (median, min, max) or None."""
    big = max(counts)
    mid = 200 if 200 in counts else sorted(counts)[-2:][0]
    concurrent = f'{processes} concurrent'
    found = []
    for e in engines:
        # Issue 11's targets: SQLite at most half of plain alembic,
        # PostgreSQL at most 1.1x; MariaDB as PostgreSQL.
        up_limit = 0.5 if e == 'sqlite' else 1.1
        found += [
            (e, f'version <= 1.15x import floor at N={big}', 1.15,
             lambda r, e=e: r.ratio(e, big, 'version', 'floor')),
            (e, f'version flat: N={big} / N={mid} <= 1.05', 1.05,
             lambda r, e=e: r.growth(e, 'version', big, mid)),
            (e, f'upgrade <= {up_limit}x alembic upgrade head at N={big}',
             up_limit,
             lambda r, e=e: r.ratio(e, big, 'upgrade', 'alembic upgrade')),
            (e, f'upgrade linear: N={big} / N={mid} <= 3.0', 3.0,
             lambda r, e=e: r.growth(e, 'upgrade', big, mid)),
            (e, f'{concurrent} upgrades <= 1.3x one at N={big}', 1.3,
             lambda r, e=e: r.ratio(e, big, concurrent, 'upgrade (alone)')),
        ]
    return found


def _fmt(ratio):
    if ratio is None:
        return 'n/a'
    median, low, high = ratio
    return f'{median:.2f} ({low:.2f}-{high:.2f})'


def table(rows, header):
    """A reStructuredText simple table."""
    widths = [max(len(str(r[i])) for r in rows + [header])
              for i in range(len(header))]
    rule = '  '.join('=' * w for w in widths)
    lines = [rule, '  '.join(h.ljust(w) for h, w in zip(header, widths)),
             rule]
    lines += ['  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
              for r in rows]
    return '\n'.join(lines + [rule])


def machine(databases):
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    lines = [
        f'date: {datetime.date.today().isoformat()}',
        f'machine: {cpu}, {os.cpu_count()} cores, {platform.system()} '
        f'{platform.release()}',
        f'python {platform.python_version()}, alembic '
        f'{importlib.metadata.version("alembic")}, SQLAlchemy '
        f'{sa.__version__}',
    ]
    lines += [f'{d.engine}: {d.server_version()}' for d in databases]
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Time enamel-sync against plain alembic (see the '
                    'Performance page of the docs).')
    parser.add_argument('--smoke', action='store_true',
                        help='one run on a tiny history: check that it '
                             'works, judge no target')
    parser.add_argument('--counts', default='50,200,800',
                        help='history lengths N, comma-separated')
    parser.add_argument('--runs', type=int, default=3,
                        help='timed runs per measurement (default 3)')
    parser.add_argument('--engines', default=','.join(ENGINES),
                        help='sqlite,postgresql,mysql; an unreachable '
                             'server is skipped')
    parser.add_argument('--walker-max', type=int, default=200,
                        help='walk histories only up to this N (the '
                             'walker commits per revision; default 200)')
    parser.add_argument('--concurrency', type=int, default=8,
                        help='concurrent upgrades (default 8)')
    args = parser.parse_args(argv)
    if args.concurrency < 2 or args.runs < 1:
        parser.error('--concurrency takes 2 or more processes and --runs '
                     '1 or more')
    if args.smoke:
        args.counts, args.runs, args.concurrency = '5', 1, 2
        if '--engines' not in ' '.join(argv or sys.argv):
            args.engines = 'sqlite'
    try:
        args.counts = sorted({int(n) for n in args.counts.split(',')})
    except ValueError:
        parser.error('--counts takes integers, e.g. 50,200,800')
    args.engines = [e.strip() for e in args.engines.split(',') if e.strip()]
    unknown = set(args.engines) - set(ENGINES)
    if unknown or args.runs < 1 or min(args.counts) < 1:
        parser.error('--engines takes sqlite, postgresql, mysql; --runs '
                     'and --counts must be positive')
    return args


def benchmark(args, root):
    results = Results()
    databases, skipped = [], []
    cache = os.path.join(root, 'pycache')
    kept = []  # the databases at head, one per scenario
    for engine in args.engines:
        database = Database(engine, os.path.join(root, engine))
        os.makedirs(database.workdir)
        try:
            database.fresh()
        except sa.exc.DBAPIError as exc:
            skipped.append(f'{engine}: skipped, server unreachable '
                           f'({str(exc.orig).strip().splitlines()[0]})')
            continue
        databases.append(database)
    try:
        for database in databases:
            scenarios = []
            for count in args.counts:
                print(f'-- {database.engine} N={count}', file=sys.stderr,
                      flush=True)
                kept.append(Database(database.engine, os.path.join(
                    root, f'{database.engine}-{count}-kept')))
                os.makedirs(kept[-1].workdir)
                scenarios.append(Scenario(database, kept[-1], count, root,
                                          cache))
                scenarios[-1].prepare()
            for _ in range(args.runs):
                # Each run times every N back to back: growth in N is a
                # paired ratio too.
                for scenario in scenarios:
                    results.add(database.engine, scenario.count,
                                scenario.read_only())
                for count, seconds in versions(scenarios).items():
                    results.add(database.engine, count, {'version': seconds})
                for scenario in scenarios:
                    measure(args, results, scenario)
            if any(getattr(s, 'walked_with', '') == 'loop'
                   for s in scenarios):
                skipped.append('walker: tests/walker.py not found; '
                               'timed a loop of upgrade(next revision)')
        report(args, results, databases, skipped)
    finally:
        for database in databases + kept:
            database.drop()
    return results, databases


def versions(scenarios, rounds=3):
    """``enamel-sync version`` at every N, in turns: {N: median seconds}.

    The cheapest command, and N must not reach it: timed next to each
    other, the N differ by what N costs rather than by what the machine
    did in between.
    """
    times = {s.count: [] for s in scenarios}
    for _ in range(rounds):
        for s in scenarios:
            times[s.count].append(
                run(s.sync[s.kept] + ['version'], s.env)[0])
    return {count: statistics.median(t) for count, t in times.items()}


def measure(args, results, scenario):
    """The upgrades from empty, the walker and the concurrent upgrades."""
    engine, count = scenario.database.engine, scenario.count
    results.add(engine, count, scenario.upgrades())
    if count <= args.walker_max:
        results.add(engine, count, scenario.walker())
    concurrent = scenario.concurrent(args.concurrency)
    results.add(engine, count, {
        f'{args.concurrency} concurrent':
            concurrent[f'{args.concurrency} concurrent'],
        f'{args.concurrency} concurrent CPU floor': concurrent['CPU floor'],
        'upgrade (alone)': concurrent['upgrade']})


def report(args, results, databases, skipped):
    print(machine(databases))
    print(f'runs: {args.runs} per measurement; ratios are medians of '
          f'paired runs (min-max)')
    for line in sorted(set(skipped)):
        print(line)
    concurrent = f'{args.concurrency} concurrent'
    header = ['engine', 'N'] + [label for label, _, _ in RATIOS] + [
        f'{concurrent} / one', f'{concurrent} CPU floor / one']
    rows = []
    for database in databases:
        for count in args.counts:
            row = [database.engine, count]
            row += [_fmt(results.ratio(database.engine, count, num, den))
                    for _, num, den in RATIOS]
            row += [_fmt(results.ratio(database.engine, count, num,
                                       'upgrade (alone)'))
                    for num in (concurrent, f'{concurrent} CPU floor')]
            rows.append(row)
    # Wide: one table of ratios per measurement group reads better.
    groups = [(0, 5), (5, 7), (7, 10), (10, 13)]
    for low, high in groups:
        print()
        print(table([r[:2] + r[2 + low:2 + high] for r in rows],
                    header[:2] + header[2 + low:2 + high]))
    print()
    seconds = []
    for database in databases:
        for count in args.counts:
            names = ('floor', 'version', 'check', 'alembic current',
                     'upgrade at head', 'upgrade', 'alembic upgrade',
                     'SQL floor')
            seconds.append([database.engine, count] + [
                f'{statistics.median(results.times(database.engine, count, n)):.3f}'  # noqa: E501
                for n in names])
    print(table(seconds, ['engine', 'N', 'floor s', 'version s', 'check s',
                          'current s', 'at head s', 'upgrade s',
                          'alembic up s', 'SQL floor s']))


def judge(args, results, databases):
    """Print each target with PASS/FAIL; whether all passed."""
    ok = True
    print()
    rows = []
    for engine, label, limit, measure in targets(
            [d.engine for d in databases], args.counts, args.concurrency):
        ratio = measure(results)
        if ratio is None:
            verdict = 'n/a'
        else:
            verdict = 'PASS' if ratio[0] <= limit else 'FAIL'
            ok = ok and verdict == 'PASS'
        rows.append([engine, label, _fmt(ratio), verdict])
    print(table(rows, ['engine', 'target', 'measured', 'verdict']))
    return ok


def main(argv=None):
    args = parse_args(argv)
    root = tempfile.mkdtemp(prefix='enamel-bench-')
    try:
        results, databases = benchmark(args, root)
        if not databases:
            print('benchmark: no engine was reachable', file=sys.stderr)
            return FAILED
        if args.smoke:
            print('\nsmoke: every command worked (no target judged)')
            return 0
        return 0 if judge(args, results, databases) else MISSED
    except BenchmarkError as exc:
        print(f'benchmark: error: {exc}', file=sys.stderr)
        return FAILED
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
