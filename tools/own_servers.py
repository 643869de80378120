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

"""Database servers of the fault suite's own, which it may restart and
kill (tools/faults.py): the shared servers (PostgreSQL on 5432, MariaDB
on 3306, the Galera cluster of tools/galera.sh on 13306-13308) serve
other test runs and are never touched.

- :class:`PostgreSQL`: a cluster made by ``initdb`` in a temporary
  directory, run as the ``postgres`` OS user on 127.0.0.1:5442.
- :class:`MariaDB`: a datadir made by ``mariadb-install-db`` in a
  temporary directory, ``mariadbd`` on 127.0.0.1:3316.
- :class:`Galera`: a second 3-node cluster started by tools/galera.sh
  with its ports moved by 10000 (clients on 23306-23308).

Each makes the ``openstack_citest`` user and database, starts in a few
seconds and is removed with its directory by ``stop()``. Every wait is
bounded (:data:`WAIT`). Needs root (to run the servers as their users).
"""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

import sqlalchemy as sa

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = 'openstack_citest'
WAIT = 60  # seconds for a server to answer: a bound
GALERA_OFFSET = 10000  # added to every port of tools/galera.sh


def _directory(prefix, owner):
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    shutil.chown(path, owner, owner)
    return path


def _answers(url):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool,
                              connect_args={'connect_timeout': 2})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql('SELECT 1')
        return True
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


def _wait_until(answers, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if answers():
            return
        time.sleep(0.2)
    raise RuntimeError(f'{what} did not answer within {WAIT}s')


class PostgreSQL:
    """The suite's own PostgreSQL server on 127.0.0.1:``port``."""

    driver = 'postgresql+psycopg'
    admin_database = 'postgres'

    def __init__(self, port=5442):
        self.port = port
        self.dir = None
        self.bin = sorted(glob.glob('/usr/lib/postgresql/*/bin'))[-1]

    def url(self, database=USER, port=None):
        return (f'{self.driver}://{USER}:{USER}@127.0.0.1:'
                f'{port or self.port}/{database}')

    def _ctl(self, *args):
        subprocess.run(
            ['runuser', '-u', 'postgres', '--',
             os.path.join(self.bin, 'pg_ctl'), '-D',
             os.path.join(self.dir, 'data'), *args],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=WAIT)

    def start(self):
        """Make the cluster (once) and start it; returns once it answers."""
        if self.dir is None:
            self.dir = _directory('enamel-faults-postgresql-', 'postgres')
            subprocess.run(
                ['runuser', '-u', 'postgres', '--',
                 os.path.join(self.bin, 'initdb'), '-D',
                 os.path.join(self.dir, 'data'), '-A', 'trust',
                 '-U', 'postgres', '--no-sync'],
                check=True, stdout=subprocess.DEVNULL, timeout=WAIT)
        self._ctl('-o', f'-p {self.port} -k {self.dir} '
                  "-c listen_addresses=127.0.0.1 -c fsync=off "
                  '-c max_connections=200',
                  '-l', os.path.join(self.dir, 'server.log'), '-w', 'start')
        if not hasattr(self, '_made'):
            engine = sa.create_engine(
                f'{self.driver}://postgres@127.0.0.1:{self.port}/postgres',
                isolation_level='AUTOCOMMIT', poolclass=sa.pool.NullPool)
            with engine.connect() as connection:
                connection.exec_driver_sql(
                    f"CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{USER}'")
                connection.exec_driver_sql(f'CREATE DATABASE {USER}')
            engine.dispose()
            self._made = True
        _wait_until(lambda: _answers(self.url()), 'PostgreSQL')

    def stop(self, mode='fast'):
        """Stop the server: ``fast`` (sessions ended, a clean shutdown) or
        ``immediate`` (no shutdown: crash recovery at the next start)."""
        self._ctl('-m', mode, '-w', 'stop')

    def restart(self, mode):
        self.stop(mode)
        self.start()

    def remove(self):
        if self.dir is not None:
            try:
                self.stop('immediate')
            except subprocess.SubprocessError:
                pass
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


class MariaDB:
    """The suite's own MariaDB server on 127.0.0.1:``port``."""

    driver = 'mysql+pymysql'
    admin_database = USER

    def __init__(self, port=3316):
        self.port = port
        self.dir = None
        self.process = None

    def url(self, database=USER, port=None):
        return (f'{self.driver}://{USER}:{USER}@127.0.0.1:'
                f'{port or self.port}/{database}')

    def _sql(self, statement):
        subprocess.run(
            ['mariadb', '--no-defaults', '-S',
             os.path.join(self.dir, 'mysqld.sock'), '-u', 'root', '-NBe',
             statement], check=True, stdout=subprocess.DEVNULL, timeout=WAIT)

    def start(self):
        """Make the datadir (once) and start the server; returns once it
        answers."""
        made = self.dir is not None
        if not made:
            self.dir = _directory('enamel-faults-mariadb-', 'mysql')
            subprocess.run(
                ['mariadb-install-db', '--no-defaults',
                 f'--datadir={self.dir}/data', '--user=mysql',
                 '--auth-root-authentication-method=socket',
                 '--skip-test-db'],
                check=True, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=WAIT * 2)
        with open(os.path.join(self.dir, 'server.log'), 'ab') as log:
            self.process = subprocess.Popen(
                ['/usr/sbin/mariadbd', '--no-defaults', '--user=mysql',
                 f'--datadir={self.dir}/data',
                 f'--socket={self.dir}/mysqld.sock',
                 f'--pid-file={self.dir}/mysqld.pid',
                 f'--port={self.port}', '--bind-address=127.0.0.1',
                 '--skip-name-resolve', '--innodb-buffer-pool-size=64M',
                 '--innodb-flush-log-at-trx-commit=2',
                 '--performance-schema=OFF', '--max-connections=300'],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        _wait_until(lambda: os.path.exists(
            os.path.join(self.dir, 'mysqld.sock')) and self.process.poll()
            is None and _socket_answers(self.dir), 'MariaDB')
        if not made:
            self._sql(
                f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{USER}'; "
                f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT "
                f'OPTION; CREATE DATABASE {USER}')
        _wait_until(lambda: _answers(self.url()), 'MariaDB')

    def stop(self, mode='fast'):
        """``fast``: SIGTERM, a clean shutdown; ``immediate``: SIGKILL, a
        crash (InnoDB recovers at the next start)."""
        if self.process is None:
            return
        self.process.send_signal(
            signal.SIGKILL if mode == 'immediate' else signal.SIGTERM)
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, mode):
        self.stop(mode)
        self.start()

    def remove(self):
        if self.dir is not None:
            self.stop('immediate')
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _socket_answers(directory):
    return subprocess.run(
        ['mariadb', '--no-defaults', '-S',
         os.path.join(directory, 'mysqld.sock'), '-u', 'root', '-NBe',
         'SELECT 1'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=WAIT).returncode == 0


class Galera:
    """The suite's own 3-node Galera cluster (tools/galera.sh, its ports
    moved by :data:`GALERA_OFFSET`): node N serves clients on
    127.0.0.1:``23305 + N``."""

    driver = 'mysql+pymysql'
    admin_database = USER
    nodes = (1, 2, 3)

    def __init__(self):
        self.dir = None
        self.port = self.node_port(1)

    def node_port(self, node):
        return 13305 + GALERA_OFFSET + node

    def url(self, database=USER, port=None):
        return (f'{self.driver}://{USER}:{USER}@127.0.0.1:'
                f'{port or self.port}/{database}')

    def start(self):
        """Start the nodes that do not run (the first time: a new cluster);
        returns once all three are Synced (tools/galera.sh waits)."""
        if self.dir is None:
            self.dir = _directory('enamel-faults-galera-', 'mysql')
        subprocess.run(
            ['bash', os.path.join(REPO_ROOT, 'tools', 'galera.sh')],
            env=dict(os.environ, ENAMEL_GALERA_DIR=self.dir,
                     ENAMEL_GALERA_PORT_OFFSET=str(GALERA_OFFSET)),
            check=True, stdout=subprocess.DEVNULL, timeout=WAIT * 6)

    def pid(self, node):
        with open(os.path.join(self.dir, f'node{node}', 'mysqld.pid')) as f:
            return int(f.read().strip())

    def kill(self, node):
        """``kill -9`` node ``node``'s server; returns once it is gone."""
        _kill(self.pid(node))

    def remove(self):
        if self.dir is None:
            return
        for node in self.nodes:
            try:
                _kill(self.pid(node))
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


def _kill(pid):
    """SIGKILL ``pid`` and wait (bounded) until it is gone (tools/galera.sh
    started it in the background and exited: init reaps it)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
