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

"""Rolling upgrades: the expand and contract phases of the revisions.

Revisions written for rolling upgrades live on two alembic branches,
labelled ``expand`` (additive changes, safe while the previous release
runs) and ``contract`` (destructive changes, once every service runs the
new release). Both branches start at the head the history had when they
were created (for enamel, ``6a1c2e9d4b01``), so a database at that head
moves into the layout with a plain ``upgrade``. A contract revision
``depends_on`` the expand revision it completes; between the two, online
data migrations (:mod:`enamel.data_migrations`) move the rows.

Revisions before the branches (the history written before rolling
upgrades) belong to the expand phase: they run first, as they always did.
A history without the two labels is not *branched*: ``upgrade --expand``
then means ``upgrade heads`` and there is nothing to contract.

The rule comes from OpenStack's expand/contract scheme (neutron, keystone,
glance) expressed with alembic's own branch labels, so that plain alembic
understands the layout too (``alembic upgrade expand@head``).
"""

import dataclasses

EXPAND = 'expand'
CONTRACT = 'contract'
PHASES = (EXPAND, CONTRACT)


def has_label(script, label):
    """Does a revision of ``script`` (a ``ScriptDirectory``) carry the
    branch label ``label``?"""
    from alembic.script import revision as alembic_revision
    from alembic import util

    try:
        return script.revision_map.get_revision(label) is not None
    except (alembic_revision.RevisionError, util.CommandError, KeyError):
        return False


def branched(script):
    """Is the history laid out in expand and contract branches?"""
    return has_label(script, EXPAND) and has_label(script, CONTRACT)


def phase_of(revision):
    """``'contract'`` for a revision on the contract branch, else
    ``'expand'`` (also for the history before the branches).

    :param revision: an ``alembic.script.Script``.
    """
    return CONTRACT if CONTRACT in revision.branch_labels else EXPAND


def target(script, phase):
    """The alembic upgrade target of ``phase``: ``expand@head`` or
    ``contract@head`` when the history is branched; otherwise ``heads``
    for expand and None (nothing to do) for contract."""
    if branched(script):
        return f'{phase}@head'
    return 'heads' if phase == EXPAND else None


def applied(script, current):
    """The revisions the database holds: ``current`` and everything
    below it, dependencies included (a set of ids)."""
    if not current:
        return set()
    return {r.revision for r in script.iterate_revisions(
        tuple(current), 'base')}


@dataclasses.dataclass
class Pending:
    """What a rolling upgrade still has to do.

    ``expand`` and ``contract``: the revision ids an upgrade to the heads
    would apply in each phase, in order; ``data_migrations``: the name of
    each open data migration mapped to the rows it has left (0 once done).
    """

    expand: list = dataclasses.field(default_factory=list)
    data_migrations: dict = dataclasses.field(default_factory=dict)
    contract: list = dataclasses.field(default_factory=list)

    @property
    def rows_left(self):
        return sum(self.data_migrations.values())

    def as_dict(self):
        return dataclasses.asdict(self)


def pending(connection, script, current):
    """What is pending for a database at ``current``, per phase.

    :param connection: a ``Connection``, left outside a transaction.
    :param script: the ``ScriptDirectory``.
    :param current: the database's revisions (tuple of ids).
    :returns: a :class:`Pending`.
    :raises exception.DataMigrationFailed: a data migration could not
        count its rows.
    """
    from enamel import alembic_internals
    from enamel import data_migrations

    result = Pending()
    for step in alembic_internals.upgrade_steps(script, 'heads',
                                                tuple(current)):
        revision = step.revision
        getattr(result, phase_of(revision)).append(revision.revision)
    for migration in data_migrations.open_migrations(script, current):
        result.data_migrations[migration.name] = migration.count(connection)
    return result
