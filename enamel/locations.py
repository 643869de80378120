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

"""Where a database's migration environment and revision files are.

By default the bundled ``alembic_migrations`` package. ``-d/--directory
DIR`` on the command line, or ``script_location`` in the database's
configuration group, names another environment (a directory with
``env.py``, ``script.py.mako`` and ``versions/``, as ``alembic init``
makes one); ``version_locations`` and ``recursive_version_locations``
are alembic's options of the same names.

Relative paths: ``-d`` is relative to the current directory (as alembic's
and Flask-Migrate's); a configuration option is relative to the directory
of the configuration file that sets it, so that a service's enamel.conf
means the same from any working directory (an option from the
environment, ``OS_DATABASE__SCRIPT_LOCATION``, is relative to the current
directory).

:func:`resolve` turns them into the :class:`enamel.databases.Database`
the rest of enamel uses; :func:`revision_files` lists the revision files
of an alembic ``Config``, for the code that reads them itself.
"""

import dataclasses
import os

from oslo_config import cfg

from enamel import exception

# alembic's, for an env.py that configures no version_table.
DEFAULT_VERSION_TABLE = 'alembic_version'


def resolve(conf, database, directory=None):
    """``database`` with its migration environment's locations.

    :param conf: enamel's parsed ``ConfigOpts`` (or None: no options).
    :param database: an :class:`enamel.databases.Database`.
    :param directory: ``-d/--directory``: the environment's directory,
        taking precedence over ``script_location``.
    :returns: ``database`` itself when nothing is configured; else a copy
        naming the environment, whose ``env.py`` decides the models (the
        copy has no ``models`` module of enamel's) and the version table
        (see :mod:`enamel.target_metadata`).
    :raises exception.UsageError: ``directory`` is not an environment.
    :raises exception.ConfigError: a configured location is not.
    """
    options = database.options(conf) if conf is not None else None
    script_location = None
    error = exception.UsageError
    where = '-d/--directory'
    if directory:
        script_location = os.path.abspath(directory)
    elif options is not None and options.script_location:
        script_location = _path(conf, database, 'script_location',
                                options.script_location)
        error = exception.ConfigError
        where = f'[{database.group}] script_location'
    version_locations = tuple(
        _path(conf, database, 'version_locations', p)
        for p in (options.version_locations if options is not None else ())
        if p)
    recursive = bool(options is not None and
                     options.recursive_version_locations)
    if script_location is None and not version_locations and not recursive:
        return database
    changes = dict(recursive_version_locations=recursive)
    if script_location is not None:
        _check_environment(script_location, where, error)
        changes.update(script_location=script_location, models=None,
                       naming_convention=None,
                       versions_dir=os.path.join(script_location,
                                                 'versions'))
    if version_locations:
        for location in version_locations:
            if not os.path.isdir(location):
                raise exception.ConfigError(
                    f'[{database.group}] version_locations: {location} '
                    'is not a directory')
        changes.update(version_locations=version_locations,
                       versions_dir=version_locations[0])
    resolved = dataclasses.replace(database, **changes)
    if script_location is not None:
        resolved = dataclasses.replace(
            resolved, version_table=_version_table(resolved))
    return resolved


def _version_table(database):
    """The version table ``database``'s env.py configures (alembic's
    default when it names none). An env.py that fails is reported where
    its models are needed, not here: ``heads`` reads no env.py."""
    from enamel import target_metadata

    try:
        table = target_metadata.version_table(database)
    except exception.EnamelSyncError:
        table = None
    return table or DEFAULT_VERSION_TABLE


def _check_environment(path, where, error):
    if not os.path.isdir(path):
        raise error(f'{where}: {path} is not a directory')
    if not os.path.isfile(os.path.join(path, 'env.py')):
        raise error(f'{where}: {path} is not a migration environment '
                    '(it has no env.py; "alembic init" makes one)')


def _path(conf, database, name, value):
    """``value`` as an absolute path: relative to the directory of the
    configuration file that set option ``name``, else to the current
    directory."""
    value = os.path.expanduser(value)
    if os.path.isabs(value):
        return os.path.normpath(value)
    location = conf.get_location(name, database.group)
    if (location is not None and location.location == cfg.Locations.user
            and location.detail and os.path.isfile(location.detail)):
        return os.path.normpath(os.path.join(
            os.path.dirname(os.path.abspath(location.detail)), value))
    return os.path.abspath(value)


def version_dirs(config):
    """Every directory of revision files an alembic ``Config`` names:
    ``version_locations`` (as a configure callback left it) or the
    environment's ``versions/``, and with
    ``recursive_version_locations`` their subdirectories; a tuple of
    absolute paths that exist."""
    tops = config.get_version_locations_list() or [
        os.path.join(config.get_main_option('script_location'),
                     'versions')]
    # Read as alembic 1.16 reads it (the word 'true'); later releases
    # take any boolean word, and enamel only ever writes 'true'.
    recursive = str(config.get_main_option(
        'recursive_version_locations', 'false')).strip().lower() in (
            'true', 'yes', 'on', '1')
    found = []
    for top in tops:
        top = os.path.abspath(top)
        if not os.path.isdir(top):
            continue
        if not recursive:
            found.append(top)
            continue
        for root, dirs, _files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != '__pycache__')
            found.append(root)
    return tuple(found)


def revision_files(directories):
    """The ``.py`` files directly in each of ``directories`` (see
    :func:`version_dirs`), sorted, as absolute paths."""
    return tuple(sorted(
        os.path.join(d, name) for d in directories
        for name in os.listdir(d) if name.endswith('.py')))
