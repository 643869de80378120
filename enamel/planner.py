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

"""The one planner: what a command will run, before anything runs.

Every path that changes a database or prints SQL for one (``upgrade``
with any target alembic accepts, ``--sql FROM:TO``, ``--expand``,
``--contract``, ``downgrade``, ``stamp``, the Python API, each database
of a multi-database run) asks :class:`Planner` for a :class:`Plan`: the
revisions alembic will run, in alembic's order (alembic plans them; the
planner only asks it, see :mod:`enamel.alembic_internals`), each a
:class:`Step` classified by :class:`enamel.phases.Layout` (expand,
contract, plain, or on neither branch) with its data migrations. The
phase rules (:func:`enamel.phases.judge`) then accept or refuse the plan,
and the runner hands alembic the very steps that were judged.
"""

import dataclasses

from enamel import alembic_internals
from enamel import ancestry
from enamel import data_migrations
from enamel import exception
from enamel import phases

UPGRADE = 'upgrade'
DOWNGRADE = 'downgrade'
STAMP = 'stamp'


@dataclasses.dataclass(frozen=True)
class Step:
    """One revision of a plan.

    ``revision``: the ``alembic.script.Script``; ``phase``: see
    :meth:`enamel.phases.Layout.phase_of`; ``data_migrations``: the names
    (``<revision>.<function>``) of the data migrations it declares;
    ``unfinished``: the names of those still a skeleton (see
    :func:`enamel.data_migrations.unfinished_in`); ``id``: the revision's
    id.
    """

    revision: object
    phase: str
    data_migrations: tuple = ()
    unfinished: tuple = ()
    id: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        # Read by every rule for every step: an attribute, not a property.
        object.__setattr__(self, 'id', self.revision.revision)


@dataclasses.dataclass
class Plan:
    """What one command will run.

    :param command: ``upgrade``, ``downgrade`` or ``stamp``.
    :param target: the target as given (str or tuple).
    :param current: the revisions the database is at (offline: the start
        of the range), a tuple of ids.
    :param steps: the :class:`Step` list, in the order alembic runs it.
    :param alembic_steps: what alembic planned (its ``RevisionStep`` or
        ``StampStep`` objects), handed to the runner unchanged.
    :param layout: the history's :class:`enamel.phases.Layout`.
    :param offline: the plan of a ``--sql`` script.
    """

    command: str
    target: object
    current: tuple
    steps: list
    alembic_steps: list
    layout: object
    offline: bool = False
    _below: dict = dataclasses.field(default=None, init=False, repr=False,
                                     compare=False)

    def __bool__(self):
        return bool(self.alembic_steps)

    def ids(self, phase=None):
        """The revision ids of the steps (of ``phase`` only, if given)."""
        return [s.id for s in self.steps
                if phase is None or s.phase == phase]

    def has(self, phase):
        """Has the plan a step of ``phase``?"""
        return any(s.phase == phase for s in self.steps)

    def needs(self, step):
        """The steps of the plan that ``step`` needs (below it through
        ``down_revision`` or ``depends_on``), in plan order."""
        if self._below is None:
            self._below = self._find_below()
        return [self.steps[i] for i in sorted(self._below[step.id])]

    def _find_below(self):
        """For each step id, the indexes of the plan's steps below it:
        one pass in plan order (alembic's order puts every revision after
        the ones below it)."""
        index = {s.id: i for i, s in enumerate(self.steps)}
        below = {}
        for step in self.steps:
            found = set()
            for parent in alembic_internals.down_revisions(step.revision):
                if parent in index:
                    found.add(index[parent])
                    found |= below[parent]
            below[step.id] = found
        return below

    def then(self, later):
        """This upgrade and ``later`` (an upgrade from where this one
        ends, :meth:`after`) as one plan, to ``later``'s target."""
        return Plan(self.command, later.target, self.current,
                    self.steps + later.steps,
                    self.alembic_steps + later.alembic_steps, self.layout)

    def after(self):
        """The revisions the database is at once the plan (an upgrade)
        ran: its ``current`` and its steps, but those right below one of
        its steps (the rest is below those), a tuple in upgrade order."""
        ids = set(self.current) | set(self.ids())
        for step in self.steps:
            ids -= set(alembic_internals.down_revisions(step.revision))
        return tuple(i for i in self.current if i in ids) + tuple(
            i for i in self.ids() if i in ids)


class Planner:
    """Plans commands over one history.

    :param script: the ``alembic.script.ScriptDirectory`` (with the
        configure callbacks' revisions, if any).

    It holds the history's :class:`enamel.phases.Layout` (``layout``:
    the phase of each revision) and :class:`enamel.ancestry.Ancestry`
    (``ancestry``: which revisions are below which).
    """

    def __init__(self, script):
        self.script = script
        self.layout = phases.Layout(script)
        self.ancestry = ancestry.Ancestry(script)
        self._steps = {}
        self._off_branches = None

    def step(self, revision):
        """The :class:`Step` of ``revision`` (an ``alembic.script.
        Script``), made once per revision."""
        found = self._steps.get(revision.revision)
        if found is None:
            found = self._steps[revision.revision] = Step(
                revision, self.layout.phase_of(revision),
                tuple(m.name for m in
                      data_migrations.of_revision(revision)),
                tuple(data_migrations.unfinished_in(revision)))
        return found

    def upgrade(self, target, current):
        """The plan of ``upgrade target`` from ``current``.

        :raises exception.BadRevision: ``target`` names nothing, or
            several, or is relative while the database is at several.
        """
        found = alembic_internals.upgrade_steps(self.script, target,
                                                tuple(current))
        return self._plan(UPGRADE, target, current,
                          [s.revision for s in found], found)

    def part(self, plan, phase, current):
        """The part of ``plan`` (an upgrade to the heads) that an upgrade
        to ``phase``'s heads runs from ``current``, without asking alembic
        again: the steps of ``plan`` below those heads that ``current``
        does not hold, in ``plan``'s order (every revision after the ones
        below it, as alembic's own plan has them). None when ``current``
        is not on ``plan``'s way (the database moved elsewhere meanwhile):
        plan again then.

        :param plan: a :class:`Plan` to ``heads``.
        :param phase: ``'expand'`` or ``'contract'``.
        :param current: the revisions the database is at (a tuple).
        """
        applied = self.ancestry.applied
        held = applied(current)
        start = applied(plan.current)
        if not start <= held or not held - start <= set(plan.ids()):
            return None
        wanted = applied(self.layout.heads(phase)) - held
        keep = [i for i, s in enumerate(plan.steps) if s.id in wanted]
        return Plan(UPGRADE, self.layout.target(phase), tuple(current),
                    [plan.steps[i] for i in keep],
                    [plan.alembic_steps[i] for i in keep], self.layout)

    def pending(self, current):
        """Everything an upgrade to the heads would run (a :class:`Plan`
        to ``heads``)."""
        return self.upgrade('heads', current)

    def downgrade(self, target, current):
        """The plan of ``downgrade target`` from ``current``.

        :raises exception.BadRevision: ``target`` is relative (``-1``)
            and the database is at base (no version), where alembic's
            words are "Relative revision -1 didn't produce 1 migrations";
            or ``target`` names no revision.
        """
        if not current and str(target).startswith('-'):
            raise exception.BadRevision(
                f'downgrade {target}: the database is at base (it has no '
                'version): there is nothing to downgrade')
        found = alembic_internals.downgrade_steps(self.script, target,
                                                  tuple(current))
        return self._plan(DOWNGRADE, target, current,
                          [s.revision for s in found], found)

    def stamp(self, target, current):
        """The plan of ``stamp target`` from ``current``: its steps are
        the revisions the stamp records as applied that were not (none
        when it moves down)."""
        found = alembic_internals.stamp_steps(self.script, target,
                                              tuple(current))
        applied = self.ancestry.applied
        added = applied(
            [i for s in found for i in s.to_revisions]
            + [r for r in current
               if not any(r in s.from_revisions for s in found)])
        added -= applied(current)
        return self._plan(STAMP, target, current, [
            self.script.get_revision(r)
            for r in self.ancestry.order(added)], found)

    def offline(self, revision_range):
        """The plan of ``upgrade --sql`` over ``revision_range``
        (``TO`` from base, or ``FROM:TO``; ``TO`` may be a tuple of ids,
        a phase's several heads), as alembic writes it.

        :raises exception.BadRevision: a side names no revision.
        """
        if isinstance(revision_range, str):
            start, _, target = revision_range.rpartition(':')
        else:
            start, target = '', revision_range
        current = () if start in ('', 'base') else (start,)
        if current:
            with alembic_internals.errors(revision_argument=True):
                current = (self.script.get_revision(start).revision,)
        plan = self.upgrade(target, current)
        plan.offline = True
        return plan

    def off_branches(self):
        """A :class:`enamel.phases.Refusal` (rule ``neither-branch``, with
        its advice) for each revision of a branched history that is on
        neither branch, oldest first; looked for once."""
        if not self.layout.branched:
            return []
        if self._off_branches is None:
            self._off_branches = [
                phases.neither_refusal(self, self.step(r))
                for r in self.ancestry.revisions()
                if self.layout.phase_of(r) == phases.NEITHER]
        return self._off_branches

    def _plan(self, command, target, current, revisions, found):
        return Plan(command, target, tuple(current),
                    [self.step(r) for r in revisions], found, self.layout)
