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

"""Which revisions of a history are below which: what a database at some
revisions holds, and the upgrade order (oldest first) in which plans and
the phase rules' advice list revisions."""

from enamel import data_migrations


class Ancestry:
    """The ancestry of the revisions of one history.

    :param script: the ``alembic.script.ScriptDirectory``.
    """

    def __init__(self, script):
        self.script = script
        self._revisions = None
        self._declared = None
        self._applied = {}  # frozenset(current): frozenset of ids

    def revisions(self):
        """Every revision (``alembic.script.Script``), oldest first (a
        list, walked once)."""
        if self._revisions is None:
            self._revisions = list(reversed(list(
                self.script.walk_revisions('base', 'heads'))))
        return self._revisions

    def declared(self):
        """Every data migration the revisions declare, oldest revision
        first (see :func:`enamel.data_migrations.declared`; read once)."""
        if self._declared is None:
            self._declared = [m for r in self.revisions()
                              for m in data_migrations.of_revision(r)]
        return self._declared

    def open_migrations(self, current):
        """The data migrations open at ``current`` (see
        :func:`enamel.data_migrations.open_migrations`)."""
        return data_migrations.open_migrations(self.script, current,
                                               self.declared())

    def applied(self, current):
        """The revisions a database at ``current`` holds (a frozenset of
        ids; see :func:`enamel.data_migrations.applied`), walked once for
        each ``current``: one plan asks it of the same revisions for each
        phase and rule."""
        key = frozenset(current)
        found = self._applied.get(key)
        if found is None:
            found = self._applied[key] = frozenset(
                data_migrations.applied(self.script, key))
        return found

    def order(self, ids):
        """``ids`` (an iterable of revision ids) in upgrade order, oldest
        first (a list)."""
        ids = set(ids)
        return [r.revision for r in self.revisions() if r.revision in ids]

    def heads_of(self, ids):
        """Those of ``ids`` that no other of ``ids`` is below, in upgrade
        order (a list)."""
        ids = set(ids)
        covered = set()
        for revision_id in ids:
            covered |= self.applied((revision_id,)) - {revision_id}
        return self.order(ids - covered)
