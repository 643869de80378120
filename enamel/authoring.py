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

"""The commands of :class:`enamel.migration.Migration` that write
revision files: ``revision`` (also ``--expand``, ``--contract``,
``--data-migration``, ``--autogenerate``), ``merge`` and ``edit``. The
files are written by alembic's commands, with enamel's checks, in
:mod:`enamel.scripts`; ``merge`` is :mod:`enamel.merging`'s.
"""

import contextlib
import logging
import os
import shutil
import subprocess

from enamel import alembic_internals
from enamel import exception
from enamel import phases
from enamel import scripts
from enamel import state

LOG = logging.getLogger(__name__)

CONTRACT_DATA_MIGRATION = (
    'a data migration belongs to an expand revision (it moves the rows '
    'before contract removes their old form): --data-migration cannot be '
    'combined with --contract')


class Revisions:
    """The revision-writing commands of one database.

    :param history: its :class:`enamel.history.History`.
    :param access: its :class:`enamel.access.Access` (autogenerate
        compares the models with the database).
    """

    def __init__(self, history, access):
        self.history = history
        self.access = access

    @property
    def script(self):
        return self.history.script

    def revision(self, message, autogenerate=False, head='head',
                 splice=False, branch_label=None, version_path=None,
                 rev_id=None, depends_on=None, sql_files=False,
                 data_migration=None):
        """Create a new revision file (alembic's post-write hook then
        rewrites ``versions/HEADS``).

        Without ``version_path`` it is written to ``alembic_migrations/
        versions/``, which must be a source tree: in an installed
        site-packages the file would be lost, so that is refused.

        :param message: the revision's message (required, not blank).
        :param autogenerate: compare the models with the database and
            write the operations that bring the database to the models.
            In a history with expand and contract branches the revision
            is split in two, one per branch (a list is returned).
        :param sql_files: scaffold ``<rev>_upgrade.sql`` and
            ``<rev>_downgrade.sql`` beside the revision, which runs them.
        :param data_migration: a str, the name (a Python identifier) of
            an online data migration whose skeleton the revision gets:
            a ``data_migrations`` tuple naming a function built with
            :func:`enamel.data_migrations.update_in_batches` on
            placeholders and wrapped in
            :func:`enamel.data_migrations.unfinished`, which fails until
            the placeholders are filled in. A data migration belongs to
            an expand revision: use
            :meth:`PhaseRevisions.revision_in_phase` with
            ``'expand'`` (``head`` must not be on the contract branch).
            With ``autogenerate`` split in two, the expand revision gets
            it, and is written even when autogenerate found only
            removals or no change at all; the contract revision depends
            on it.
        :returns: the new ``alembic.script.Script`` (a list of two when
            ``autogenerate`` split it, the expand revision first, which
            the contract revision depends on), or None when
            ``autogenerate`` found no change and no ``data_migration`` was
            asked for (no file is written then). With ``sql_files`` its
            ``.sql`` files are beside it (:func:`enamel.sql_files.paths`).
            :meth:`PhaseRevisions.revision_in_phase` returns every
            revision it wrote, the branch roots included.
        :raises exception.UsageError: no message, nowhere to write, a
            ``rev_id`` in use or invalid (longer than alembic's version
            column holds: see :func:`enamel.scripts.require_rev_id`),
            ``sql_files`` with ``autogenerate``, or a
            ``data_migration`` that is not a
            Python identifier, is a name the revision file uses itself,
            or would go on the contract branch.
        :raises exception.UnsafeRevision: ``autogenerate`` found a change
            that would not apply on every engine (see
            :mod:`enamel.autogen`); no file is written.
        """
        require_new_rev_id(self.script, rev_id)
        _require_one_kind(sql_files, autogenerate)
        require_a_branch(self.history, head, branch_label)
        scaffold = None
        if data_migration is not None:
            scripts.require_data_migration_name(data_migration)
            require_expand_head(self.script, head)
            from alembic import util
            rev_id = rev_id or util.rev_id()
            scaffold = (rev_id, data_migration)
        with contextlib.ExitStack() as stack:
            connection = None
            if autogenerate:
                connection = stack.enter_context(self.access.connect())
                state.guard(state.read(connection,
                                       database=self.history.database),
                            self.script)
            script = scripts.write_revision(
                self.history.get_config(
                    connection, version_path=version_path,
                    sql_files=sql_files, data_migration=scaffold),
                self.history.database, message, sql_files_scaffold=sql_files,
                autogenerate=autogenerate, head=head,
                splice=splice, branch_label=branch_label,
                version_path=version_path, rev_id=rev_id,
                depends_on=depends_on)
        self.history.reload()
        return script


class PhaseRevisions:
    """The revisions of the expand and contract branches of one database,
    written by its :class:`Revisions`.

    :param history: its :class:`enamel.history.History`.
    :param revisions: its :class:`Revisions`.
    """

    def __init__(self, history, revisions):
        self.history = history
        self.revisions = revisions

    def revision_in_phase(self, phase, message, depends_on=None,
                          data_migration=None, **kw):
        """Create a revision on the ``expand`` or ``contract`` branch.

        The first time, the two branches are created: an empty root
        revision for each, both revising the current head, so that a
        database at that head moves into the layout with ``upgrade``.
        A contract revision without ``depends_on`` depends on the expand
        branch's head, the revision it is assumed to complete.

        :param phase: ``'expand'`` or ``'contract'``.
        :param message: see :meth:`Revisions.revision`; further keywords too.
        :param data_migration: see :meth:`Revisions.revision`; only with
            ``'expand'``.
        :returns: a list of every ``alembic.script.Script`` written,
            oldest first: the expand and the contract branch's roots when
            this call created them, then the new revision (or the two of
            an ``autogenerate`` split, expand first); None when
            ``autogenerate`` found no change (nothing is written). A
            revision's ``.sql`` files (``sql_files``) are beside it:
            :func:`enamel.sql_files.paths`.
        :raises exception.UsageError: see :meth:`Revisions.revision`; or the
            history has several heads and no branches; or
            ``autogenerate`` before the branches exist (the database
            must be at their heads to compare); or ``data_migration``
            with ``'contract'``. Nothing is written then.
        """
        _require_one_kind(kw.get('sql_files'), kw.get('autogenerate'))
        if data_migration is not None:
            scripts.require_data_migration_name(data_migration)
            if phase == phases.CONTRACT:
                raise exception.UsageError(CONTRACT_DATA_MIGRATION)
        written = []
        if not phases.branched(self.history.script):
            scripts.require_message(message, 'revision')
            require_new_rev_id(self.history.script, kw.get('rev_id'))
            if kw.get('autogenerate'):
                raise exception.UsageError(
                    'autogenerate compares a database at the heads of the '
                    'expand and contract branches, which do not exist yet: '
                    'create them with "revision --expand -m MSG" (without '
                    '--autogenerate), run "upgrade", then autogenerate')
            written = self._create_branches(message, kw.get('version_path'))
        if phase == phases.CONTRACT and not depends_on:
            depends_on = [self.history.script.get_revision(
                f'{phases.EXPAND}@head').revision]
        new = self.revisions.revision(
            message, head=f'{phase}@head', depends_on=depends_on,
            data_migration=data_migration, **kw)
        if new is None:
            return None
        return written + (new if isinstance(new, list) else [new])

    def _create_branches(self, message, version_path):
        """Write the roots of the expand and contract branches on the one
        head; the two ``Script`` objects, expand's first."""
        scripts.require_message(message, 'revision')
        heads = self.history.script.get_heads()
        if len(heads) != 1:
            raise exception.UsageError(
                'cannot start the expand and contract branches on several '
                f'heads ({", ".join(heads)}); merge them first')
        expand = self.revisions.revision(
            'expand branch root', head=heads[0],
            branch_label=phases.EXPAND, version_path=version_path)
        contract = self.revisions.revision(
            'contract branch root', head=heads[0], splice=True,
            branch_label=phases.CONTRACT, version_path=version_path,
            depends_on=[expand.revision])
        return [expand, contract]


def _require_one_kind(sql_files, autogenerate):
    """:raises exception.UsageError: both ``sql_files`` and
    ``autogenerate``: a ``--sql-files`` revision runs its ``.sql`` files,
    and the operations autogenerate found would be written nowhere."""
    if sql_files and autogenerate:
        raise exception.UsageError(
            '--sql-files and --autogenerate exclude each other: '
            'autogenerate writes operations, --sql-files a revision that '
            'runs the SQL you write')


def require_a_branch(history, head, branch_label):
    """In a branched history, a new revision goes on a branch.

    Revisions already on neither branch are named, with what to do
    (a warning: they are not this command's to fix).

    :raises exception.UsageError: the revision would be on neither
        the expand nor the contract branch (``--head`` at or before
        the branch point, or on a revision on neither branch).
    """
    layout = history.planner.layout
    if not layout.branched or branch_label:
        return
    for refusal in history.planner.off_branches():
        LOG.warning('%s; %s', refusal.reason, refusal.advice)
    try:
        with alembic_internals.errors(revision_argument=True):
            base = history.script.get_revision(head)
    except exception.BadRevision:
        return  # alembic says why, when it writes
    if base is not None and (
            layout.phase_of(base) == phases.NEITHER or
            base.revision in layout.before_branches()):
        raise exception.UsageError(
            f'a revision on {head} would be on neither the expand nor '
            'the contract branch: write it with "revision --expand" '
            '(it only adds) or "revision --contract" (it removes); '
            'nothing was written')


def require_expand_head(script, head):
    """:raises exception.UsageError: ``head`` is on the contract
    branch, where a data migration does not belong."""
    with alembic_internals.errors(revision_argument=True):
        base = script.get_revision(head)
    if base is not None and phases.phase_of(base) == phases.CONTRACT:
        raise exception.UsageError(CONTRACT_DATA_MIGRATION)


def require_new_rev_id(script, rev_id):
    """:raises exception.UsageError: ``rev_id`` is in use, or is no
    valid id (see :func:`enamel.scripts.require_rev_id`)."""
    scripts.require_rev_id(rev_id)
    if rev_id and state.known(script, rev_id):
        raise exception.UsageError(
            f'--rev-id {rev_id}: a revision with that id exists')


def edit(history, revision):
    """Open a revision file in ``$EDITOR``.

    :raises exception.UsageError: ``EDITOR`` (or ``VISUAL``) is set
        but empty: alembic would then run whatever the empty name
        resolves to on ``PATH`` (a directory) and fail obscurely.
    :raises exception.EnamelSyncError: (exit 1) ``EDITOR`` or ``VISUAL``
        names no file and no command on ``PATH`` (alembic would quietly
        run another editor it finds, ``sensible-editor``, ``vim``...), no
        editor is found at all, or the editor fails (exits non-zero).
    """
    from alembic import command
    from alembic import util

    for variable in ('EDITOR', 'VISUAL'):
        if variable not in os.environ:
            continue
        value = os.environ[variable]
        if not value.strip():
            raise exception.UsageError(
                f'{variable} is set but empty: set it to the editor '
                f'to run (for example {variable}=vi) or unset it')
        if not (os.path.exists(value) or shutil.which(value)):
            raise exception.EnamelSyncError(
                f'{variable}={value}: no such editor (neither a file nor '
                'a command on PATH; a command with arguments is not '
                'supported)')
    with alembic_internals.errors():
        try:
            command.edit(history.get_config(), revision)
        except util.CommandError as exc:
            if not isinstance(exc.__cause__, (OSError,
                                              subprocess.SubprocessError)):
                raise
            raise exception.EnamelSyncError(
                f'the editor failed: {exception.first_line(exc.__cause__)}'
            ) from None
