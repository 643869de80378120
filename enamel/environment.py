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

"""The migration environment: where it is, the alembic ``Config`` that
names it, and the options ``env.py`` gives alembic.

:func:`make_config` is the one place that builds an alembic ``Config``.
Everything enamel hands to ``env.py`` travels in ``config.attributes``
under two keys: ``connection`` (alembic's recipe for sharing a connection)
and ``enamel`` (an :class:`EnvOptions`). ``env.py`` also passes
``config.attributes['on_version_apply']`` (a callable or a list of them)
to ``context.configure``, so a configure callback can add its own.

One ``env.py`` serves every database of :mod:`enamel.databases`: the
``Config`` names the database's own version location, and the
:class:`EnvOptions` the database, whose models and version table
:func:`context_options` gives alembic. ``VERSION_TABLE`` and
``VERSIONS_DIR`` are the ``main`` database's.
"""

import argparse
import dataclasses
import os
import sys
import sysconfig

import sqlalchemy as sa

from enamel import autogen
from enamel import databases
from enamel import db
from enamel import lock

VERSION_TABLE = databases.MAIN.version_table
ENV_DIR = databases.ENV_DIR
VERSIONS_DIR = databases.MAIN.versions_dir
# The post-write hook that keeps versions/HEADS current (see
# enamel.heads_file), for revisions written by enamel-sync and by plain
# alembic alike.
HEADS_HOOK = 'enamel_heads'


@dataclasses.dataclass
class EnvOptions:
    """What enamel-sync tells ``env.py``, in ``config.attributes['enamel']``.

    :param conf: the ``oslo_config.cfg.ConfigOpts`` with enamel's options.
    :param models: give alembic the models' metadata (autogenerate and
        comparing need it); running revisions needs only the naming
        convention, and then the models are not imported.
    :param sql_files: ``revision --sql-files``: the template writes a
        revision that runs ``.sql`` files (see :mod:`enamel.sql_files`).
    :param database: the :class:`enamel.databases.Database` env.py
        migrates (default ``main``).
    """

    conf: object = None
    models: bool = True
    sql_files: bool = False
    database: databases.Database = databases.MAIN


def make_config(conf, connection=None, version_path=None, stdout=None,
                callbacks=(), x_arguments=(), **options):
    """Build the alembic ``Config``: the one place that does.

    No alembic.ini is read: ``script_location`` is the installed
    ``alembic_migrations`` package, wherever it was installed from.

    :param conf: enamel's ``ConfigOpts``, handed to env.py.
    :param connection: a ``Connection`` or ``Engine`` for env.py to use.
    :param version_path: an extra directory of revision files (str).
    :param stdout: where alembic's own output goes (default stdout).
    :param callbacks: ``func(config)`` callables run last, in order; each
        returns the ``Config`` to use (or None to keep the one it got).
    :param x_arguments: ``KEY=VALUE`` strings for env.py's
        ``context.get_x_argument()``, as alembic's ``-x`` gives them
        (``config.cmd_opts.x``).
    :param options: further :class:`EnvOptions` fields; ``database``
        (a :class:`enamel.databases.Database` or a name) picks the version
        location.
    :returns: ``alembic.config.Config``.
    """
    from alembic import config as alembic_config

    options['database'] = databases.get(options.get('database'))
    config = alembic_config.Config(
        stdout=stdout or sys.stdout,
        cmd_opts=argparse.Namespace(x=list(x_arguments)))
    config.set_main_option('script_location', _escape(ENV_DIR))
    locations = [options['database'].versions_dir]
    if version_path:
        locations.append(os.path.abspath(version_path))
    config.set_main_option('path_separator', 'os')
    config.set_main_option(
        'version_locations', os.pathsep.join(_escape(p) for p in locations))
    for key, value in (('hooks', HEADS_HOOK),
                       (f'{HEADS_HOOK}.type', 'module'),
                       (f'{HEADS_HOOK}.module', 'enamel.heads_file'),
                       (f'{HEADS_HOOK}.options', 'REVISION_SCRIPT_FILENAME')):
        config.set_section_option('post_write_hooks', key, value)
    config.attributes['enamel'] = EnvOptions(conf=conf, **options)
    if connection is not None:
        config.attributes['connection'] = connection
    for func in callbacks:
        config = func(config) or config
    return config


def context_options(dialect_name, models=True, database=None):
    """Options for ``EnvironmentContext.configure``, shared by env.py and
    ``check`` so that both compare the schema the same way.

    Every revision commits on its own, with its version row
    (``transaction_per_migration``), on every engine: the version table
    always names what is committed, also when a revision commits part of
    its work itself (``autocommit_block``, as ``CREATE INDEX
    CONCURRENTLY`` needs), and a rerun after a failure resumes where the
    last committed revision left off. On PostgreSQL and SQLite a failing
    revision leaves no trace; MySQL commits each DDL statement, so there
    it may leave objects behind. An ``env.py`` that sets
    ``transaction_per_migration`` otherwise is obeyed: alembic runs the
    revisions either way.

    :param dialect_name: ``connection.dialect.name``.
    :param models: give alembic the models' metadata; else an empty
        metadata with the same naming convention (all that ``op`` reads
        while revisions run), and the models are not imported.
    :param database: the :class:`enamel.databases.Database` (default
        ``main``): its models and its version table.
    :returns: a dict of keyword arguments.
    """
    database = databases.get(database)
    if models:
        metadata = database.metadata()
    else:
        metadata = sa.MetaData(naming_convention=db.NAMING_CONVENTION)
    sqlite = dialect_name == 'sqlite'
    options = dict(
        target_metadata=metadata,
        version_table=database.version_table,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=sqlite,
        transaction_per_migration=True,
        include_object=(include_object_for(database) if models
                        else include_object),
        process_revision_directives=autogen.process_revision_directives,
    )
    if sqlite:
        # True once enamel.db has taken over pysqlite's transactions.
        options['transactional_ddl'] = True
    return options


def env_options(config):
    """The :class:`EnvOptions` in ``config`` (defaults when env.py is run
    by another tool, such as plain ``alembic``, where the ini section's
    ``enamel_database`` option names the database: ``alembic --name api``
    with the ``[api]`` section of enamel's alembic.ini)."""
    options = config.attributes.get('enamel')
    if options is None:
        options = EnvOptions(database=databases.get(
            config.get_main_option('enamel_database') or None))
    return options


def include_object(obj, name, type_, reflected, compare_to):
    """Leave out of autogenerate what enamel's models do not own."""
    # Only tables the models know, or that a migration created and the
    # models dropped, are compared.
    if type_ == 'table' and reflected and compare_to is None:
        return not name.startswith('sqlite_') and name not in OWN_TABLES
    return True


def include_object_for(database):
    """:func:`include_object`, also leaving out the tables of enamel's
    other databases' models: two databases may share one server database,
    and neither may autogenerate dropping the other's tables."""
    others = frozenset(name for other in databases.ALL if other != database
                       for name in other.metadata().tables)

    def include(obj, name, type_, reflected, compare_to):
        if (type_ == 'table' and reflected and compare_to is None
                and name in others):
            return False
        return include_object(obj, name, type_, reflected, compare_to)
    return include


# enamel's bookkeeping, never a model's: every database's version table
# and the migration lock's table.
OWN_TABLES = frozenset(
    tuple(d.version_table for d in databases.ALL) + (lock.LOCK_TABLE,))


def installed(path):
    """Is ``path`` (str) inside an installed site-packages? A revision
    written there would be lost with the next install."""
    path = os.path.realpath(path)
    for key in ('purelib', 'platlib'):
        root = os.path.realpath(sysconfig.get_paths()[key])
        if path.startswith(root + os.sep):
            return True
    return False


def _escape(path):
    return path.replace('%', '%%')
