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

"""Eight hosts upgrading at once: plain alembic, then enamel-sync.

For each engine this makes a scratch copy of the migration environment
with a synthetic history (``tests/synthetic.py``) and a fresh throwaway
database, starts N concurrent ``alembic upgrade head`` processes (alembic's
own command line, ``alembic.config.main``, with a generated alembic.ini
and logging at INFO so that each "Running upgrade" line is counted), then
does the same with N concurrent ``enamel-sync upgrade`` on another fresh
database, and prints what happened: the exit codes, how many migrations
ran against how many the history has, and the final version table.

Run from a checkout, with the openstack_citest accounts of
``tools/test-setup.sh``::

    PYTHONPATH=. python tools/race.py
    PYTHONPATH=. python tools/race.py --engines sqlite --revisions 100
"""

import argparse
import collections
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import sqlalchemy as sa

import benchmark
from enamel import journal
from enamel import lock
from enamel import migration
from tests import synthetic

ALEMBIC = ('import logging, sys\n'
           'logging.basicConfig(level=logging.INFO, format="%(message)s")\n'
           'from alembic.config import main\n'
           'sys.exit(main())\n')
RAN = {
    'alembic': re.compile(r'^Running upgrade .*-> (\S+),'),
    'enamel-sync': re.compile(r'^Upgraded to (\S+) '),
}


def state(url):
    """The tables of the database at ``url``, and its version rows."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            # enamel's lock table is bookkeeping, not a migrated table.
            tables = [t for t in sa.inspect(connection).get_table_names()
                      if t not in (lock.LOCK_TABLE, journal.JOURNAL_TABLE)]
            versions = []
            if 'alembic_version' in tables:
                versions = list(connection.execute(sa.text(
                    'SELECT version_num FROM alembic_version')).scalars())
        return tables, versions
    finally:
        engine.dispose()


def commands(tool, workdir, url):
    if tool == 'alembic':
        ini = os.path.join(workdir, 'alembic.ini')
        with open(ini, 'w') as f:
            f.write('[alembic]\n'
                    f'script_location = {workdir}/alembic_migrations\n'
                    'path_separator = os\n'
                    f'sqlalchemy.url = {url.replace("%", "%%")}\n')
        return [sys.executable, '-c', ALEMBIC, '-c', ini, 'upgrade', 'head']
    conf = os.path.join(workdir, 'enamel.conf')
    with open(conf, 'w') as f:
        f.write(f'[database]\nconnection = {url}\n')
    script = os.path.join(os.path.dirname(sys.executable), 'enamel-sync')
    return [script, '--config-file', conf, 'upgrade']


def race(tool, engine, processes, revisions):
    workdir = tempfile.mkdtemp(prefix=f'enamel-race-{engine}-')
    database = benchmark.Database(engine, workdir)
    try:
        database.fresh()
        synthetic.scratch_copy(workdir, revisions)
        expected = [migration.Migration(None).script.get_current_head()] + [
            synthetic.revision_id(n) for n in range(1, revisions + 1)]
        args = commands(tool, workdir, database.url)
        env = dict(os.environ, HOME=workdir, PYTHONPATH=workdir)
        env.pop('OS_DATABASE__CONNECTION', None)
        started = time.monotonic()
        running = [subprocess.Popen(
            args, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(processes)]
        outputs = [p.communicate()[1] for p in running]
        elapsed = time.monotonic() - started
        ran = collections.Counter(
            m.group(1) for out in outputs for line in out.splitlines()
            for m in [RAN[tool].match(line)] if m)
        tables, versions = state(database.url)
        errors = collections.Counter(
            _error(out) for p, out in zip(running, outputs) if p.returncode)
        return {
            'codes': [p.returncode for p in running],
            'ran': sum(ran.values()),
            'twice': sum(1 for n in ran.values() if n > 1),
            'expected': len(expected),
            'tables': len([t for t in tables if t != 'alembic_version']),
            'expected_tables': len(expected) + 1,  # tasks and task_items
            'versions': versions,
            'at_head': versions == [expected[-1]],
            'elapsed': elapsed,
            'errors': errors,
        }
    finally:
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)


def _error(output):
    """The line that says what went wrong (a traceback's last error)."""
    lines = [line for line in output.splitlines()
             if re.match(r'^(enamel-sync: error|[\w.]+(Error|Exception)):',
                         line)]
    last = lines[-1] if lines else '(no error line)'
    return re.sub(r'[0-9a-f]{12}', '<rev>', last)[:150]


def report(tool, engine, result):
    codes = collections.Counter(result['codes'])
    print(f'{engine:10} {tool:11} exit codes: '
          + ', '.join(f'{n}x {c}' for c, n in sorted(codes.items())))
    print(f'{"":22} migrations run: {result["ran"]} of '
          f'{result["expected"]} ({result["twice"]} more than once); '
          f'tables {result["tables"]} of {result["expected_tables"]}')
    print(f'{"":22} version table: '
          f'{", ".join(result["versions"]) or "(empty)"}'
          f'{" = head" if result["at_head"] else " (NOT head)"}; '
          f'{result["elapsed"]:.1f}s')
    for error, count in result['errors'].most_common(3):
        print(f'{"":22} {count}x {error}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--engines', default='sqlite,postgresql,mysql')
    parser.add_argument('--processes', type=int, default=8)
    parser.add_argument('--revisions', type=int, default=60)
    args = parser.parse_args()
    print(f'{datetime.date.today()} on {platform.node() or "?"}: '
          f'{os.cpu_count()} CPUs, Python {platform.python_version()}, '
          f'SQLAlchemy {sa.__version__}; {args.processes} processes, '
          f'{args.revisions} synthetic revisions + 1 real')
    for engine in args.engines.split(','):
        for tool in ('alembic', 'enamel-sync'):
            report(tool, engine,
                   race(tool, engine, args.processes, args.revisions))


if __name__ == '__main__':
    main()
