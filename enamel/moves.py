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

"""The commands that move one database: ``upgrade``, ``downgrade`` and
``stamp``, online (:class:`enamel.migrator.Migrator`; a branched
history's ``upgrade head`` in its three phases,
:class:`enamel.phased.PhasedUpgrade`) or as a ``--sql`` script
(:class:`enamel.offline.OfflineScripts`)."""

from enamel import alembic_internals
from enamel import exception
from enamel import phases


class Moves:
    """``upgrade``, ``downgrade`` and ``stamp`` of one database.

    :param history: its :class:`enamel.history.History`.
    :param migrator: its :class:`enamel.migrator.Migrator`.
    :param offline: its :class:`enamel.offline.OfflineScripts`.
    :param phased: its :class:`enamel.phased.PhasedUpgrade`.
    """

    def __init__(self, history, migrator, offline, phased):
        self.history = history
        self.migrator = migrator
        self.offline = offline
        self.phased = phased

    def upgrade(self, revision='head', sql=False, tag=None,
                ignore_phase_rules=False):
        """Upgrade to a later revision.

        Every target is planned and judged by the phase rules before
        anything runs (:func:`enamel.phases.judge`). In a history with
        expand and contract branches, ``head`` and ``heads`` run the three
        phases in order (expand, online data migrations, contract). A
        database already at the heads recorded in the HEADS file is
        recognised without loading a revision file.

        :param revision: target revision: an id or a unique prefix,
            relative (``+1``) or symbolic (``head``, ``heads``,
            ``label@head``); ``FROM:TO`` with ``sql`` (in a branched
            history, ``head`` there means every head, as a plain
            upgrade's phases reach them).
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py (``context.get_tag_argument()``).
        :param ignore_phase_rules: go past the phase rules on purpose;
            each rule broken is logged as a warning.
        :raises exception.BadRevision: ``revision`` names no revision.
        :raises exception.PhaseRefused: a phase rule refused the plan
            (exit 9); nothing was changed (a plain upgrade refused at
            its contract phase: nothing after its expand phase and data
            migrations).
        :raises exception.OfflineRefused: with ``sql``, a phase rule
            refused the range (exit 1); nothing was written.
        :raises exception.UnfinishedRevision: the plan applies a data
            migration's unfinished skeleton (exit 1).
        :raises exception.DataMigrationFailed: a contract revision would
            run while a data migration cannot count its rows, or, in a
            plain upgrade of a branched history, its data migrations
            failed or kept rows left (exit 1; not with
            ``ignore_phase_rules`` when a contract revision is pending).
        :raises exception.MigrationFailed: a revision failed.
        """
        if sql:
            return self.offline.write('upgrade', revision, tag=tag,
                                      ignore=ignore_phase_rules)
        if revision in ('head', 'heads') and self.history.branched():
            return self.phased.run(tag, ignore_phase_rules)
        self.migrator.upgrade(revision, tag, ignore_phase_rules)

    def downgrade(self, revision='-1', sql=False, tag=None):
        """Revert to a previous revision.

        :param revision: target revision (``-1``, ``base``, an id);
            ``FROM:TO`` with ``sql``, where ``FROM`` may be ``heads``
            (every head; in a branched history ``head`` too, as
            :meth:`upgrade`'s ``TO``).
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :raises exception.BadRevision: ``revision`` names no revision, or
            is ambiguous (several heads and a relative target).
        :raises exception.MigrationFailed: a revision failed.
        """
        if sql:
            return self.offline.write('downgrade', revision, tag=tag)
        self.migrator.downgrade(revision, tag)

    def stamp(self, revision, sql=False, purge=False, tag=None,
              verify=False, ignore_phase_rules=False):
        """Set the version table to ``revision`` without running migrations.

        :param revision: target revision, or a list of them.
        :param sql: write the SQL to stdout instead of running it.
        :param purge: empty the version table first (also unknown rows).
        :param tag: passed to env.py.
        :param verify: first compare the live schema with the models and
            refuse if they differ (for adopting an existing database).
        :param ignore_phase_rules: as for :meth:`upgrade`.
        :raises exception.SchemaMismatch: ``verify`` found differences.
        :raises exception.PhaseRefused: the stamp would record contract
            revisions while data migrations have rows left (closing them
            with their rows never moved).
        """
        if self.history.branched():
            # As upgrade reads it: alembic's "head" refuses the expand
            # and contract heads as ambiguous.
            revision = ([phases.every_head(r) for r in revision]
                        if isinstance(revision, (list, tuple))
                        else phases.every_head(revision))
        if verify:
            self._verifiable(revision)
        if sql:
            return self.offline.write('stamp', revision, tag=tag,
                                      purge=purge)
        self.migrator.stamp(revision, tag=tag, purge=purge, verify=verify,
                            ignore=ignore_phase_rules)

    def _verifiable(self, revision):
        """Refuse ``stamp --verify`` of anything but the heads: the
        schema is compared with this release's models, which are the
        models at the heads; at another revision they would pass a schema
        that is not there (and refuse one that is).

        :raises exception.UsageError: ``revision`` is not the heads.
        """
        script = self.history.script
        targets = revision if isinstance(revision, (list, tuple)) else [
            revision]
        with alembic_internals.errors(revision_argument=True):
            named = {r.revision for target in targets
                     for r in script.get_revisions(target) if r}
        heads = set(script.get_heads())
        if _with_ancestors(script, named) != _with_ancestors(script, heads):
            raise exception.UsageError(
                f'stamp --verify compares the database with the models of '
                f'this release, which are at the heads '
                f'({", ".join(sorted(heads))}), not at '
                f'{", ".join(sorted(named)) or "base"}: to adopt a database '
                'at an older revision, verify it with the release whose '
                'head that is, or stamp without --verify; nothing was '
                'changed')


def _with_ancestors(script, revisions):
    """The ids of ``revisions`` and of everything they stand on, their
    ``depends_on`` included (a set): alembic's ``heads`` leaves out a head
    that another head depends on (``stamp heads`` writes only the
    dependent one), and both name the same schema."""
    return {r.revision for revision in revisions
            for r in script.iterate_revisions(revision, 'base')}
