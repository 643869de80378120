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

"""alembic's commands that write revision files or SQL, given the alembic
``Config`` to run them with: the checks enamel adds before each and the
output it keeps apart (results on stdout, progress on stderr).

No database connection is opened here: ``revision --autogenerate`` gets
its connection in the Config (see
:meth:`enamel.migration.Migration.revision`).
"""

import contextlib
import io
import keyword
import os
import re
import sys

from enamel import alembic_internals
from enamel import compare
from enamel import environment
from enamel import exception
from enamel import sql_files


def write_revision(config, database, message, sql_files_scaffold=False,
                   **kw):
    """``alembic.command.revision``, with enamel's checks.

    :param config: the alembic ``Config`` (with a connection in its
        attributes for ``autogenerate``).
    :param database: the :class:`enamel.databases.Database` whose
        revisions these are.
    :param message: the revision's message (required, not blank).
    :param sql_files_scaffold: write the two ``.sql`` files of a
        ``revision --sql-files`` beside the new revision.
    :param kw: ``alembic.command.revision``'s other arguments.
    :returns: the new ``alembic.script.Script`` (a list when it was split
        into expand and contract), or None when autogenerate found no
        change and nothing was written.
    :raises exception.UsageError: no message, or nowhere to write: the
        versions directory is inside an installed package and no
        ``version_path`` was given, or ``version_path`` is no directory.
    """
    from alembic import command

    require_message(message, 'revision')
    version_path = kw.get('version_path')
    if version_path is None:
        require_source_tree('revision', database)
    elif not os.path.isdir(version_path):
        raise exception.UsageError(
            f'--version-path {version_path} is not a directory')
    config.cmd_opts.quiet = True
    config.cmd_opts.autogenerate = kw.get('autogenerate', False)
    # alembic prints its post-write hooks' progress on stdout.
    with alembic_internals.errors(), contextlib.redirect_stdout(
            sys.stderr), compare.computed_changes_reported_here():
        script = command.revision(config, message=message, **kw)
    if not script:  # process_revision_directives wrote nothing
        return None
    if sql_files_scaffold:
        sql_files.scaffold(script)
    return script


def merge(config, database, revisions, message, **kw):
    """``alembic.command.merge`` with enamel's checks; the new ``Script``.

    :raises exception.UsageError: no message, or the versions directory
        is inside an installed package.
    """
    from alembic import command

    require_message(message, 'merge')
    require_rev_id(kw.get('rev_id'))
    require_source_tree('merge', database)
    config.cmd_opts.quiet = True
    with alembic_internals.errors(), contextlib.redirect_stdout(sys.stderr):
        return command.merge(config, revisions, message=message, **kw)


def require_range(revision):
    """:raises exception.BadRevision: a ``FROM:TO`` range with a side
    left empty."""
    if isinstance(revision, str) and ':' in revision and not all(
            revision.split(':', 1)):
        raise exception.BadRevision(
            f'{revision!r}: a range needs both ends, FROM:TO (base:head, '
            'for example)')


def offline(config, script, name, revision, preamble=None, **kw):
    """alembic's ``command.<name>`` with ``sql=True``; the SQL is written
    to stdout only once all of it is there, so that a script handed to a
    DBA is never cut short by an error.

    :param config: the alembic ``Config``.
    :param script: its ``ScriptDirectory`` (to name a failing revision).
    :param name: ``upgrade``, ``downgrade`` or ``stamp``.
    :param preamble: text written before alembic's SQL (a comment).
    :raises exception.BadRevision: a ``FROM:TO`` range with a side left
        empty.
    :raises exception.MigrationFailed: a revision cannot be written as
        SQL (on SQLite, a batch ``ALTER`` needs to read the table from a
        live database; a revision reads rows with ``op.get_bind()`` or
        the connection's ``url``, which alembic's offline
        ``MockConnection`` lacks): the message names the revision and
        why; nothing is written.
    """
    from alembic import command

    require_range(revision)
    config.output_buffer = io.StringIO()
    try:
        if name == 'downgrade':
            revision, several = _downgrade_start(script, revision)
        with alembic_internals.errors():
            if name == 'downgrade' and several:
                _downgrade_from(config, script, several, revision, **kw)
            else:
                getattr(command, name)(config, revision, sql=True, **kw)
    except Exception as exc:
        failed = _revision_in_traceback(exc, script)
        if failed is None:
            raise
        if isinstance(exc, exception.EnamelSyncError):
            reason = str(exc).split('. ')[0].rstrip('.')
        else:
            # A revision that reads the database (op.get_bind() rows, the
            # connection's url) gets alembic's MockConnection offline.
            reason = (f'{type(exc).__name__}: {exception.first_line(exc)} '
                      '(offline, alembic gives revisions a MockConnection: '
                      'a revision that reads rows or the connection needs '
                      'a live database)')
        raise exception.MigrationFailed(
            f'revision {failed} cannot be written as SQL: {reason}; '
            'nothing was written') from None
    sys.stdout.write((preamble or '') + config.output_buffer.getvalue())
    # Now, while the command line can still report a reader that went
    # away (BrokenPipeError), not at interpreter exit.
    sys.stdout.flush()


def _downgrade_start(script, revision):
    """The range of a ``downgrade --sql`` whose start is ``heads`` (or a
    symbol for several revisions) resolved: ``(range, None)`` with the
    start as one id when it names one revision, ``(target, ids)`` when it
    names several (a tuple of ids, as the version table of a database at
    those heads holds them); other ranges are returned as they are."""
    start, colon, target = revision.partition(':')
    if not colon or start not in ('heads', 'head'):
        return revision, None
    with alembic_internals.errors(revision_argument=True):
        ids = tuple(r.revision for r in script.get_revisions(start))
    if len(ids) == 1:
        return f'{ids[0]}:{target}', None
    return target, ids


def _downgrade_from(config, script, current, target, tag=None):
    """``alembic downgrade --sql`` from several revisions at once: the
    database at ``current`` (a tuple of ids; alembic's command takes one
    revision as the start of a range, while its offline context reads
    the start as a list of revisions) to ``target``, planned as alembic
    plans a downgrade (:func:`enamel.alembic_internals.downgrade_steps`).
    """
    from alembic.runtime import environment

    def steps(revisions, context):
        return alembic_internals.downgrade_steps(script, target, revisions)

    with environment.EnvironmentContext(
            config, script, fn=steps, as_sql=True, starting_rev=current,
            destination_rev=target, tag=tag):
        script.run_env()


def history_range(rev_range):
    """``(base, head)`` of a ``--rev-range A:B`` (either may be empty,
    meaning ``base`` and ``heads``).

    :raises exception.BadRevision: not of the form ``A:B``.
    """
    if not rev_range:
        return 'base', 'heads'
    if ':' not in rev_range:
        raise exception.BadRevision(
            f'--rev-range {rev_range!r} is not of the form A:B')
    base, head = rev_range.split(':', 1)
    return base or 'base', head or 'heads'


def _revision_in_traceback(exc, script):
    """The id of the revision whose file raised ``exc`` (or the error it
    was translated from), or None when no revision file did."""
    paths = {}
    for revision in script.walk_revisions('base', 'heads'):
        paths[os.path.realpath(revision.path)] = revision.revision
    while exc is not None:
        tb = exc.__traceback__
        while tb is not None:
            where = os.path.realpath(tb.tb_frame.f_code.co_filename)
            if where in paths:
                return paths[where]
            tb = tb.tb_next
        exc = exc.__context__
    return None


def require_message(message, command):
    """:raises exception.UsageError: ``message`` is missing or blank."""
    if not message or not message.strip():
        raise exception.UsageError(f'{command} needs a message: -m "..."')


# alembic's version table keeps a revision id in ``version_num``, a
# VARCHAR(32) (alembic.runtime.migration): a longer id is written into the
# file, loads and runs, and fails at its version row, on MySQL after the
# revision's DDL committed.
REV_ID_LENGTH = 32
# Letters, digits and "_": an id is part of the file's name, a Python
# string, and an argument on the command line; alembic itself refuses
# "@", "-", "+" and ":" in one (alembic.script.revision), once the file is
# written.
REV_ID = re.compile(r'[A-Za-z0-9_]+\Z')


def require_rev_id(rev_id):
    """Refuse a ``--rev-id`` the version table or alembic cannot hold.

    :param rev_id: the id asked for (str), or None for alembic's own.
    :raises exception.UsageError: ``rev_id`` is empty, longer than
        :data:`REV_ID_LENGTH` characters, or has a character other than
        an ASCII letter, a digit or ``_``.
    """
    if rev_id is None:
        return
    if len(rev_id) > REV_ID_LENGTH:
        raise exception.UsageError(
            f'--rev-id {rev_id}: {len(rev_id)} characters, longer than the '
            f'{REV_ID_LENGTH} that alembic\'s version table holds '
            '(version_num VARCHAR(32)); nothing was written')
    if not REV_ID.match(rev_id):
        raise exception.UsageError(
            f'--rev-id {rev_id!r}: a revision id is ASCII letters, digits '
            'and "_" only; nothing was written')


# The names a revision written with --data-migration defines or imports:
# a data migration of the same name would replace one of them.
SCAFFOLD_NAMES = frozenset((
    'op', 'sa', 'online_data_migrations', 'sql_files', 'revision',
    'down_revision', 'branch_labels', 'depends_on', 'upgrade', 'downgrade',
    'TABLE', 'data_migrations', 'lint_exceptions'))


def require_data_migration_name(name):
    """:raises exception.UsageError: ``name`` cannot name the function of
    a data migration in a revision file: not a Python identifier, a
    keyword, or a name the revision file already uses."""
    if not isinstance(name, str) or not name.isidentifier() or (
            keyword.iskeyword(name)):
        raise exception.UsageError(
            f'--data-migration {name!r}: a Python identifier is needed '
            '(letters, digits and _, not starting with a digit, not a '
            'keyword), e.g. copy_action_to_name')
    if name in SCAFFOLD_NAMES:
        raise exception.UsageError(
            f'--data-migration {name!r}: the revision file already uses '
            'that name; choose another')


def require_source_tree(command, database):
    """:raises exception.UsageError: ``database``'s versions directory is
    inside an installed package, where a new file would be lost."""
    if environment.installed(database.versions_dir):
        raise exception.UsageError(
            f'{database.versions_dir} is inside an installed package; '
            f'run {command} from a source checkout (pip install -e) or give '
            '--version-path')
