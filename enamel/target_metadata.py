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

"""What the ``env.py`` of a service's own migration environment gives
``context.configure``: its ``target_metadata`` (the models) and its
``version_table``.

enamel does not import a service's models itself: it runs the env.py as
``alembic upgrade --sql`` would, and stops it at ``context.configure``,
before anything is run or written and without a connection. What the
env.py passes as ``target_metadata`` (a ``MetaData``, a sequence of them,
or None) is then what ``check`` compares and what tells an unversioned
database that is the service's (exit 6) from an empty one; its
``version_table`` (default alembic's ``alembic_version``) is where enamel
reads the database's revisions.
"""

from enamel import exception

# configure()'s keyword arguments, per environment (script_location,
# version locations, recursive): env.py runs once per process.
_CONFIGURED = {}


class _Configured(Exception):
    """Stops env.py once it called ``context.configure``."""


def read(database):
    """The ``target_metadata`` that ``database``'s env.py configures.

    :param database: an :class:`enamel.databases.Database` whose
        ``script_location`` is the service's environment.
    :raises exception.ConfigError: env.py fails before it configures, or
        never does.
    """
    return configured(database).get('target_metadata')


def version_table(database):
    """The ``version_table`` that ``database``'s env.py configures, or
    None for alembic's default (see :func:`read`)."""
    return configured(database).get('version_table')


def configured(database):
    """The keyword arguments ``database``'s env.py gives
    ``context.configure`` (a dict; see :func:`read`)."""
    key = (database.script_location, database.locations(),
           database.recursive_version_locations)
    if key not in _CONFIGURED:
        _CONFIGURED[key] = _run_env(database)
    return _CONFIGURED[key]


def _run_env(database):
    from alembic.runtime import environment as alembic_environment
    from alembic import script as alembic_script

    from enamel import alembic_internals
    from enamel import environment

    config = environment.make_config(None, database=database)
    # env.py's offline branch reads a URL; its dialect is not used here.
    config.set_main_option('sqlalchemy.url', 'sqlite://')
    with alembic_internals.errors():
        script = alembic_script.ScriptDirectory.from_config(config)
    found = {}

    def configure(**kwargs):
        found.update(kwargs)
        raise _Configured()

    context = alembic_environment.EnvironmentContext(config, script,
                                                     as_sql=True)
    # The module-level proxy (alembic.context) calls the instance's.
    context.configure = configure
    with context:
        try:
            script.run_env()
        except _Configured:
            return found
        except Exception as exc:
            raise exception.ConfigError(
                f'{database.script_location}/env.py failed before '
                'context.configure, so its models are unknown: '
                f'{exception.first_line(exc)}') from exc
    raise exception.ConfigError(
        f'{database.script_location}/env.py never called '
        'context.configure, so its models are unknown')
