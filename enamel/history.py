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

"""One database's revision history: the alembic ``Config`` with the
configure callbacks applied, the ``ScriptDirectory`` (loaded once) and
its :class:`enamel.planner.Planner`."""

import contextlib

from enamel import alembic_internals
from enamel import drift
from enamel import environment
from enamel import exception
from enamel import heads_file
from enamel import locations
from enamel import planner as planning


class History:
    """The revisions of one database.

    :param conf: enamel's parsed ``ConfigOpts``.
    :param database: the :class:`enamel.databases.Database`.
    :param x_arguments: ``KEY=VALUE`` strings for env.py (alembic's ``-x``).
    """

    def __init__(self, conf, database, x_arguments=()):
        self.conf = conf
        self.database = database
        self.x_arguments = tuple(x_arguments)
        self.callbacks = []
        # Migration.accept_drift's hooks (see enamel.drift).
        self.drift_hooks = []
        self._script = None
        self._planner = None
        self._heads_file = None

    def configure(self, func):
        """Register ``func(config)`` to adjust the alembic Config before use.

        Usable as a decorator; ``func`` returns the Config (or None to keep
        the one it was given). The loaded revisions are forgotten (the
        callback may add some).
        """
        self.callbacks.append(func)
        self.reload()
        return func

    def accept_drift(self, func):
        """Register ``func(difference)`` to accept known drift.

        Usable as a decorator. ``difference`` is an
        :class:`enamel.drift.Difference` (``kind``, ``target``, ``line``,
        as ``check`` prints it); ``func`` returns True to accept it:
        ``check`` and ``stamp --verify`` list it as accepted instead of
        failing, and ``revision --autogenerate`` leaves it out of the
        revision. Adds to ``[database] accepted_drift``; see
        :mod:`enamel.drift`.
        """
        self.drift_hooks.append(func)
        return func

    def get_config(self, connection=None, version_path=None, **options):
        """The alembic ``Config`` (see
        :func:`enamel.environment.make_config`), with the configure
        callbacks applied."""
        options.setdefault('accepted', self.accepted())
        return environment.make_config(
            self.conf, connection, version_path=version_path,
            callbacks=self.callbacks, x_arguments=self.x_arguments,
            database=self.database, **options)

    def version_dirs(self):
        """Every directory of this database's revision files, with those
        a configure callback adds (see
        :func:`enamel.locations.version_dirs`)."""
        return locations.version_dirs(self.get_config())

    def accepted(self):
        """The :class:`enamel.drift.Accepted` differences of this
        database: its ``accepted_drift`` option and the hooks."""
        return drift.for_database(self.conf, self.database,
                                  self.drift_hooks)

    @property
    def script(self):
        """The ``ScriptDirectory``, loaded once and reused by every call.

        :raises exception.BadRevision: the revision files are broken.
        """
        if self._script is None:
            from alembic import script as alembic_script
            with alembic_internals.errors():
                self._script = alembic_script.ScriptDirectory.from_config(
                    self.get_config())
        return self._script

    @property
    def planner(self):
        """The :class:`enamel.planner.Planner` of :attr:`script`."""
        if self._planner is None:
            self._planner = planning.Planner(self.script)
        return self._planner

    def reload(self):
        """Forget the loaded revisions (a revision file was written)."""
        self._script = self._planner = self._heads_file = None

    def recorded_heads(self, target='heads'):
        """What ``target`` resolves to, from the HEADS file (no revision
        file loaded); None when that file cannot answer, when ``target``
        is not ``head`` or ``heads``, when a configure callback may
        change the revisions, or when they are in several directories
        (one HEADS file knows one directory's)."""
        if (self.callbacks or target not in ('head', 'heads')
                or len(self.database.locations()) > 1
                or self.database.recursive_version_locations):
            return None
        if self._heads_file is None:  # read once
            self._heads_file = (heads_file.read(self.database.versions_dir),)
        heads, = self._heads_file
        if heads is None or (target == 'head' and len(heads) != 1):
            return None
        return heads

    def branched(self):
        """Is the history in expand and contract branches? A single
        recorded head answers no without loading a revision file."""
        recorded = self.recorded_heads('heads')
        if recorded is not None and len(recorded) == 1:
            return False
        return self.planner.layout.branched

    def preload(self):
        """Load the revision files before waiting for the lock: processes
        queued behind it read them while the first one migrates. An error
        is left for the same call under the lock to report."""
        with contextlib.suppress(exception.EnamelSyncError):
            self.script
