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

"""``merge``: several heads joined in one revision, which in a history
with expand and contract branches stays on one branch."""

from enamel import alembic_internals
from enamel import exception
from enamel import phases
from enamel import scripts


class Merges:
    """The ``merge`` command of one database.

    :param history: its :class:`enamel.history.History`.
    """

    def __init__(self, history):
        self.history = history

    @property
    def script(self):
        return self.history.script

    def merge(self, revisions, message=None, branch_label=None,
              rev_id=None):
        """Merge several heads into one revision; the new ``Script``.

        In a history with expand and contract branches a merge stays on
        one branch: ``heads`` means the heads of the branch that has
        several (two developers each wrote an expand revision), and
        revisions of both branches are refused, since a merge of the two
        would put everything above it on both (see
        :meth:`enamel.phases.Layout.phase_of`).

        :param revisions: ids, prefixes or ``heads`` (a list of str).
        :raises exception.UsageError: the merge would join the expand and
            the contract branch, or both branches have several heads and
            ``heads`` does not say which to merge; nothing was written.
        """
        revisions = self.on_one_branch(list(revisions))
        script = scripts.merge(self.history.get_config(),
                               self.history.database, revisions, message,
                               branch_label=branch_label, rev_id=rev_id)
        self.history.reload()
        return script

    def on_one_branch(self, revisions):
        """``revisions`` for alembic's merge, with ``heads`` narrowed to
        one branch's heads in a branched history (see :meth:`merge`)."""
        layout = self.history.planner.layout
        if not layout.branched:
            return revisions
        with alembic_internals.errors(revision_argument=True):
            found = self.script.get_revisions(revisions)
        by_phase = {}
        for revision in found:
            by_phase.setdefault(layout.phase_of(revision), []).append(
                revision.revision)
        if len(by_phase) < 2:
            return revisions
        several = [p for p in phases.PHASES if len(by_phase.get(p, ())) > 1]
        if revisions == ['heads'] and len(several) == 1:
            return by_phase[several[0]]
        if not several:
            raise exception.UsageError(
                'the expand and the contract branch have one head each: '
                'there is nothing to merge (a merge of the two would join '
                'the branches, which must stay apart); nothing was written')
        commands = ' and '.join(
            f'"enamel-sync merge {" ".join(by_phase[p])} -m MSG"'
            for p in (several or phases.PHASES) if p in by_phase)
        raise exception.UsageError(
            'a merge of ' + ', '.join(
                f'{p} revision(s) {", ".join(ids)}'
                for p, ids in by_phase.items()) +
            ' would join the branches, which must stay apart: merge each '
            f'branch on its own ({commands}); nothing was written')
