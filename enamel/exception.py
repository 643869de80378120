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

"""Errors raised by enamel's migration API.

The API only raises; ``enamel.cmd.sync.main`` is the one place that turns an
error into a message on stderr and an exit code. Each class carries the
exit code documented in the CLI reference.
"""

SUCCESS = 0
ERROR = 1
USAGE = 2
UPGRADE_PENDING = 3
SCHEMA_DRIFT = 4
UNKNOWN_REVISION = 5
UNVERSIONED = 6
# From the rolling-upgrade check: data migrations left, contract pending.
DATA_MIGRATIONS_PENDING = 7
CONTRACT_PENDING = 8
# A phase rule refused the plan of an upgrade or stamp (enamel.phases:
# contract while expand or data migrations are pending, an expand that
# needs a contract revision, a revision on neither branch); and lint
# findings without a written reason.
PHASE_REFUSED = 9
LINT_FINDINGS = 10
# online-data-migrations: 0 nothing left, 1 rows left (run it again), 2 a
# data migration failed while the others still ran.
ROWS_LEFT = 1
DATA_MIGRATION_FAILED = 2

# The order in which ``check`` over several databases picks its exit code:
# what needs a human first. An error (1, 2) hides every state; a database
# enamel must not touch (5 unknown, 6 unversioned) comes before one that
# differs from its models (4), which comes before work an upgrade would do
# (8 contract, 7 data migrations, 3 upgrade); 0 only when all are 0.
URGENCY = (ERROR, USAGE, UNKNOWN_REVISION, UNVERSIONED, SCHEMA_DRIFT,
           CONTRACT_PENDING, DATA_MIGRATIONS_PENDING, UPGRADE_PENDING,
           SUCCESS)


def most_urgent(codes):
    """The most urgent of the exit codes ``codes`` (see ``URGENCY``; a
    code not listed there comes first); 0 for none."""
    def rank(code):
        return URGENCY.index(code) if code in URGENCY else -1
    return min(codes, key=rank, default=SUCCESS)


def first_line(exc):
    """The first non-blank line of an exception's text: SQLAlchemy's and
    the drivers' messages go on with the SQL and its parameters."""
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0].strip()


class EnamelSyncError(Exception):
    """Base class; the message is one line meant for an operator."""

    exit_code = ERROR


class ConfigError(EnamelSyncError):
    """The configuration is missing, unreadable or invalid."""


class UsageError(EnamelSyncError):
    """The command line asked for something that cannot be done."""

    exit_code = USAGE


class BadRevision(UsageError):
    """A revision argument names no revision, or more than one."""


class DatabaseError(EnamelSyncError):
    """The database could not be reached or refused a statement."""


class LockTimeout(EnamelSyncError):
    """Another process held the migration lock for too long."""


class LockLost(EnamelSyncError):
    """This process's migration lock lease expired and another process may
    hold the lock; the run stopped before recording another revision."""


class MigrationFailed(EnamelSyncError):
    """A revision's upgrade or downgrade raised."""


class MigrationInDoubt(MigrationFailed):
    """A revision cut midway by an earlier run (see :mod:`enamel.journal`)
    that this run cannot finish: the message says what is in doubt."""


class Interrupted(EnamelSyncError):
    """SIGTERM or SIGINT stopped the run at a revision boundary (or, with
    :mod:`enamel.runner`'s report, at once); exit code 143 or 130.

    :param reason: ``'terminated'`` or ``'interrupted'``.
    :param applied: the steps committed by the run.
    :param message: the report (default: ``reason``).
    """

    def __init__(self, reason, applied=(), message=None):
        super().__init__(message or reason)
        self.reason = reason
        self.applied = list(applied)
        self.exit_code = 143 if reason == 'terminated' else 130


class UnknownDatabaseRevision(EnamelSyncError):
    """The database is at a revision this code does not know."""

    exit_code = UNKNOWN_REVISION


class UnversionedDatabase(EnamelSyncError):
    """The database has tables but no version table."""

    exit_code = UNVERSIONED


class UnsafeRevision(EnamelSyncError):
    """``revision --autogenerate`` found a change that would not apply on
    every engine; nothing was written."""


class SchemaMismatch(EnamelSyncError):
    """The live schema differs from the models (``stamp --verify``)."""

    exit_code = SCHEMA_DRIFT

    def __init__(self, message, differences=()):
        super().__init__(message)
        self.differences = list(differences)


class UnfinishedRevision(EnamelSyncError):
    """An upgrade would apply a revision whose data migration is still the
    skeleton of ``revision --data-migration``; nothing was changed."""


class DataMigrationFailed(EnamelSyncError):
    """An online data migration failed (``upgrade`` without a phase)."""


class PhaseRefused(EnamelSyncError):
    """A phase rule (:data:`enamel.phases.RULES`) refused the plan before
    anything of it ran; nothing was changed (in a plain upgrade's
    contract phase, nothing after its expand phase and data migrations,
    which the message names). ``refusals``: every
    :class:`enamel.phases.Refusal` found, the one in the message first."""

    exit_code = PHASE_REFUSED

    def __init__(self, message, refusals=()):
        super().__init__(message)
        self.refusals = list(refusals)


class ContractRefused(PhaseRefused):
    """A contract revision while expand revisions are pending or data
    migrations have rows left; nothing was changed (see
    :class:`PhaseRefused`)."""


class OfflineRefused(EnamelSyncError):
    """A phase rule refused the range of an ``upgrade --sql`` (exit 1);
    nothing was written."""

    def __init__(self, message, refusals=()):
        super().__init__(message)
        self.refusals = list(refusals)
