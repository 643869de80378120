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

"""The engine enamel builds (:func:`enamel.db.create_engine`): read-only
engines that never create or change a file, the driver chosen for a URL
that names none, and the hint given when a driver is missing."""

import os
import sys
from unittest import mock

import sqlalchemy as sa

from enamel import access as access_
from enamel import conf as enamel_conf
from enamel import databases
from enamel import db
from enamel import exception
from tests import base

PASSWORD = 'Pw-3d9a-NeverPrinted'


def uninstalled(*modules):
    """Make ``import`` of ``modules`` fail as it does where they are not
    installed (a ``None`` entry in ``sys.modules``)."""
    return mock.patch.dict(sys.modules, {name: None for name in modules})


class EngineTestCase(base.TestCase):

    def engine_for(self, url, read_only=False):
        conf = enamel_conf.load(default_config_files=[])
        conf.set_override('connection', url, group='database')
        engine = db.create_engine(conf, read_only=read_only)
        self.addCleanup(engine.dispose)
        return engine

    def refused(self, url):
        """The ConfigError message for ``url``."""
        conf = enamel_conf.load(default_config_files=[])
        conf.set_override('connection', url, group='database')
        error = self.assertRaises(exception.ConfigError,
                                  db.create_engine, conf)
        message = str(error)
        self.assertNotIn(PASSWORD, message)
        self.assertEqual(1, len(message.splitlines()), message)
        return message


class ReadOnlySQLiteTest(EngineTestCase):

    def files(self):
        return sorted(os.listdir(self.workdir))

    def snapshot(self, path):
        with open(path, 'rb') as f:
            return f.read(), os.stat(path).st_mtime_ns

    def test_missing_file_reads_as_an_empty_database(self):
        path = os.path.join(self.workdir, 'enamel.sqlite')
        engine = self.engine_for(f'sqlite:///{path}', read_only=True)
        with engine.connect() as connection:
            self.assertEqual([], sa.inspect(connection).get_table_names())
        self.assertEqual([], self.files())

    def test_missing_relative_file_is_not_created_either(self):
        with base._chdir(self.workdir):
            engine = self.engine_for('sqlite:///enamel.sqlite',
                                     read_only=True)
            with engine.connect() as connection:
                self.assertEqual(
                    [], sa.inspect(connection).get_table_names())
        self.assertEqual([], self.files())

    def test_missing_directory_is_an_error_not_an_empty_database(self):
        # upgrade could not create the file there either: check must not
        # report "upgrade pending" for a database no upgrade can make.
        path = os.path.join(self.workdir, 'no', 'such', 'enamel.sqlite')
        error = self.assertRaises(exception.DatabaseError, self.engine_for,
                                  f'sqlite:///{path}', read_only=True)
        self.assertIn('does not exist', str(error))
        self.assertEqual([], self.files())

    def test_writing_engine_creates_the_file(self):
        path = os.path.join(self.workdir, 'enamel.sqlite')
        engine = self.engine_for(f'sqlite:///{path}')
        with engine.begin() as connection:
            connection.execute(sa.text('CREATE TABLE t (x INTEGER)'))
        self.assertEqual(['enamel.sqlite'], self.files())

    def existing(self, name='enamel.sqlite'):
        path = os.path.join(self.workdir, name)
        engine = self.engine_for(f'sqlite:///{path}')
        with engine.begin() as connection:
            connection.execute(sa.text('CREATE TABLE t (x INTEGER)'))
            connection.execute(sa.text('INSERT INTO t VALUES (1)'))
        return path

    def test_existing_file_is_read_and_never_written(self):
        path = self.existing()
        before = self.snapshot(path)
        engine = self.engine_for(f'sqlite:///{path}', read_only=True)
        with engine.connect() as connection:
            self.assertEqual([1], list(connection.execute(
                sa.text('SELECT x FROM t')).scalars()))
            error = self.assertRaises(
                sa.exc.OperationalError, connection.execute,
                sa.text('INSERT INTO t VALUES (2)'))
            self.assertIn('readonly database', str(error))
            connection.rollback()
        self.assertEqual(before, self.snapshot(path))
        self.assertEqual(['enamel.sqlite'], self.files())

    def test_file_name_with_uri_characters(self):
        # Characters that mean something in an SQLite URI filename (and
        # that an SQLAlchemy URL can carry).
        path = self.existing('my db #1.sqlite')
        engine = self.engine_for(f'sqlite:///{path}', read_only=True)
        with engine.connect() as connection:
            self.assertEqual(['t'], sa.inspect(connection).get_table_names())
        self.assertEqual(['my db #1.sqlite'], self.files())

    def test_in_memory_url_is_left_alone(self):
        engine = self.engine_for('sqlite://', read_only=True)
        with engine.connect() as connection:
            self.assertEqual([], sa.inspect(connection).get_table_names())
        self.assertEqual([], self.files())


class SQLiteJournalTest(EngineTestCase):
    """A writing SQLite connection keeps its rollback journal between
    commits (PERSIST) and removes it when it closes."""

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.workdir, 'journal.sqlite')
        self.url = f'sqlite:///{self.path}'

    def journal_files(self):
        return [f for f in os.listdir(self.workdir)
                if f.startswith('journal.sqlite-')]

    def test_the_journal_is_kept_between_commits_and_removed_at_close(self):
        engine = self.engine_for(self.url)
        with engine.connect() as conn:
            self.assertEqual('persist', conn.connection.driver_connection
                             .execute('PRAGMA journal_mode').fetchone()[0])
            for value in range(3):
                with conn.begin():
                    conn.exec_driver_sql('CREATE TABLE IF NOT EXISTS t (x)')
                    conn.exec_driver_sql(f'INSERT INTO t VALUES ({value})')
            self.assertEqual(['journal.sqlite-journal'], self.journal_files())
            # Another connection sees the committed rows, not a hot journal.
            other = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
            with other.connect() as reader:
                self.assertEqual(3, reader.exec_driver_sql(
                    'SELECT count(*) FROM t').scalar())
                self.assertEqual('delete', reader.exec_driver_sql(
                    'PRAGMA journal_mode').scalar())
            other.dispose()
        self.assertEqual([], self.journal_files())

    def test_a_write_waits_for_a_service_as_long_as_for_the_lock(self):
        # pysqlite's own busy timeout is 5 s; a service's write transaction
        # may last longer than that during a rolling upgrade.
        for seconds in (300, 0):
            conf = enamel_conf.load(default_config_files=[])
            conf.set_override('connection', self.url, group='database')
            conf.set_override('migration_lock_timeout', seconds,
                              group='database')
            engine = db.create_engine(conf)
            self.addCleanup(engine.dispose)
            with engine.connect() as conn:
                self.assertEqual(seconds * 1000, conn.connection
                                 .driver_connection.execute(
                                     'PRAGMA busy_timeout').fetchone()[0])

    def test_an_upgrade_leaves_no_journal_file(self):
        config = self.write_config(self.url)
        self.assertSucceeded(self.sync('upgrade', config_file=config))
        self.assertEqual([], self.journal_files())

    def test_a_database_in_wal_mode_is_left_in_it(self):
        other = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        with other.connect() as conn:
            conn.exec_driver_sql('PRAGMA journal_mode=WAL')
        other.dispose()
        engine = self.engine_for(self.url)
        with engine.begin() as conn:
            self.assertEqual('wal', conn.exec_driver_sql(
                'PRAGMA journal_mode').scalar())
            conn.exec_driver_sql('CREATE TABLE t (x)')
        with engine.connect() as conn:
            self.assertEqual('wal', conn.exec_driver_sql(
                'PRAGMA journal_mode').scalar())


class DriverTests:
    """On a real server: a URL that names no driver connects through the
    driver of enamel-sync's extras."""

    DRIVERS = {'mysql': 'pymysql', 'postgresql': 'psycopg'}

    def bare_url(self, **parts):
        url = sa.engine.make_url(self.url).set(drivername=self.BACKEND,
                                               **parts)
        return url.render_as_string(hide_password=False)

    def test_url_without_driver_uses_the_extras_driver(self):
        engine = self.engine_for(self.bare_url())
        self.assertEqual(self.DRIVERS[self.BACKEND], engine.dialect.driver)
        with engine.connect() as connection:
            self.assertEqual(1, connection.execute(
                sa.text('SELECT 1')).scalar())

    def test_read_only_changes_nothing_on_a_server(self):
        engine = self.engine_for(self.url, read_only=True)
        self.assertEqual(sa.engine.make_url(self.url), engine.url)

    def access(self):
        conf = enamel_conf.load(default_config_files=[])
        conf.set_override('connection', self.url, group='database')
        return access_.Access(conf, databases.MAIN)

    def session_id(self, connection):
        return connection.exec_driver_sql(self.SESSION_ID).scalar()

    def test_the_migration_goes_on_on_the_looks_connection(self):
        access = self.access()
        with access.looking() as connection:
            looked = self.session_id(connection)
        with access.locked() as (connection, _held):
            self.assertEqual(looked, self.session_id(connection))

    def test_a_look_whose_server_session_ended_is_followed_by_a_new_one(
            self):
        # As after a server restart between the look and the lock.
        access = self.access()
        with access.looking() as connection:
            looked = self.session_id(connection)
        with sa.create_engine(self.url).begin() as admin:
            admin.exec_driver_sql(self.KILL.format(looked))
        with access.locked() as (connection, _held):
            self.assertNotEqual(looked, self.session_id(connection))

    def test_wrong_password_without_driver_is_not_printed(self):
        # The whole command line, with --debug (tracebacks shown).
        url = self.bare_url(password=PASSWORD, host='127.0.0.1')
        if self.BACKEND == 'postgresql':
            # tools/test-setup.sh makes the server ask this role for its
            # password.
            self.require_role('openstack_citest_pw')
            url = self.bare_url(password=PASSWORD, host='127.0.0.1',
                                username='openstack_citest_pw')
        config_file = self.write_config(url, name='wrong.conf',
                                        connect_timeout=5)
        for argv in (['version'], ['--debug', 'version']):
            result = self.sync(*argv, config_file=config_file)
            self.assertEqual(1, result.code, result)
            self.assertNotIn(PASSWORD, result.stdout + result.stderr)
            self.assertIn('cannot connect', result.stderr)


class MySQLDriverTest(DriverTests, base.MySQLBackend, EngineTestCase):

    SESSION_ID = 'SELECT CONNECTION_ID()'
    KILL = 'KILL {}'

    def sql_mode(self, **options):
        conf = enamel_conf.load(default_config_files=[])
        conf.set_override('connection', self.url, group='database')
        for name, value in options.items():
            conf.set_override(name, value, group='database')
        engine = db.create_engine(conf)
        self.addCleanup(engine.dispose)
        with engine.connect() as connection:
            return set(connection.exec_driver_sql(
                'SELECT @@SESSION.sql_mode').scalar().split(','))

    def test_sessions_are_strict_as_oslo_db_makes_them(self):
        # TRADITIONAL, as MySQL expands it.
        self.assertTrue({'STRICT_TRANS_TABLES', 'STRICT_ALL_TABLES',
                         'NO_ZERO_DATE', 'TRADITIONAL'} <= self.sql_mode())

    def test_sql_mode_is_configurable(self):
        self.assertEqual({'ANSI_QUOTES'},
                         self.sql_mode(mysql_sql_mode='ANSI_QUOTES'))
        with sa.create_engine(self.url).connect() as connection:
            server = set(connection.exec_driver_sql(
                'SELECT @@GLOBAL.sql_mode').scalar().split(','))
        self.assertEqual(server, self.sql_mode(mysql_sql_mode=''))


class PostgreSQLDriverTest(DriverTests, base.PostgreSQLBackend,
                           EngineTestCase):

    SESSION_ID = 'SELECT pg_backend_pid()'
    KILL = 'SELECT pg_terminate_backend({})'


class MissingDriverTest(EngineTestCase):

    def test_bare_postgresql_url_names_the_extra(self):
        with uninstalled('psycopg', 'psycopg2'):
            message = self.refused(
                f'postgresql://enamel:{PASSWORD}@127.0.0.1/enamel')
        self.assertIn("no database driver for 'postgresql' is installed",
                      message)
        self.assertIn('install enamel-sync[postgresql] (which installs '
                      'psycopg[binary])', message)

    def test_bare_mysql_url_names_the_extra(self):
        for scheme in ('mysql', 'mariadb'):
            with uninstalled('pymysql', 'MySQLdb'):
                message = self.refused(
                    f'{scheme}://enamel:{PASSWORD}@127.0.0.1/enamel')
            self.assertIn(f"no database driver for '{scheme}'", message)
            self.assertIn('install enamel-sync[mysql] (which installs '
                          'PyMySQL)', message)

    def test_named_driver_missing_names_its_package(self):
        cases = {
            'mysql+mysqldb': 'install mysqlclient',
            'postgresql+psycopg2': 'install psycopg2-binary',
            'postgresql+pg8000': 'install pg8000',
            'mysql+mysqlconnector': 'install mysql-connector-python',
        }
        modules = ('MySQLdb', 'psycopg2', 'pg8000', 'mysql',
                   'mysql.connector')
        for drivername, expected in cases.items():
            with uninstalled(*modules):
                message = self.refused(
                    f'{drivername}://enamel:{PASSWORD}@127.0.0.1/enamel')
            self.assertIn(f"the database driver for '{drivername}' is not "
                          f"installed", message)
            self.assertIn(expected, message)
            backend = drivername.split('+')[0]
            self.assertIn({'mysql': 'or use mysql+pymysql:// '
                                    '(enamel-sync[mysql] installs PyMySQL)',
                           'postgresql': 'or use postgresql+psycopg:// '
                                         '(enamel-sync[postgresql] installs '
                                         'psycopg[binary])'}[backend],
                          message)

    def test_extras_driver_missing_names_the_extra(self):
        with uninstalled('psycopg'):
            message = self.refused(
                f'postgresql+psycopg://enamel:{PASSWORD}@127.0.0.1/x')
        self.assertIn('install psycopg[binary] (enamel-sync[postgresql] '
                      'installs it)', message)
