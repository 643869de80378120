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

"""enamel's configuration options and the one helper that loads them."""

from oslo_config import cfg

DEFAULT_CONNECTION = 'sqlite:///enamel.sqlite'

database_opts = [
    cfg.StrOpt(
        'connection',
        secret=True,
        default=DEFAULT_CONNECTION,
        help='SQLAlchemy URL of the enamel database, for example '
             'mysql+pymysql://enamel:secret@db/enamel or '
             'postgresql+psycopg://enamel:secret@db/enamel. The default '
             'is an SQLite file named enamel.sqlite in the current '
             'working directory. Also read from the environment variable '
             'OS_DATABASE__CONNECTION.'),
    cfg.IntOpt(
        'connect_timeout',
        default=10,
        min=1,
        help='Seconds to wait for the database server to accept a '
             'connection before giving up (MySQL/MariaDB and PostgreSQL).'),
    cfg.IntOpt(
        'migration_lock_timeout',
        default=300,
        min=0,
        help='Seconds that upgrade, downgrade and stamp wait for the '
             'migration lock held by another enamel-sync process before '
             'giving up with an error. 0 means do not wait at all. On '
             'SQLite it is also how long a write of enamel-sync waits for '
             'another connection\'s write transaction (a service\'s) '
             'before "database is locked".'),
    cfg.IntOpt(
        'migration_lock_lease',
        default=30,
        min=1,
        help='Seconds after which the migration lock of an enamel-sync '
             'process that stopped renewing it (killed, or cut off from '
             'the database) is taken over by a waiting one, on '
             'PostgreSQL (also behind PgBouncer) and MySQL/MariaDB (also '
             'Galera). The holder renews it every third of this. Keep it '
             'longer than the longest stall a live holder may have: on a '
             'Galera cluster, the longest DDL statement of a migration, '
             'which blocks every commit in the cluster. Not used on '
             'SQLite, where the kernel releases the lock of a dead '
             'process.'),
    cfg.StrOpt(
        'mysql_sql_mode',
        default='TRADITIONAL',
        help='The sql_mode of enamel-sync\'s MySQL/MariaDB sessions, as '
             'oslo.db sets it for the services: TRADITIONAL (strict: a '
             'value that does not fit is an error, not a warning). An '
             'empty value leaves the server\'s default.'),
]


# The optional second database (see enamel.databases): unset, enamel has
# one database and behaves as it always did.
api_database_opts = [
    cfg.StrOpt(
        'connection',
        secret=True,
        help='SQLAlchemy URL of the enamel API database, which has its own '
             'revisions, models, version table (alembic_version_api) and '
             'migration lock. Unset (the default), there is no API '
             'database and enamel-sync manages [database] alone. It may '
             'be on another server, or even be the same database as '
             '[database] connection. Also read from the environment '
             'variable OS_API_DATABASE__CONNECTION.'),
    cfg.IntOpt(
        'connect_timeout',
        default=10,
        min=1,
        help='As [database] connect_timeout, for the API database.'),
    cfg.IntOpt(
        'migration_lock_timeout',
        default=300,
        min=0,
        help='As [database] migration_lock_timeout, for the API '
             'database\'s own migration lock.'),
    cfg.IntOpt(
        'migration_lock_lease',
        default=30,
        min=1,
        help='As [database] migration_lock_lease, for the API database\'s '
             'own migration lock.'),
    cfg.StrOpt(
        'mysql_sql_mode',
        default='TRADITIONAL',
        help='As [database] mysql_sql_mode, for the API database.'),
]


def register_opts(conf):
    """Register enamel's options on a ConfigOpts instance.

    :param conf: an ``oslo_config.cfg.ConfigOpts``.
    """
    conf.register_opts(database_opts, group='database')
    conf.register_opts(api_database_opts, group='api_database')


def list_opts():
    """The options for oslo-config-generator and the sphinx extension."""
    return [('database', database_opts),
            ('api_database', api_database_opts)]


def load(args=None, default_config_files=None):
    """Build and parse a ConfigOpts holding enamel's options.

    Used by Python callers and by ``alembic_migrations/env.py`` when it is
    run by a tool other than enamel-sync (plain ``alembic``, a test plugin).

    :param args: command-line style arguments, for example
        ``['--config-file', '/etc/enamel/enamel.conf']``.
    :param default_config_files: config files to read when none is given;
        ``None`` means oslo.config's standard search for enamel.conf.
    """
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf(args or [], project='enamel',
         default_config_files=default_config_files)
    return conf
