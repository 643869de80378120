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

"""The migration environment bundled with enamel.

Run by enamel-sync, it finds enamel's configuration and an open connection
in ``config.attributes`` (alembic's recipe for sharing a connection; see
:mod:`enamel.environment`). Run by another tool (plain ``alembic`` with an
ini file or pyproject.toml naming this directory, a test plugin), it reads
``sqlalchemy.url`` from that file or loads enamel's configuration itself,
and opens its own connection.

One env.py serves each of enamel's databases (``main`` and ``api``, see
:mod:`enamel.databases`): the database comes in the options, and with it
the models, the version table and the ``[database]`` or
``[api_database]`` connection.
"""

import logging.config

from alembic import context
import sqlalchemy as sa

from enamel import conf as enamel_conf
from enamel import db
from enamel import drift
from enamel import environment
from enamel import locations

config = context.config
options = environment.env_options(config)
if ('enamel' not in config.attributes and config.config_file_name
        and config.file_config.has_section('loggers')):
    # Plain alembic with an ini file that configures logging (the
    # checkout's alembic.ini); enamel-sync sets up its own.
    logging.config.fileConfig(config.config_file_name,
                              disable_existing_loggers=False)


def _conf():
    if options.conf is None:
        options.conf = enamel_conf.load()
    return options.conf


def _url():
    return config.get_main_option('sqlalchemy.url') or (
        options.database.options(_conf()).connection)


def _configure(dialect_name, **kwargs):
    accepted = options.accepted
    if accepted is None:  # run by another tool: the configuration's
        accepted = drift.for_database(_conf(), options.database)
    kwargs.update(environment.context_options(
        dialect_name, models=options.models, database=options.database,
        accepted=accepted, version_dirs=locations.version_dirs(config),
        grouped_commits=options.grouped_commits))
    context.configure(
        on_version_apply=config.attributes.get('on_version_apply', ()),
        **kwargs)


def run_migrations_offline():
    """Write the SQL to the output instead of running it."""
    url = db.make_url(_url(), options.database.group)
    _configure(url.get_dialect().name, url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run against the connection (or engine) handed in, or a new one."""
    connectable = config.attributes.get('connection')
    if connectable is None:
        conf = _conf()
        group = options.database.group
        if config.get_main_option('sqlalchemy.url'):
            conf.set_override('connection', _url(), group=group)
        connectable = db.create_engine(conf, group)
    if isinstance(connectable, sa.engine.Engine):
        with db.transactional(connectable).connect() as connection:
            _run_online(connection)
    else:
        _run_online(connectable)


def _run_online(connection):
    _configure(connection.dialect.name, connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
