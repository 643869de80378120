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

"""Reading one database and its revisions without changing either:
``version``, ``current``, ``heads``, ``history``, ``show``, ``branches``,
``check`` and ``schema_dump`` (each mirrors the ``alembic.command``
function of the same name where alembic has one)."""

from enamel import alembic_internals
from enamel import scripts
from enamel import state


class Inspection:
    """The read-only commands of one database.

    :param history: its :class:`enamel.history.History`.
    :param access: its :class:`enamel.access.Access`.
    :param migrator: its :class:`enamel.migrator.Migrator` (which guards
        the revisions read, see :meth:`enamel.migrator.Migrator.current`).
    """

    def __init__(self, history, access, migrator):
        # Not ``self.history``: that is the ``history`` command.
        self.revisions = history
        self.access = access
        self.migrator = migrator

    def version(self):
        """The revision ids in the version table (a list, empty if
        unversioned). Reads the table directly: no revision file, no
        alembic."""
        with self.access.connect(read_only=True) as connection:
            return state.read(connection, tables=False,
                              database=self.revisions.database).current

    def current(self, verbose=False):
        """Print the current revision(s), as alembic does."""
        from alembic import command
        with self.access.connect(read_only=True) as connection:
            self.migrator.current(connection, adopt=True)
            with alembic_internals.errors():
                command.current(self.revisions.get_config(connection),
                                verbose=verbose)

    def show(self, revision):
        """Print one revision."""
        from alembic import command
        with alembic_internals.errors():
            command.show(self.revisions.get_config(), revision)

    def branches(self, verbose=False):
        """Print the revisions where the history branches."""
        from alembic import command
        with alembic_internals.errors():
            command.branches(self.revisions.get_config(), verbose=verbose)

    def heads(self, resolve_dependencies=False):
        """The head revisions of the scripts, as ``Script`` objects.

        :param resolve_dependencies: as alembic's ``heads``: a revision
            that another one ``depends_on`` is not a head.
        """
        script = self.revisions.script
        if resolve_dependencies:
            with alembic_internals.errors():
                return list(script.get_revisions('heads'))
        return [script.get_revision(h) for h in script.get_heads()]

    def history(self, rev_range=None):
        """The revisions in ``rev_range`` (``A:B``), newest first."""
        base, head = scripts.history_range(rev_range)
        with alembic_internals.errors():
            return list(self.revisions.script.walk_revisions(base=base,
                                                             head=head))

    def check(self):
        """Report the state of the database (a
        :class:`enamel.state.CheckResult`)."""
        history = self.revisions
        heads = history.recorded_heads() or tuple(history.script.get_heads())
        with self.access.connect(read_only=True) as connection:
            return state.check(
                connection, lambda: history.planner, heads,
                database=history.database, accepted=history.accepted(),
                version_dirs=history.version_dirs())

    def schema_dump(self):
        """The live database's tables and indexes as DDL for its dialect."""
        with self.access.connect(read_only=True) as connection:
            return state.schema_dump(connection)
