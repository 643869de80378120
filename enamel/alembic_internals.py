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

"""The alembic names enamel uses that alembic does not document.

Each is used the same way by ``alembic.command`` itself (or, for the
last, read by alembic's own runner), and each has a unit test
(``tests/unit/test_alembic_internals.py``) that fails naming it if an
alembic release drops it. Nothing else in enamel reaches past alembic's
documented API. Where they enter, alembic's errors become enamel's (see
:func:`errors`).
"""

import contextlib
import re

from enamel import exception

# name -> where alembic uses it the same way
USED = {
    'ScriptDirectory._upgrade_revs': 'alembic.command.upgrade',
    'ScriptDirectory._downgrade_revs': 'alembic.command.downgrade',
    'ScriptDirectory._stamp_revs': 'alembic.command.stamp',
    'MigrationContext.on_version_apply_callbacks':
        'MigrationContext.run_migrations',
    'Operations._install_proxy': 'Operations.context',
    'Operations._remove_proxy': 'Operations.context',
    'Revision._all_down_revisions': 'RevisionMap.add_revision',
    'AutogenContext._has_batch': 'render._drop_constraint',
    'Operations._to_impl': 'Operations.invoke',
    'MigrationContext._transaction': 'MigrationContext.autocommit_block',
}


def upgrade_steps(script, revision, current):
    """The ``RevisionStep`` list that upgrades ``current`` to ``revision``,
    as ``alembic.command.upgrade`` plans it.

    :raises exception.BadRevision: ``revision`` names nothing, or more
        than one revision, or is relative (``+1``) while the database is
        at several revisions (see :func:`refuse_ambiguous_relative`).
    """
    refuse_ambiguous_relative(revision, current)
    with errors(revision_argument=True):
        return list(script._upgrade_revs(revision, current))


def downgrade_steps(script, revision, current):
    """As :func:`upgrade_steps`, for ``alembic.command.downgrade``."""
    refuse_ambiguous_relative(revision, current)
    with errors(revision_argument=True):
        return list(script._downgrade_revs(revision, current))


def refuse_ambiguous_relative(revision, current):
    """A target relative to the current revision (``-1``, ``+2``) means
    nothing definite when the database is at several revisions (two
    branches each applied): alembic then picks one by the order the
    version rows come back in, which differs between engines, and says so
    only in a warning.

    :raises exception.BadRevision: naming the current revisions and the
        unambiguous forms.
    """
    if (isinstance(revision, str) and re.fullmatch(r'[+-]\d+', revision)
            and len(current) > 1):
        heads = sorted(current)
        raise exception.BadRevision(
            f'revision {revision} is relative, and the database is at '
            f'several revisions ({", ".join(heads)}): say which one to '
            f'move from ({heads[0]}@{revision}) or name the target; '
            'nothing was changed')


def stamp_steps(script, revision, current):
    """As :func:`upgrade_steps`, for ``alembic.command.stamp``."""
    with errors(revision_argument=True):
        return list(script._stamp_revs(revision, current))


def down_revisions(revision):
    """The ids right below ``revision`` (an ``alembic.script.Script``):
    its down revisions and its ``depends_on``, resolved to ids (a
    ``depends_on`` may name a branch label or a prefix), as alembic's
    revision map walks them."""
    return revision._all_down_revisions


def add_version_callback(context, callback):
    """Add ``callback`` to the ``on_version_apply`` callbacks of a
    ``MigrationContext``, after any ``env.py`` configured, never instead.
    """
    context.on_version_apply_callbacks = (
        tuple(context.on_version_apply_callbacks) + (callback,))


def run_transaction(context):
    """The transaction alembic holds open across revisions on ``context``
    (a ``MigrationContext``): the one ``env.py``'s ``begin_transaction()``
    began when ``transaction_per_migration`` is off on an engine with
    transactional DDL, or the one ``autocommit_block()`` began again after
    its block. None when alembic commits each revision itself (MySQL, or
    ``transaction_per_migration`` on). A ``sqlalchemy.engine.Transaction``.
    """
    return context._transaction


def begin_run_transaction(context):
    """Begin the transaction alembic holds across revisions where alembic
    holds none (non-transactional DDL: MySQL), as its per-revision
    ``begin_transaction`` would: alembic then leaves it open between
    revisions (it begins a revision's transaction only when
    ``MigrationContext._transaction`` is None) and
    :func:`end_run_transaction` commits it."""
    connection = context.connection
    # The one SQLAlchemy began on its own (alembic read the version table
    # in it), as alembic's own begin does.
    context._transaction = connection.get_transaction() or connection.begin()
    return context._transaction


def end_run_transaction(context):
    """Commit :func:`run_transaction` and leave none open (after the
    last revision of a run whose transaction
    :func:`begin_run_transaction` began)."""
    transaction, context._transaction = context._transaction, None
    if transaction is not None:
        transaction.commit()


def commit_run_transaction(context):
    """Commit :func:`run_transaction` and begin the next one in its place,
    as ``MigrationContext.autocommit_block()`` does on entering and
    leaving its block; ``env.py``'s ``begin_transaction()`` commits the
    last one."""
    context._transaction.commit()
    context._transaction = context.connection.begin()
    return context._transaction


def in_batch(autogen_context):
    """Whether alembic renders inside ``batch_alter_table`` (``batch_op.``
    and no table name), as its own renderers ask (an ``AutogenContext``
    attribute, set by ``AutogenContext._within_batch``)."""
    return autogen_context._has_batch


def implementation(operations, operation):
    """The function that runs ``operation`` for ``operations`` (an
    ``Operations``), as ``Operations.invoke`` finds it (alembic's own or
    one registered with ``Operations.implementation_for``), or None."""
    try:
        return operations._to_impl.dispatch(
            operation, operations.migration_context.impl.__dialect__)
    except ValueError:
        return None


@contextlib.contextmanager
def operations_proxy(operations):
    """Make ``alembic.op`` call ``operations`` (an ``Operations``
    instance) inside the block, as ``Operations.context`` does for the one
    it creates (``enamel.lint`` hands it a recording one)."""
    operations._install_proxy()
    try:
        yield operations
    finally:
        operations._remove_proxy()


@contextlib.contextmanager
def errors(revision_argument=False):
    """alembic's errors about a revision argument or a command are about
    what the user asked for: :class:`exception.BadRevision` for a revision
    that names nothing or several, :class:`exception.UsageError` for the
    rest of alembic's ``CommandError``.

    :param revision_argument: the block only resolves a revision argument:
        any ``CommandError`` is a bad revision.
    """
    from alembic.script import revision as alembic_revision
    from alembic import util

    try:
        yield
    except alembic_revision.RevisionError as exc:
        raise exception.BadRevision(_revision_message(exc)) from None
    except util.CommandError as exc:
        # alembic words an ambiguous prefix as "Can't locate"; its cause
        # names the revisions the prefix matches.
        if isinstance(exc.__cause__, alembic_revision.RevisionError):
            exc = exc.__cause__
            revision_argument = True
        error = (exception.BadRevision if revision_argument
                 else exception.UsageError)
        raise error(_revision_message(exc)) from None


# alembic's hint for an unknown id shorter than four characters. Its
# RevisionMap matches any unique prefix, of any length (only the ids it
# matches against must be longer than three characters: see
# RevisionMap._revision_for_ident), so the hint misleads: dropped.
_FOUR_CHARACTERS = ('; please ensure at least four characters are present '
                    'for partial revision identifier matches')


def _revision_message(exc):
    text = exception.first_line(exc)
    if _FOUR_CHARACTERS in text:
        text = text.replace(_FOUR_CHARACTERS, '') + (
            ' (a revision is named by its id or any prefix of it that '
            'no other id starts with)')
    return text
