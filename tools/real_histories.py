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

"""Real OpenStack histories through plain alembic, the project's own tool
and enamel-sync, side by side.

keystone's and neutron's alembic histories (nested version directories,
expand and contract branches, their own ``env.py``) are run on empty
databases three ways, and the schemas they leave are compared object by
object (tables, columns, indexes, unique, foreign key and CHECK
constraints, each by name) together with the version rows:

* plain alembic: keystone with ``alembic -c`` and an ini naming the
  nested version directories (``recursive_version_locations``); neutron
  through ``alembic.command.upgrade`` (its ``env.py`` needs the
  ``neutron_config`` attribute that only a program can set);
* the project's own tool: ``keystone-manage db_sync``,
  ``neutron-db-manage upgrade heads``;
* enamel-sync: ``enamel-sync -d DIR upgrade`` (keystone; every phase of
  a plain upgrade), and for neutron the Python API with a configure
  callback that sets ``neutron_config``.

The project is not part of this repository (its code is never copied
here): install it in a virtualenv of its own, with enamel beside it, and
run this file with that virtualenv's Python::

    python3 -m venv /tmp/ks && /tmp/ks/bin/pip install keystone \\
        -e '.[mysql,postgresql]'
    /tmp/ks/bin/python tools/real_histories.py keystone

Exit status: 0 every schema the same, 1 a difference or a failed command.
The figures of the last run are in doc/source/admin/existing-history.rst.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import sqlalchemy as sa

ENGINES = ('sqlite', 'postgresql', 'mysql')
ADMIN = {
    'postgresql': 'postgresql+psycopg://postgres@127.0.0.1/postgres',
    'mysql': 'mysql+pymysql://root@127.0.0.1/',
}
SKIP_TABLES = ('enamel_migration_lock', 'enamel_migration_progress')


def database(engine, name, workdir):
    """A new, empty database; its URL."""
    if engine == 'sqlite':
        return f'sqlite:///{os.path.join(workdir, name)}.db'
    admin = sa.create_engine(ADMIN[engine], isolation_level='AUTOCOMMIT')
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS {name}')
        connection.exec_driver_sql(f'CREATE DATABASE {name}')
    admin.dispose()
    base = ADMIN[engine].rsplit('/', 1)[0]
    return f'{base}/{name}'


def drop(engine, name):
    if engine == 'sqlite':
        return
    admin = sa.create_engine(ADMIN[engine], isolation_level='AUTOCOMMIT')
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS {name}')
    admin.dispose()


def snapshot(url):
    """Every object the inspector reflects, by name, and the version
    rows: a set of tuples."""
    engine = sa.create_engine(url)
    found = set()
    try:
        inspector = sa.inspect(engine)
        for table in inspector.get_table_names():
            if table in SKIP_TABLES:
                continue
            if table.startswith('alembic_version'):
                with engine.connect() as connection:
                    for row in connection.exec_driver_sql(
                            f'SELECT version_num FROM {table}'):
                        found.add(('version', table, row[0]))
                continue
            for c in inspector.get_columns(table):
                found.add(('column', table, c['name'], str(c['type']),
                           c['nullable'], str(c.get('default'))))
            pk = inspector.get_pk_constraint(table)
            found.add(('primary key', table,
                       tuple(pk['constrained_columns'])))
            for i in inspector.get_indexes(table):
                found.add(('index', table, i['name'],
                           tuple(i['column_names']), bool(i['unique'])))
            for u in inspector.get_unique_constraints(table):
                found.add(('unique', table, u['name'],
                           tuple(u['column_names'])))
            for f in inspector.get_foreign_keys(table):
                found.add(('foreign key', table, f['name'],
                           tuple(f['constrained_columns']),
                           f['referred_table'],
                           tuple(f['referred_columns']),
                           str(f.get('options', {}).get('ondelete'))))
            try:
                checks = inspector.get_check_constraints(table)
            except NotImplementedError:
                checks = []
            for c in checks:
                found.add(('check', table, c['name']))
    finally:
        engine.dispose()
    return found


# Each project's revisions read its own configuration (keystone's
# CONF.saml, neutron's env.py its neutron_config): plain alembic and
# enamel-sync both run them from a program that loads the service's
# configuration first, as the service's own tool does.
SETUP = {
    'keystone': """
import sys
import keystone.conf
from keystone.common.sql import upgrades
CONF = keystone.conf.CONF
keystone.conf.configure()
from keystone.common import sql
sql.initialize()
CONF(['--config-file', sys.argv[1]], project='keystone')
project_config = upgrades.get_alembic_config()
project_config.set_main_option('sqlalchemy.url', sys.argv[2])
attributes = {'configure_logger': False}
""",
    'neutron': """
import sys
from neutron.common import config as common_config
from neutron.db.migration import cli
common_config.register_common_config_options()
# neutron-db-manage's own ConfigOpts and command line, as it parses them.
cli.CONF(['--config-file', sys.argv[1], 'upgrade', 'heads'],
         project='neutron')
project_config = cli.get_neutron_config()
attributes = {}
""",
}
ALEMBIC = """
from alembic import command
project_config.attributes.update(attributes)
command.upgrade(project_config, 'heads')
"""
ENAMEL = """
from enamel import conf as enamel_conf
from enamel import migration
conf = enamel_conf.load(['--config-file', sys.argv[1]])
migrate = migration.Migration(conf)


@migrate.configure
def the_projects_environment(config):
    for option in ('script_location', 'version_locations'):
        config.set_main_option(option,
                               project_config.get_main_option(option))
    # enamel's Config splits paths on os.pathsep; neutron's ini names no
    # separator (alembic's legacy split on spaces).
    config.set_main_option('path_separator', project_config.get_main_option(
        'path_separator', project_config.get_main_option(
            'version_path_separator', 'space')))
    config.attributes.update(attributes)
    if hasattr(project_config, 'neutron_config'):
        config.neutron_config = project_config.neutron_config
    return config


migrate.upgrade()
"""
OWN_TOOL = {
    'keystone': ['keystone-manage', 'db_sync'],
    'neutron': ['neutron-db-manage', 'upgrade', 'heads'],
}


def command(project, way, url, workdir):
    """The argv that runs ``project``'s history ``way`` on ``url``."""
    conf = os.path.join(workdir, 'service.conf')
    with open(conf, 'w') as f:
        f.write(f'[database]\nconnection = {url}\n')
    bindir = os.path.dirname(sys.executable)
    if way == 'own_tool':
        name, *args = OWN_TOOL[project]
        return [os.path.join(bindir, name), '--config-file', conf] + args
    path = os.path.join(workdir, 'run.py')
    with open(path, 'w') as f:
        f.write(SETUP[project] + (ALEMBIC if way == 'alembic' else ENAMEL))
    return [sys.executable, path, conf, url]


WAYS = ('alembic', 'own_tool', 'enamel')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('project', choices=sorted(SETUP))
    parser.add_argument('--engines', help='default: sqlite, postgresql '
                        'and mysql for keystone; mysql for neutron, whose '
                        'own tool fails on PostgreSQL (a MySQL-only ALTER '
                        'TABLE ... CONVERT TO CHARACTER SET) and which '
                        'does not support SQLite')
    args = parser.parse_args(argv)
    failed = False
    rows = []
    engines = args.engines or (
        'mysql' if args.project == 'neutron' else ','.join(ENGINES))
    for engine in engines.split(','):
        snapshots = {}
        for way in WAYS:
            workdir = tempfile.mkdtemp(prefix=f'{args.project}-{way}-')
            name = f'rh_{args.project}_{way}'
            try:
                url = database(engine, name, workdir)
                argv = command(args.project, way, url, workdir)
                start = time.monotonic()
                result = subprocess.run(argv, capture_output=True,
                                        text=True, cwd=workdir)
                seconds = time.monotonic() - start
                if result.returncode:
                    failed = True
                    print(f'{engine} {way}: exit {result.returncode}\n'
                          f'{result.stderr[-3000:]}', file=sys.stderr)
                    rows.append((engine, way, seconds, 'FAILED'))
                    continue
                snapshots[way] = snapshot(url)
                rows.append((engine, way, seconds,
                             len(snapshots[way])))
            finally:
                drop(engine, name)
                shutil.rmtree(workdir, ignore_errors=True)
        reference = snapshots.get('alembic')
        for way, found in snapshots.items():
            if reference is None or found == reference:
                continue
            failed = True
            print(f'{engine}: {way} differs from plain alembic:',
                  file=sys.stderr)
            for item in sorted(found - reference, key=str)[:20]:
                print(f'  only {way}: {item}', file=sys.stderr)
            for item in sorted(reference - found, key=str)[:20]:
                print(f'  only alembic: {item}', file=sys.stderr)
    print(f'{args.project}: engine, way, seconds, objects compared')
    for engine, way, seconds, count in rows:
        print(f'  {engine:10} {way:9} {seconds:7.2f} s  {count}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
