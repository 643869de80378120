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

"""Reaching one database: its engines and connections, and the migration
lock around the commands that write (:func:`enamel.lock.migration_lock`).
"""

import contextlib

import sqlalchemy as sa

from enamel import db
from enamel import exception
from enamel import lock


class Access:
    """The engines and connections of one of enamel's databases.

    :param conf: enamel's parsed ``ConfigOpts``.
    :param database: the :class:`enamel.databases.Database`.
    :param engine: an ``Engine`` handed in by the caller (it then serves
        the reading commands too), or None to build one from
        ``[<group>] connection``.
    """

    def __init__(self, conf, database, engine=None):
        self.conf = conf
        self.database = database
        self._engine = engine and db.transactional(engine)
        self._handed_in = engine is not None
        self._reader = None
        self._answered = False
        self._kept = None  # the look's connection, for locked()

    @property
    def engine(self):
        """The ``Engine``, built from the configuration on first use."""
        if self._engine is None:
            self._engine = db.create_engine(self.conf, self.database.group)
        return self._engine

    def read_only_engine(self):
        """The engine of the reading commands: on SQLite it never creates
        or changes the file (see :func:`enamel.db.create_engine`). The
        backend is read from the URL: a reading command on SQLite builds
        no writing engine.

        :raises exception.ConfigError: see :func:`enamel.db.make_url`.
        """
        if self._handed_in or self._backend() != 'sqlite':
            return self.engine  # a server's is opened as usual
        if self._reader is None:
            reader = db.create_engine(
                self.conf, self.database.group, read_only=True)
            if reader.dialect.name == 'sqlite' and not reader.url.database:
                # The empty stand-in for an SQLite file that does not
                # exist yet: a write may create it before the next read.
                return reader
            self._reader = reader
        return self._reader

    def _backend(self):
        """The backend's name (``sqlite``, ``postgresql``, ``mysql``,
        ``mariadb``), from the engine when it is built, else the URL."""
        if self._engine is not None:
            return self._engine.dialect.name
        group = self.database.group
        return db.make_url(self.conf[group].connection,
                           group).get_backend_name()

    @contextlib.contextmanager
    def connect(self, read_only=False):
        """A ``Connection`` (closed after the block).

        Once a connection of this ``Access`` succeeded, a later one that
        fails is tried again for :data:`enamel.db.RECONNECT` seconds: the
        database answered, so it is restarting (see
        :func:`enamel.db.connect`).

        :raises exception.DatabaseError: the database cannot be reached.
        """
        with self._open(read_only) as connection:
            yield connection

    def _open(self, read_only=False):
        engine = self.read_only_engine() if read_only else self.engine
        wait = db.RECONNECT if self._answered else 0
        try:
            connection = db.connect(engine, wait)
        except sa.exc.DBAPIError as exc:
            again = (f' again (it answered earlier in this run; tried for '
                     f'{wait}s)' if wait else '')
            raise exception.DatabaseError(
                'cannot connect to the database '
                f'{db.describe(engine.url)}{again}: '
                f'{exception.first_line(exc.orig)}') from None
        self._answered = True
        return connection

    @contextlib.contextmanager
    def looking(self):
        """The ``Connection`` of the look before the migration lock, which
        only reads (:meth:`enamel.migrator.Migrator.look`). On a server it
        is the engine's own: once the block ended without an error, its
        transaction is rolled back and the next :meth:`locked` migrates
        on it, after a ping (:func:`enamel.db.alive`; a new connection if
        the server restarted meanwhile). A command then opens one
        connection fewer (each is a TCP handshake, authentication and
        the session's set-up; PyMySQL also builds a TLS context for
        each). On SQLite the look's connection never writes (see
        :meth:`read_only_engine`) and is closed, unless the engine was
        handed in: it serves both then, as on a server.

        :raises exception.DatabaseError: the database cannot be reached.
        """
        connection = self._open(read_only=True)
        try:
            yield connection
            connection.rollback()  # no snapshot of the look's lasts
        except BaseException:
            connection.close()
            raise
        if connection.engine is self.engine:
            self._kept, kept = connection, self._kept
            if kept is not None:
                kept.close()
        else:
            connection.close()

    @contextlib.contextmanager
    def locked(self):
        """Connect (or take the look's connection, see :meth:`looking`)
        and hold the migration lock (on connections of its own); yields
        the migration's connection and the held lock."""
        connection, self._kept = self._kept, None
        if connection is not None and not db.alive(connection):
            # The server restarted since the look: connect again (the
            # database answered: tried for db.RECONNECT seconds).
            connection.close()
            connection = None
        with connection or self._open() as connection:
            with lock.migration_lock(self.engine, self.conf,
                                     self.database) as held:
                held.prepare(connection)
                try:
                    yield connection, held
                finally:
                    held.unprepare(connection)
