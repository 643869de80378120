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

"""The databases enamel keeps: ``main`` and, optionally, ``api``.

Each has its own configuration group, revisions, models, version table
and migration lock, so the two may live on different servers, or even
share one server database. Everything that differs between them is in one
:class:`Database`; the rest of enamel takes a ``Database`` and never
spells a group or a version table itself.

The order is fixed: ``main``, then ``api``. Commands that act on every
configured database act in that order, and stop at the first error (but
``check``, which reports on each). ``main`` is always configured (its
connection has a default); ``api`` is configured when
``[api_database] connection`` is set.
"""

import dataclasses
import importlib
import os

import sqlalchemy as sa

import alembic_migrations
from enamel import exception
from enamel import naming

ENV_DIR = os.path.dirname(os.path.abspath(alembic_migrations.__file__))


@dataclasses.dataclass(frozen=True)
class Database:
    """What makes one of enamel's databases itself.

    :param name: what the command line calls it (``--database NAME``, the
        ``[NAME]`` prefix of output lines).
    :param group: its oslo.config group (``connection``,
        ``connect_timeout``, ``migration_lock_timeout``).
    :param versions_dir: the directory of its revision files (with its own
        ``HEADS`` file), inside the bundled ``alembic_migrations``.
    :param version_table: alembic's version table for it; different for
        each database, so that both can share one server database.
    :param models: the module whose ``Base.metadata`` holds its models.
    :param lock_row: its row (``id``) in the migration lock's table.
    :param naming_convention: the naming convention of its models'
        ``MetaData`` (a dict, as ``sqlalchemy.MetaData(naming_convention=
        ...)`` takes it), or None for none (SQLAlchemy's default, which
        names only indexes). Revisions run with it, as plain alembic runs
        them with the models' (``op`` names constraints after the
        ``target_metadata``'s convention), without importing the models;
        a service whose history was written without a convention declares
        None and gets exactly the names alembic gives. A test holds every
        bundled database's declaration to its models' metadata.
    :param script_location: the migration environment's directory (its
        ``env.py``): the bundled ``alembic_migrations`` unless
        :func:`enamel.locations.resolve` points elsewhere.
    :param version_locations: every directory of revision files (alembic's
        ``version_locations``); empty: ``versions_dir`` alone.
    :param recursive_version_locations: also read their subdirectories.
    """

    name: str
    group: str
    versions_dir: str
    version_table: str
    models: str
    lock_row: int
    naming_convention: dict = dataclasses.field(default=None, hash=False)
    script_location: str = ENV_DIR
    version_locations: tuple = ()
    recursive_version_locations: bool = False

    @property
    def bundled(self):
        """Is this the environment bundled with enamel (its env.py)?"""
        return self.script_location == ENV_DIR

    def locations(self):
        """The directories of its revision files, a tuple of paths (the
        configured ones; a configure callback may add more)."""
        return self.version_locations or (self.versions_dir,)

    def metadata(self):
        """The models' ``sqlalchemy.MetaData`` (imports the models); for
        an environment of the service's own, its ``env.py``'s
        ``target_metadata`` (see :mod:`enamel.target_metadata`), which may
        be None or a sequence of ``MetaData``."""
        if self.models is None:
            from enamel import target_metadata
            return target_metadata.read(self)
        return importlib.import_module(self.models).Base.metadata

    def running_metadata(self):
        """The ``sqlalchemy.MetaData`` that revisions run with: empty, with
        :attr:`naming_convention` (without one, SQLAlchemy's default; in
        an environment of the service's own, its ``target_metadata``'s)."""
        convention = self.naming_convention
        if self.models is None:  # env.py's: its target_metadata's
            target = self.metadata()
            if isinstance(target, sa.MetaData):
                convention = target.naming_convention
        if convention is None:
            return sa.MetaData()
        return sa.MetaData(naming_convention=convention)

    def options(self, conf):
        """This database's option group in ``conf`` (a ConfigOpts)."""
        return conf[self.group]


MAIN = Database(
    name='main', group='database',
    versions_dir=os.path.join(ENV_DIR, 'versions'),
    version_table='alembic_version', models='enamel.models',
    lock_row=1, naming_convention=naming.NAMING_CONVENTION)
API = Database(
    name='api', group='api_database',
    versions_dir=os.path.join(ENV_DIR, 'api_versions'),
    version_table='alembic_version_api', models='enamel.api_models',
    lock_row=2, naming_convention=naming.NAMING_CONVENTION)
ALL = (MAIN, API)

# enamel's bookkeeping tables, one of each per server database whichever
# enamel databases share it: the migration lock's (enamel.lease, one row
# per database) and the progress journal's (enamel.journal).
LOCK_TABLE = 'enamel_migration_lock'
JOURNAL_TABLE = 'enamel_migration_progress'
# Never a model's: every database's version table and the two above.
OWN_TABLES = frozenset(
    tuple(d.version_table for d in ALL) + (LOCK_TABLE, JOURNAL_TABLE))
NAMES = tuple(d.name for d in ALL)


def get(database=None):
    """The :class:`Database` for ``database``.

    :param database: a name (``main``, ``api``), a :class:`Database`, or
        None for ``main``.
    :raises exception.UsageError: an unknown name.
    """
    if database is None:
        return MAIN
    if isinstance(database, Database):
        return database
    for candidate in ALL:
        if candidate.name == database:
            return candidate
    raise exception.UsageError(
        f'unknown database {database!r}; enamel has {", ".join(NAMES)}')


def is_configured(conf, database):
    """Does ``conf`` give ``database`` a connection? ``main`` always
    counts as configured (its connection has a default): set to an empty
    value, it is an error when used, never a database silently skipped."""
    return (database.name == MAIN.name
            or bool(database.options(conf).connection))


def configured(conf, name=None):
    """The databases a command acts on, in the fixed order.

    :param conf: enamel's ConfigOpts.
    :param name: ``--database NAME``: only that one, which must be
        configured; None: every configured one.
    :returns: a tuple of :class:`Database`.
    :raises exception.UsageError: an unknown name.
    :raises exception.ConfigError: ``name`` has no connection configured.
    """
    if name is not None:
        database = get(name)
        if not is_configured(conf, database):
            raise exception.ConfigError(
                f'the {database.name} database is not configured: set '
                f'[{database.group}] connection')
        return (database,)
    return tuple(d for d in ALL if is_configured(conf, d))
