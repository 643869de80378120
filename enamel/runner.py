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

"""Running revisions: alembic's runner, watched.

alembic runs every revision and writes every version row (its
``MigrationContext.run_migrations`` and ``HeadMaintainer``), exactly as
``alembic.command.upgrade``, ``downgrade`` and ``stamp`` have it run. enamel
adds an ``on_version_apply`` callback, after any that ``env.py`` set, that
logs each applied revision with its elapsed time and checks that the
migration lock is still held before the version row is committed; and,
when a revision fails, it reads what the database now holds and says
exactly that.
"""

import logging
import time

import sqlalchemy as sa

from enamel import alembic_internals
from enamel import environment
from enamel import exception
from enamel import state

LOG = logging.getLogger(__name__)


class Progress:
    """The ``on_version_apply`` callback: logs each step and records it.

    :param lock: the held migration lock (see
        :func:`enamel.lock.migration_lock`), whose ``check(connection)``
        raises :class:`enamel.exception.LockLost` when it was lost; or
        None.
    """

    def __init__(self, lock=None):
        self.lock = lock
        self.steps = None  # what alembic planned, once it has
        self.applied = []
        self._started = time.monotonic()

    def plan(self, steps):
        self.steps = list(steps)
        return self.steps

    def __call__(self, ctx, step, heads, run_args):
        if self.lock is not None:
            # Inside the revision's transaction, before it commits: a
            # holder that lost the lock writes no version row.
            self.lock.check(ctx.connection)
        now = time.monotonic()
        self.applied.append(step)
        if not step.is_stamp:
            LOG.info('%s %s (%s) in %.3fs',
                     'Upgraded to' if step.is_upgrade else 'Downgraded',
                     step.up_revision_id, step.up_revision.doc,
                     now - self._started)
        self._started = now

    def failed_revision(self):
        """The revision that was running when the run stopped, or None."""
        if self.steps is None or len(self.applied) >= len(self.steps):
            return None
        return self.steps[len(self.applied)].revision.revision


def run(config, script, connection, plan, destination, tag=None,
        lock=None, purge=False, phase=None, before=None):
    """Run ``env.py`` on ``connection`` with alembic planning the steps.

    :param config: the alembic ``Config`` (with ``connection`` in its
        attributes).
    :param script: the ``ScriptDirectory``.
    :param connection: the locked ``Connection``, outside a transaction.
    :param plan: ``plan(script, destination, current)`` returning the
        steps, one of :mod:`enamel.alembic_internals`'s ``*_steps``; it
        gets the revisions alembic read from the version table.
    :param destination: the target revision (str or tuple).
    :param tag: passed to env.py.
    :param lock: see :class:`Progress`.
    :param purge: ``stamp --purge``.
    :param phase: the phase of a plain ``upgrade`` this run is, if any
        (see :func:`nothing_to_do`).
    :param before: the revisions the caller read under the lock (a
        tuple), if it did: not read again.
    :returns: the list of applied ``MigrationInfo``.
    :raises exception.MigrationFailed: a revision (or env.py) failed;
        the message names it and what the database now holds.
    """
    from alembic.runtime import environment as alembic_environment

    progress = Progress(lock)
    database = environment.env_options(config).database

    def steps(current, context):
        alembic_internals.add_version_callback(context, progress)
        return progress.plan(plan(script, destination, current))

    if before is None:
        before = state.read(connection, tables=False,
                            database=database).current
    before = list(before)
    try:
        with alembic_environment.EnvironmentContext(
                config, script, fn=steps, as_sql=False,
                destination_rev=destination, tag=tag, purge=purge):
            script.run_env()
    except (exception.EnamelSyncError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise failure(connection, progress, before, exc,
                      database) from exc
    if not progress.applied:
        nothing_to_do(before, phase)
    elif all(step.is_stamp for step in progress.applied):
        LOG.info('Stamped %s', ', '.join(state.read(
            connection, tables=False, database=database).current) or 'base')
    return progress.applied


def nothing_to_do(current, phase=None):
    """Log that the database is already where it was asked to be.

    :param phase: ``'expand'`` or ``'contract'`` when this is one phase
        of a plain ``upgrade``, which may still have work in another
        phase: only that phase is said to have nothing to do.
    """
    if phase is not None:
        LOG.info('%s: nothing to do', phase)
        return
    LOG.info('Nothing to do: the database is at %s',
             ', '.join(current) or 'base')


def failure(connection, progress, before, exc, database=None):
    """A :class:`exception.MigrationFailed` that says only what is true:
    which revision failed, and the revisions the database holds now that
    the failed transaction is rolled back, which is where a rerun starts.
    """
    try:
        connection.rollback()
        now = state.read(connection, tables=False,
                         database=database).current
        where = ', '.join(now) or 'base'
    except sa.exc.SQLAlchemyError:
        now, where = None, 'unknown (the connection was lost)'
    revision = progress.failed_revision()
    what = f'revision {revision}' if revision else 'the migration'
    message = f'{what} failed: {exception.first_line(exc)}; '
    if now is not None and sorted(now) == sorted(before):
        message += 'no revision of this run was committed'
    else:
        message += 'the revisions before it are committed'
    message += f'; the database is at {where}, where a rerun starts'
    if connection.dialect.name in ('mysql', 'mariadb') and revision:
        message += (
            '; MySQL commits each DDL statement, so the failed revision '
            'may have left objects behind: see "When a migration fails" '
            'in the operator guide')
    return exception.MigrationFailed(message)
