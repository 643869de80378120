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

"""Test bases shared by unit and functional tests.

A test picks its engine by mixing in one of ``SQLiteBackend``,
``MySQLBackend`` or ``PostgreSQLBackend`` in front of its case class; each
gives it a throwaway database of its own (a temporary file for SQLite,
oslo.db's provisioning of a randomly named database on the
``openstack_citest`` servers otherwise), so tests run in parallel safely.
``GaleraBackend`` (the 3-node cluster of ``tools/galera.sh``) and
``PgBouncerBackend`` (``tools/pgbouncer.sh``) are the topologies operators
run; the concurrency, failure and kill tests run on them too.
A missing server skips those tests on a laptop and fails them under CI.
"""

import contextlib
import glob
import io
import os
import shutil
import socket
import subprocess
import sys
import uuid

import fixtures
from oslo_db.sqlalchemy import test_fixtures
from oslotest import base as oslotest_base
import sqlalchemy as sa

from enamel import conf as enamel_conf
from enamel import databases
from enamel import journal
from enamel import lock
from enamel import migration
from enamel.cmd import sync

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNDER_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')


class Result:
    """What one run of enamel-sync did."""

    def __init__(self, code, stdout, stderr):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return (f'Result(code={self.code!r}, stdout={self.stdout!r}, '
                f'stderr={self.stderr!r})')


class TestCase(oslotest_base.BaseTestCase):
    """A case with a private working directory and no stray configuration."""

    # ``[database]`` options every config file of the case gets.
    DATABASE_OPTIONS = {}
    # None on a single server; 'Galera' or 'PgBouncer' otherwise.
    TOPOLOGY = None

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.EnvironmentVariable(
            'OS_DATABASE__CONNECTION'))
        # Nothing reads the developer's own ~/.enamel or /etc/enamel.
        self.useFixture(fixtures.EnvironmentVariable('HOME', self.workdir))

    def write_config(self, url=None, name='enamel.conf', **database):
        """Write a config file with ``[database]`` options; its path."""
        path = os.path.join(self.workdir, name)
        lines = ['[database]']
        if url is not None:
            lines.append(f'connection = {url}')
        database = dict(self.DATABASE_OPTIONS, **database)
        lines.extend(f'{k} = {v}' for k, v in database.items())
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def sync(self, *argv, config_file=None):
        """Run ``main([...])`` in-process; a :class:`Result`."""
        if config_file is None and getattr(self, 'url', None):
            config_file = getattr(self, 'config_file', None)
        args = list(argv)
        if config_file:
            args = ['--config-file', config_file] + args
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr), \
                _chdir(self.workdir):
            code = sync.main(args, default_config_files=[])
        return Result(code, stdout.getvalue(), stderr.getvalue())

    def sync_process(self, *argv, config_file=None, env=None, timeout=300,
                     wait=True):
        """Run the installed ``enamel-sync`` console script."""
        if config_file is None:
            config_file = getattr(self, 'config_file', None)
        args = [enamel_sync_executable()]
        if config_file:
            args += ['--config-file', config_file]
        args += list(argv)
        process_env = dict(os.environ, HOME=self.workdir)
        process_env.pop('OS_DATABASE__CONNECTION', None)
        process_env.update(env or {})
        process = subprocess.Popen(
            args, cwd=self.workdir, env=process_env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        if not wait:
            return process
        stdout, stderr = process.communicate(timeout=timeout)
        return Result(process.returncode, stdout, stderr)

    def make_migration(self, version_path=None):
        """A Migration for the test's database (its own NullPool engine,
        built from the config file as enamel-sync builds it), optionally
        loading extra revisions from ``version_path``."""
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        migrate = migration.Migration(conf)
        if version_path:
            @migrate.configure
            def extra_versions(config):
                locations = config.get_main_option('version_locations')
                config.set_main_option('version_locations',
                                       locations + os.pathsep + version_path)
                return config
        self.addCleanup(migrate.engine.dispose)
        return migrate

    def load_conf(self, config_file=None):
        """A ConfigOpts read from ``config_file`` (default: the test's)."""
        return enamel_conf.load(
            ['--config-file', config_file or self.config_file],
            default_config_files=[])

    def tables(self):
        """The tables in the test's database, but for the migration lock's
        and the progress journal's (enamel's bookkeeping, created by the
        first writing command)."""
        return set(sa.inspect(self.engine).get_table_names()) - {
            lock.LOCK_TABLE, journal.JOURNAL_TABLE}

    def lock_row(self, database=databases.MAIN):
        """``database``'s row of the migration lock table as a dict (None:
        no lock table)."""
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(lock.LOCK_TABLE):
                return None
            row = connection.execute(sa.text(lock.READ),
                                     dict(row=database.lock_row)).first()
        return row._asdict() if row is not None else None

    def stored_version(self):
        """The version table's rows, read directly ([] without one)."""
        with self.engine.connect() as connection:
            if 'alembic_version' not in (
                    sa.inspect(connection).get_table_names()):
                return []
            return list(connection.execute(sa.text(
                'SELECT version_num FROM alembic_version')).scalars())

    def assertSucceeded(self, result):
        self.assertEqual(0, result.code, result)
        return result

    def scratch_environment(self, *packages):
        """Copy ``alembic_migrations`` (and ``packages``, e.g. 'enamel')
        into ``<workdir>/scratch``; the environment variables under which
        :meth:`sync_process` uses the copies instead of the real ones.

        For tests that write revision files or change models.
        """
        root = os.path.join(self.workdir, 'scratch')
        for package in ('alembic_migrations',) + packages:
            shutil.copytree(os.path.join(REPO_ROOT, package),
                            os.path.join(root, package),
                            ignore=shutil.ignore_patterns('__pycache__'))
        return {'PYTHONPATH': root}


class ScratchEnvironment:
    """A test mixin: a scratch copy of ``alembic_migrations`` and
    ``enamel`` (see :meth:`TestCase.scratch_environment`) that
    :meth:`run_sync` runs the console script on, for tests that write
    revision files or change models."""

    def setUp(self):
        super().setUp()
        self.env = self.scratch_environment('enamel')
        self.scratch = self.env['PYTHONPATH']
        self.versions = os.path.join(self.scratch, 'alembic_migrations',
                                     'versions')

    def run_sync(self, *argv, config_file=None):
        return self.sync_process(*argv, env=self.env,
                                 config_file=config_file)

    def revision_files(self):
        return sorted(glob.glob(os.path.join(self.versions, '*.py')))

    def flake8(self, path):
        """flake8 on ``path`` as the project runs it: from the root of the
        scratch copy, with the project's tox.ini."""
        shutil.copy(os.path.join(REPO_ROOT, 'tox.ini'), self.scratch)
        return subprocess.run(
            [sys.executable, '-m', 'flake8',
             os.path.relpath(path, self.scratch)],
            cwd=self.scratch, capture_output=True, text=True, timeout=120)


def bundled_script(database=databases.MAIN):
    """The ``ScriptDirectory`` of a database's bundled revisions (default
    main), as enamel-sync loads them: tests read heads and revision ids
    from it, so that adding a revision keeps them green."""
    return migration.Migration(None, database=database).script


def upgraded_version(script):
    """The revision ids, sorted, that the version table holds once
    ``upgrade`` applied every revision of ``script``: alembic's ``heads``
    (a head that another head depends on, the expand head under a
    contract head, is not kept)."""
    return sorted(r.revision for r in script.get_revisions('heads'))


def tip(script):
    """Where a plain new revision goes: the one head, or in the
    rolling-upgrade layout the head of the expand branch (a revision
    without a label written there is an expand revision)."""
    heads = script.get_revisions(script.get_heads())
    if len(heads) == 1:
        return heads[0].revision
    (expand,) = [h.revision for h in heads if 'expand' in h.branch_labels]
    return expand


def first_revision(script):
    """The id of the revision that revises base (the history has one)."""
    bases = script.get_bases()
    assert len(bases) == 1, f'the history has {len(bases)} bases: {bases}'
    return bases[0]


def enamel_sync_executable():
    """The console script installed next to this Python."""
    candidate = os.path.join(os.path.dirname(sys.executable), 'enamel-sync')
    if os.path.exists(candidate):
        return candidate
    return shutil.which('enamel-sync') or candidate


@contextlib.contextmanager
def _chdir(path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class SQLiteBackend:
    """A fresh SQLite file in the test's working directory."""

    BACKEND = 'sqlite'

    def setUp(self):
        super().setUp()
        self.db_path = os.path.join(self.workdir, 'enamel.sqlite')
        self.url = f'sqlite:///{self.db_path}'
        self.config_file = self.write_config(self.url)
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        self.addCleanup(self.engine.dispose)


PREPARE = 'prepare it with: sudo tools/test-setup.sh'
# The admin URLs of oslo.db's provisioning, as tox.ini sets them.
ADMIN_URLS = {
    'mysql': 'mysql+pymysql://openstack_citest:openstack_citest@localhost/',
    'postgresql': 'postgresql+psycopg://openstack_citest:openstack_citest@'
                  'localhost/postgres',
}


def _admin_url(backend):
    """The URL oslo.db's provisioning connects to for ``backend``."""
    for url in os.environ.get('OS_TEST_DBAPI_ADMIN_CONNECTION',
                              '').split(';'):
        if url.startswith(backend):
            return sa.engine.make_url(url)
    return sa.engine.make_url(ADMIN_URLS[backend])


def _listening(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def unprepared(test, what, reason):
    """A server that is up but not prepared for the tests (no
    openstack_citest role, database or password rule): skip with the
    reason and the command that prepares it; under CI, fail."""
    message = f'{what} is up but not prepared for the tests ({reason}); ' \
              f'{PREPARE}'
    if UNDER_CI:
        test.fail(message)
    test.skipTest(message)


class _ProvisionedBackend(test_fixtures.OpportunisticDBTestMixin):
    # Under CI a server that is down fails the run instead of skipping it.
    SKIP_ON_UNAVAILABLE_DB = not UNDER_CI

    def setUp(self):
        try:
            super().setUp()
        except (self.skipException, self.failureException) as exc:
            self._explain_skip(str(exc))
            raise
        self.engine = self._get_default_provisioned_db().engine
        self.url = self.engine.url.render_as_string(hide_password=False)
        self.config_file = self.write_config(self.url)

    def _explain_skip(self, reason):
        """oslo.db skips a backend it cannot provision; say why, and how
        to fix it, when the server itself answers."""
        url = _admin_url(self.BACKEND)
        host, port = url.host or 'localhost', url.port or (
            3306 if self.BACKEND == 'mysql' else 5432)
        where = f'{self.BACKEND} on {host}:{port}'
        if 'No DBAPI' in reason:
            message = (f'{reason}: run the tests through tox, which sets '
                       'OS_TEST_DBAPI_ADMIN_CONNECTION to enamel\'s '
                       'drivers, or set it as tox.ini does')
            if UNDER_CI:
                self.fail(message)
            self.skipTest(message)
        if _listening(host, port):
            unprepared(self, where, reason)

    def require_role(self, role):
        """Skip (fail under CI) unless PostgreSQL has ``role``, which
        tools/test-setup.sh creates."""
        with self.engine.connect() as connection:
            found = connection.execute(sa.text(
                'SELECT 1 FROM pg_roles WHERE rolname = :role'),
                dict(role=role)).first()
        if found is None:
            unprepared(self, f'PostgreSQL at {self.engine.url.host}',
                       f'no role {role}')


class MySQLBackend(_ProvisionedBackend):
    """A throwaway database on MariaDB/MySQL."""

    BACKEND = 'mysql'
    FIXTURE = test_fixtures.MySQLOpportunisticFixture


class PostgreSQLBackend(_ProvisionedBackend):
    """A throwaway database on PostgreSQL."""

    BACKEND = 'postgresql'
    FIXTURE = test_fixtures.PostgresqlOpportunisticFixture


CITEST = 'openstack_citest'
GALERA_PORTS = (13306, 13307, 13308)
PGBOUNCER_PORT = 6432


class _TopologyBackend:
    """A throwaway database of the test's own, created through an admin
    connection; ``self.urls`` and ``self.config_files`` hold one entry per
    way in (a Galera node), ``self.url`` and ``self.config_file`` the
    first. :meth:`use_new_database` switches to a fresh one."""

    SCRIPT = None

    def setUp(self):
        super().setUp()
        self.use_new_database()

    def _unavailable(self, what, exc):
        message = (f'{what} is not available ({_first_line(exc)}); start '
                   f'it with tools/{self.SCRIPT}')
        if UNDER_CI:
            self.fail(message)
        self.skipTest(message)

    def use_new_database(self):
        name = f'enamel_{uuid.uuid4().hex[:12]}'
        self._create_database(name)
        self.urls = self._urls(name)
        self.url = self.urls[0]
        self.config_files = [
            self.write_config(url, name=f'{name}-{number}.conf')
            for number, url in enumerate(self.urls)]
        self.config_file = self.write_config(self.url)
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        self.addCleanup(self.engine.dispose)
        return name


class GaleraBackend(_TopologyBackend):
    """A throwaway database on the 3-node Galera cluster on loopback,
    reachable through each node (``self.urls``)."""

    BACKEND = 'mysql'
    TOPOLOGY = 'Galera'
    SCRIPT = 'galera.sh'

    def _url(self, port, database):
        return (f'mysql+pymysql://{CITEST}:{CITEST}@127.0.0.1:{port}/'
                f'{database}')

    def _urls(self, name):
        return [self._url(port, name) for port in GALERA_PORTS]

    def _create_database(self, name):
        admin = sa.create_engine(self._url(GALERA_PORTS[0], ''),
                                 poolclass=sa.pool.NullPool)
        self.addCleanup(admin.dispose)
        try:
            with admin.connect() as connection:
                size = connection.exec_driver_sql(
                    "SHOW STATUS LIKE 'wsrep_cluster_size'").first()
                if size is None or int(size[1]) != len(GALERA_PORTS):
                    raise RuntimeError(f'cluster size {size and size[1]}')
                connection.exec_driver_sql(f'CREATE DATABASE {name}')
        except (sa.exc.DBAPIError, RuntimeError) as exc:
            self._unavailable('the Galera cluster on 127.0.0.1:'
                              f'{GALERA_PORTS[0]}-{GALERA_PORTS[-1]}', exc)

        def drop():
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS {name}')
        self.addCleanup(drop)


class PgBouncerBackend(_TopologyBackend):
    """A throwaway database on the PostgreSQL server, reached through
    PgBouncer in transaction pooling."""

    BACKEND = 'postgresql'
    TOPOLOGY = 'PgBouncer'
    SCRIPT = 'pgbouncer.sh'

    def _urls(self, name):
        return [f'postgresql+psycopg://{CITEST}:{CITEST}@127.0.0.1:'
                f'{PGBOUNCER_PORT}/{name}']

    def _create_database(self, name):
        admin = sa.create_engine(
            f'postgresql+psycopg://{CITEST}:{CITEST}@127.0.0.1:5432/'
            f'{CITEST}', poolclass=sa.pool.NullPool,
            isolation_level='AUTOCOMMIT')
        self.addCleanup(admin.dispose)
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE {name}')
        except sa.exc.DBAPIError as exc:
            self._unavailable('PostgreSQL on 127.0.0.1:5432', exc)

        def drop():
            # PgBouncer keeps server sessions to it open.
            with admin.connect() as connection:
                connection.exec_driver_sql(
                    f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
        self.addCleanup(drop)
        probe = sa.create_engine(self._urls(name)[0],
                                 poolclass=sa.pool.NullPool)
        try:
            with probe.connect() as connection:
                connection.exec_driver_sql('SELECT 1')
        except sa.exc.DBAPIError as exc:
            self._unavailable(f'PgBouncer on 127.0.0.1:{PGBOUNCER_PORT}', exc)
        finally:
            probe.dispose()


def _first_line(exc):
    text = str(getattr(exc, 'orig', None) or exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


BACKENDS = (SQLiteBackend, MySQLBackend, PostgreSQLBackend)
TOPOLOGIES = (GaleraBackend, PgBouncerBackend)


def for_each_backend(case, module_globals, topologies=False):
    """Define ``<Case>SQLite``, ``<Case>MySQL`` and ``<Case>PostgreSQL``,
    and with ``topologies`` also ``<Case>Galera`` and ``<Case>PgBouncer``.

    ``case`` must not itself derive from ``unittest.TestCase``'s runnable
    bases' test discovery: define it as a mixin (``class XTests:``) and let
    this function build the runnable classes in the calling module.
    """
    names = {SQLiteBackend: 'SQLite', MySQLBackend: 'MySQL',
             PostgreSQLBackend: 'PostgreSQL', GaleraBackend: 'Galera',
             PgBouncerBackend: 'PgBouncer'}
    for backend in BACKENDS + (TOPOLOGIES if topologies else ()):
        name = case.__name__.replace('Tests', '') + names[backend]
        cls = type(name, (backend, case, TestCase), {
            '__module__': module_globals['__name__']})
        module_globals[name] = cls
