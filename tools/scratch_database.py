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

"""A throwaway database for the tools that run enamel-sync over and over
(``benchmark.py``, ``faults.py``): an SQLite file, or a database of its
own on a server, made empty on demand and dropped at the end."""

import os

import sqlalchemy as sa


class ScratchDatabase:
    """One throwaway database.

    :param url: the database's URL (``str``); for SQLite, a file path URL
        (``sqlite:///<path>``).
    :param admin_url: a URL on the same server from which the database is
        created and dropped (``str``), or None for SQLite.
    :param name: the database's name on the server (``str``), or None.
    """

    def __init__(self, url, admin_url=None, name=None):
        self.url = url
        self.db_name = name
        self.path = None
        self.admin = None
        if admin_url is None:
            self.path = sa.engine.make_url(url).database
            return
        self.quote = '`' if admin_url.startswith('mysql') else '"'
        self.admin = sa.create_engine(
            admin_url, isolation_level='AUTOCOMMIT',
            poolclass=sa.pool.NullPool, connect_args={'connect_timeout': 5})

    def fresh(self):
        """Make the database exist and be empty."""
        if self.admin is None:
            for suffix in ('', '.lock', '-journal'):
                if os.path.exists(self.path + suffix):
                    os.unlink(self.path + suffix)
            return
        with self.admin.connect() as connection:
            connection.exec_driver_sql(self._drop())
            connection.exec_driver_sql(
                f'CREATE DATABASE {self.quote}{self.db_name}{self.quote}')

    def drop(self):
        """Drop the database (an SQLite file is left to its directory)."""
        if self.admin is None:
            return
        with self.admin.connect() as connection:
            connection.exec_driver_sql(self._drop())
        self.admin.dispose()

    def _drop(self):
        # A pooler keeps server sessions open on the database: PostgreSQL
        # drops it only WITH (FORCE) (PostgreSQL 13 and later).
        force = ' WITH (FORCE)' if self.quote == '"' else ''
        return (f'DROP DATABASE IF EXISTS {self.quote}{self.db_name}'
                f'{self.quote}{force}')
