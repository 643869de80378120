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

"""``enamel-sync init``: a migration environment for a service or plugin
that keeps its own tables beside enamel's, wired to enamel's
configuration.

The environment is run with plain ``alembic``: its ``env.py`` loads
enamel's configuration (``enamel.conf.load``; ``-x config_file=PATH``
names a file) and builds its engine with :func:`enamel.db.create_engine`,
so it reads the same ``[database] connection`` as enamel-sync and gets the
same SQLite transaction handling. It keeps its own version table
(``<directory name>_alembic_version``), never enamel's. With ``--multidb``
one ``env.py`` serves both of enamel's databases: the ``[alembic]``
section of ``alembic.ini`` is the main database, ``[api]`` the API
database (``alembic --name api ...``), each with its own revisions and
version table.
"""

import os
import re

from enamel import databases
from enamel import exception

INI_HEADER = '''\
# Written by "enamel-sync init": a migration environment wired to enamel's
# configuration (see env.py). Run it with plain alembic, for example
#   alembic -c {ini} upgrade head
#   alembic -c {ini} -x config_file=/etc/enamel/enamel.conf upgrade head
#   alembic -c {ini} revision -m "add a table"
'''
INI_MULTIDB = '''\
# The API database is the [api] section:
#   alembic -c {ini} --name api upgrade head
'''
INI_SECTION = '''
[{section}]
script_location = %(here)s
version_locations = %(here)s/{versions}
path_separator = os
# enamel's option group with this database's connection
enamel_group = {group}
# this environment's own version table, never enamel's
version_table = {version_table}
'''

ENV_PY = '''\
"""The migration environment of {name}, wired to enamel's configuration.

Written by "enamel-sync init". The database is enamel's (the option group
named by enamel_group in alembic.ini: [database] connection, or
[api_database] connection); -x config_file=PATH names enamel's
configuration file, else oslo.config looks for enamel.conf as enamel-sync
does. A caller may hand in a connection as alembic's recipe has it:
config.attributes['connection'].
"""

from alembic import context
import sqlalchemy as sa

from enamel import conf as enamel_conf
from enamel import db

config = context.config
# This environment's own version tables (per enamel option group), never
# enamel's: alembic.ini names them for plain alembic, and "enamel-sync -d"
# (which reads no alembic.ini) gets the same from here.
VERSION_TABLES = {version_tables!r}
enamel_options = config.attributes.get('enamel')
group = config.get_main_option('enamel_group') or (
    enamel_options.database.group if enamel_options is not None
    else 'database')
version_table = config.get_main_option(
    'version_table', VERSION_TABLES.get(group, VERSION_TABLES['database']))

# The models' MetaData, for "alembic revision --autogenerate": replace
# this with your own (keep the naming convention: SQLite batch mode cannot
# drop unnamed constraints).
target_metadata = sa.MetaData(naming_convention=db.NAMING_CONVENTION)


def load_conf():
    config_file = context.get_x_argument(as_dictionary=True).get(
        'config_file')
    return enamel_conf.load(['--config-file', config_file]
                            if config_file else [])


def configure(dialect_name, **kwargs):
    sqlite = dialect_name == 'sqlite'
    if sqlite:
        # enamel.db.create_engine runs SQLite DDL inside transactions.
        kwargs['transactional_ddl'] = True
    context.configure(
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=sqlite,
        transaction_per_migration=True,
        **kwargs)


def run_migrations_offline():
    url = db.make_url(load_conf()[group].connection, group)
    configure(url.get_dialect().name, url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = config.attributes.get('connection')
    if connectable is None:
        connectable = db.create_engine(load_conf(), group)
    if isinstance(connectable, sa.engine.Engine):
        with connectable.connect() as connection:
            run(connection)
    else:
        run(connectable)


def run(connection):
    configure(connection.dialect.name, connection=connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''


def write(directory, multidb=False):
    """Write a migration environment into ``directory``.

    :param directory: where (str); created if missing, must be empty.
    :param multidb: also serve enamel's API database (``[api]`` in
        ``alembic.ini``, revisions in ``api_versions/``).
    :returns: the paths written, in order (a list of str).
    :raises exception.UsageError: ``directory`` is a file or not empty.
    """
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and (
            not os.path.isdir(directory) or os.listdir(directory)):
        raise exception.UsageError(
            f'{directory} already exists and is not an empty directory')
    name = os.path.basename(directory)
    table = re.sub(r'\W', '_', name).lower() + '_alembic_version'
    sections = [('alembic', 'versions', databases.MAIN, table)]
    if multidb:
        sections.append(('api', 'api_versions', databases.API,
                         table + '_api'))
    ini = os.path.join(directory, 'alembic.ini')
    text = INI_HEADER.format(ini=ini)
    if multidb:
        text += INI_MULTIDB.format(ini=ini)
    for section, versions, database, version_table in sections:
        text += INI_SECTION.format(
            section=section, versions=versions, group=database.group,
            version_table=version_table)
    with open(os.path.join(databases.ENV_DIR, 'script.py.mako')) as f:
        template = f.read()
    files = [(ini, text),
             (os.path.join(directory, 'env.py'), ENV_PY.format(
                 name=name, version_tables={
                     database.group: version_table
                     for _s, _v, database, version_table in sections})),
             (os.path.join(directory, 'script.py.mako'), template)]
    for _section, versions, _database, _table in sections:
        files.append((os.path.join(directory, versions, '.keep'), ''))
    written = []
    for path, content in files:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(content)
        written.append(path)
    return written
