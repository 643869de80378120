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

"""enamel's configuration options, the one helper that loads them, and
the checks that a configuration given configures something."""

import difflib
import glob
import os

from oslo_config import cfg
from oslo_config import types

from enamel import exception

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
    cfg.IntOpt(
        'ddl_lock_timeout',
        default=10,
        min=0,
        help='Seconds a revision\'s DDL statement waits for a lock held by '
             'another session (a service\'s long transaction) before it '
             'gives up, so that it does not block every query queued '
             'behind it: PostgreSQL lock_timeout (set per transaction; a '
             'statement of an autocommit_block, outside any transaction, '
             'is cancelled once it waited that long for a table lock), '
             'MySQL/MariaDB lock_wait_timeout and innodb_lock_wait_timeout '
             '(per session; also bound the lock\'s own statements). The '
             'revision is then rolled back (or, on MySQL, resumed) and run '
             'again, up to ddl_lock_retries times. 0: wait without limit.'),
    cfg.IntOpt(
        'ddl_lock_retries',
        default=5,
        min=0,
        help='How many times a revision that gave up waiting for a lock '
             '(ddl_lock_timeout) is run again, after 1, 2, 4 ... seconds '
             '(30 at most), before the upgrade fails naming the oldest '
             'open transactions.'),
    cfg.IntOpt(
        'connection_debug',
        default=0,
        min=0,
        max=100,
        help='Verbosity of SQL logging, as oslo.db names it: 0 none, 50 '
             'every SQL statement enamel-sync runs, 100 also the rows '
             'they return (on stderr, and in the log file when one is '
             'configured). --debug does not echo SQL. Also read from '
             'the environment variable OS_DATABASE__CONNECTION_DEBUG.'),
    cfg.StrOpt(
        'mysql_sql_mode',
        default='TRADITIONAL',
        help='The sql_mode of enamel-sync\'s MySQL/MariaDB sessions, as '
             'oslo.db sets it for the services: TRADITIONAL (strict: a '
             'value that does not fit is an error, not a warning). An '
             'empty value leaves the server\'s default.'),
    cfg.ListOpt(
        'accepted_drift',
        default=[],
        help='Differences between the schema and the models that are '
             'known and accepted: "check" and "stamp --verify" list them '
             'as accepted instead of failing, and "revision '
             '--autogenerate" leaves them out of the revision. Each item '
             'is KIND:OBJECT or OBJECT, shell-style globs matched against '
             'a difference line of "check" (its first word, e.g. '
             'modify_default, remove_table, add_constraint, and its '
             'second, "table" or "table.name"; * also matches dots), '
             'e.g. "modify_default:tasks.created_at, remove_table:legacy_*, '
             'audit_log.*". Nothing else is hidden.'),
]


# Where the migration environment is (see enamel.locations); the same
# three options in [database] and [api_database].
def _location_opts(database):
    return [
        cfg.StrOpt(
            'script_location',
            help=f'Directory of the {database} migration environment '
                 '(env.py, script.py.mako and versions/), as alembic\'s '
                 'script_location, instead of the one bundled with enamel. '
                 'A relative path is relative to the directory of the '
                 'configuration file that sets it (to the current '
                 'directory when set in the environment). The command '
                 'line\'s -d/--directory takes precedence.'),
        cfg.ListOpt(
            'version_locations',
            default=[],
            help=f'Directories of the {database} revision files, as '
                 'alembic\'s version_locations (comma-separated here): '
                 'when set, every directory to read, the environment\'s '
                 'own versions/ included if wanted; unset, the '
                 'environment\'s versions/ alone. Relative paths as for '
                 'script_location.'),
        cfg.BoolOpt(
            'recursive_version_locations',
            default=False,
            help='Also read revision files in the subdirectories of each '
                 'version location, as alembic\'s '
                 'recursive_version_locations.'),
    ]


database_location_opts = _location_opts('enamel')
api_database_location_opts = _location_opts('API')


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
    cfg.IntOpt(
        'ddl_lock_timeout',
        default=10,
        min=0,
        help='As [database] ddl_lock_timeout, for the API database.'),
    cfg.IntOpt(
        'ddl_lock_retries',
        default=5,
        min=0,
        help='As [database] ddl_lock_retries, for the API database.'),
    cfg.ListOpt(
        'accepted_drift',
        default=[],
        help='As [database] accepted_drift, for the API database.'),
]


def register_opts(conf):
    """Register enamel's options on a ConfigOpts instance.

    :param conf: an ``oslo_config.cfg.ConfigOpts``.
    """
    conf.register_opts(database_opts + database_location_opts,
                       group='database')
    conf.register_opts(api_database_opts + api_database_location_opts,
                       group='api_database')


def list_opts():
    """The options for oslo-config-generator and the sphinx extension."""
    return [('database', database_opts + database_location_opts),
            ('api_database',
             api_database_opts + api_database_location_opts)]


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


def files_read(conf):
    """The configuration files ``conf`` read, in order: each
    ``--config-file`` (or the one oslo.config's search found), then the
    ``*.conf`` files of each ``--config-dir``.

    :param conf: a parsed ``oslo_config.cfg.ConfigOpts``.
    :returns: a list of paths.
    """
    files = [os.path.abspath(f) for f in conf.config_file or ()]
    directories = conf.config_dir or ()
    if isinstance(directories, str):
        directories = [directories]
    for directory in directories:
        files.extend(sorted(glob.glob(os.path.join(directory, '*.conf'))))
    return files


def unknown_names(conf, files):
    """Sections and options in ``files`` that enamel-sync does not know
    but that are close to a name it knows (a typo: ``[databse]``,
    ``conection``), as ``difflib`` finds them.

    Names far from every known one are not reported: enamel.conf is the
    service's configuration file too, with sections and options of its
    own that enamel-sync has no reason to know.

    :param conf: a parsed ``ConfigOpts`` with every option registered.
    :param files: the paths to look at (:func:`files_read`).
    :returns: a list of one-line messages, in file order.
    """
    known = {'DEFAULT': {name for name in conf
                         if not isinstance(conf[name],
                                           cfg.ConfigOpts.GroupAttr)}}
    for name in conf:
        if isinstance(conf[name], cfg.ConfigOpts.GroupAttr):
            known[name] = set(conf[name])
    messages = []
    for path in files:
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.ParseError):
            continue  # oslo.config reported it already, or will
        for section, options in sections.items():
            if section not in known:
                close = difflib.get_close_matches(section, known, n=1,
                                                  cutoff=0.8)
                if close:
                    messages.append(
                        f'{path}: section [{section}] is not one '
                        f'enamel-sync reads; did you mean [{close[0]}]?')
                continue
            for option in options:
                if option in known[section]:
                    continue
                close = difflib.get_close_matches(
                    option, known[section], n=1, cutoff=0.8)
                if close:
                    messages.append(
                        f'{path}: [{section}] {option} is not an option '
                        f'enamel-sync knows; did you mean {close[0]}?')
    return messages


def check_configured(conf):
    """Trust a configuration only when it configures something.

    With no configuration file and no ``OS_DATABASE__CONNECTION``, the
    embedded SQLite default applies (a fresh machine, the quick start).
    Once a configuration file is read (``--config-file``,
    ``--config-dir``, or one oslo.config's search found), ``[database]
    connection`` must come from it or from the environment: a file whose
    section or option is misspelt would otherwise migrate a new SQLite
    file in the working directory and exit 0, the real database untouched.

    :param conf: a parsed ``ConfigOpts`` with enamel's options.
    :returns: warnings (one line each) about names close to known ones
        (:func:`unknown_names`) when the connection is set.
    :raises exception.ConfigError: configuration files were read and none
        of them, nor the environment, sets ``[database] connection``;
        the message names the files and any close names.
    """
    files = files_read(conf)
    if not files:
        return []
    hints = unknown_names(conf, files)
    location = conf.get_location('connection', 'database').location
    if location in (cfg.Locations.opt_default, cfg.Locations.set_default):
        message = (
            '[database] connection is not set in the configuration read '
            f'({", ".join(files)}); with a configuration given, '
            'enamel-sync does not fall back to its SQLite default')
        if hints:
            message += ': ' + '; '.join(hints)
        raise exception.ConfigError(f'configuration error: {message}')
    return hints


def validate(conf):
    """Read every option once, so that a value of the wrong type fails
    every command the same way (oslo.config converts a value only when
    it is read), with a message that names it.

    :param conf: a parsed ``ConfigOpts`` with every option registered.
    :raises exception.ConfigError: a value does not convert (``abc`` for
        an integer, ``-5`` below an option's minimum); the message names
        the option, where the value came from (the environment variable
        or the configuration file) and what is expected, never the value
        of a secret option.
    """
    opts = {(group, opt.name): opt for group, group_opts in list_opts()
            for opt in group_opts}
    for name in sorted(conf):
        value = _read(conf, None, name, opts)
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for option in sorted(value):
                _read(conf, name, option, opts)


def _read(conf, group, name, opts):
    try:
        return conf[group][name] if group else conf[name]
    except cfg.ConfigSourceValueError:
        pass
    opt = opts.get((group, name))
    where = f'[{group or "DEFAULT"}] {name}'
    raise exception.ConfigError(
        f'configuration error: {where} {_source(conf, group, name)} is '
        f'not valid: expected {expected(opt)}')


def _source(conf, group, name):
    """Where oslo.config took the value of ``[group] name`` from: the
    environment variable (which wins over files), else the last file
    read that sets it."""
    variable = f'OS_{(group or "DEFAULT").upper()}__{name.upper()}'
    if variable in os.environ:
        return f'(from the environment variable {variable})'
    found = None
    for path in files_read(conf):
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.ParseError):
            continue
        if name in sections.get(group or 'DEFAULT', {}):
            found = path
    return f'(in {found})' if found else '(from the configuration)'


def expected(opt):
    """What ``opt`` takes, in words: ``an integer >= 0``, ``a boolean
    (true or false)``; ``a valid value`` for an option not known here."""
    if opt is None:
        return 'a valid value'
    type_ = opt.type
    if isinstance(type_, types.Boolean):
        return 'a boolean (true or false)'
    if isinstance(type_, types.Integer):
        words = 'an integer'
    elif isinstance(type_, types.Float):
        words = 'a number'
    elif getattr(type_, 'choices', None):
        return 'one of ' + ', '.join(str(c) for c in type_.choices)
    else:
        return f'a {getattr(type_, "type_name", "valid value")}'
    low, high = getattr(type_, 'min', None), getattr(type_, 'max', None)
    if low is not None and high is not None:
        return f'{words} from {low} to {high}'
    if low is not None:
        return f'{words} >= {low}'
    if high is not None:
        return f'{words} <= {high}'
    return words
