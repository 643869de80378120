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

"""Walk the migration history one revision at a time, with hooks.

oslo.db no longer ships a walker; this is enamel's. :func:`walk` upgrades
an empty database from base to head one revision at a time, in the order
an operator's rolling upgrades apply them, then (unless told not to)
downgrades it back to base one revision at a time, in exactly the reverse
order.

The order comes in rounds (:func:`rounds`), one per contract revision:
the expand revisions that contract revision needs (its ancestors and
dependencies, also the history before the expand and contract branches)
that are not applied yet, then every open online data migration run to
completion through enamel's own runner (``Migration.
online_data_migrations``, with a small batch size so that a few rows take
several batches), then the contract revision itself, after the check that
``upgrade --contract`` makes. Contract revisions that need no further
expand revision join the round before. The expand revisions no contract
revision needs come last, followed by their data migrations. A history
without the branches is one round: every revision, then any data
migrations.

Around each step it calls, when the ``hooks`` object has them::

    _pre_upgrade_<rev>(engine)          before upgrading to <rev>; may
                                        insert rows and return anything
    _check_<rev>(engine, data)          after upgrading to <rev>, with what
                                        _pre_upgrade_<rev> returned (or None)
    _pre_data_migration_<rev>(engine)   before the first run of the data
                                        migrations that <rev> declares
                                        (its expand revisions are applied,
                                        no row has moved yet); may insert
                                        rows and return anything
    _check_data_migration_<rev>(engine, data)
                                        after that run, with what
                                        _pre_data_migration_<rev> returned;
                                        the contract revisions are not
                                        applied yet
    _post_downgrade_<rev>(engine)       after downgrading <rev> away

The two data migration hooks are where the previous release's models can
run against the expanded schema: that is the schema they meet in
production while the data migrations run.

With ``stairway=True`` every revision is upgraded, downgraded and upgraded
again before the walk moves on, and the live schema is compared before and
after each round trip: a downgrade that does not exactly undo its upgrade
fails, naming the revision.

:class:`WalkVersionsMixin` is the same walk as a test case mixin whose
hooks are the test's own methods. Any failure, in a migration, a data
migration (also one that leaves rows), a contract revision that ``upgrade
--contract`` would refuse, or a hook, is raised as :class:`WalkError` (an
``AssertionError``) naming the revision and the engine.
"""

from alembic import util
import sqlalchemy as sa

from enamel import data_migrations
from enamel import databases
from enamel import environment
from enamel import exception
from enamel import phases

PRE_UPGRADE = '_pre_upgrade_'
CHECK = '_check_'
PRE_DATA_MIGRATION = '_pre_data_migration_'
CHECK_DATA_MIGRATION = '_check_data_migration_'
POST_DOWNGRADE = '_post_downgrade_'
# Rows per batch of the data migrations: small, so that a hook inserting
# a handful of rows already makes the runner commit several batches.
BATCH_SIZE = 2


class WalkError(AssertionError):
    """A step of the walk failed; the message names revision and engine."""


def upgrade_order(script):
    """The revisions of ``script`` (a ``ScriptDirectory``), parents first.

    ``walk_revisions()`` yields children before parents in a topological
    order, so its reverse applies every revision after all of its down
    revisions, also across branches and merges.
    """
    return list(reversed(list(script.walk_revisions('base', 'heads'))))


def rounds(script):
    """The walk's rounds: ``(expand, contract)`` pairs of revision lists
    (``alembic.script.Script``), to apply in order, the data migrations
    running between the two lists of each round.

    Each contract revision, in upgrade order, starts a round with the
    revisions below it (down revisions and ``depends_on``, recursively)
    that no round before applies; one that needs none joins the previous
    round's contract list. The revisions no contract revision needs make
    a last round without contract. Every revision appears once, after all
    the revisions below it.
    """
    order = upgrade_order(script)
    result = []
    placed = set()
    for revision in order:
        if phases.phase_of(revision) != phases.CONTRACT:
            continue
        below = {r.revision for r in script.iterate_revisions(
            revision.revision, 'base')}
        expand = [r for r in order if r.revision in below
                  and r.revision not in placed and r is not revision]
        placed.update(r.revision for r in expand)
        placed.add(revision.revision)
        if expand or not result:
            result.append((expand, [revision]))
        else:
            result[-1][1].append(revision)
    rest = [r for r in order if r.revision not in placed]
    if rest:
        result.append((rest, []))
    return result


def walk(migrate, engine, hooks=None, downgrade=True, stairway=False,
         batch_size=BATCH_SIZE):
    """Walk ``migrate``'s history up from base (and back down).

    The database must be empty (at base). Each step is one
    ``migrate.upgrade(<rev>)`` (or ``migrate.downgrade``) call that alembic
    runs and commits, so the hooks see, on connections of their own, the
    database as each revision left it; the lock, env.py and the one
    ``ScriptDirectory`` that ``migrate`` cached serve every step. The
    revisions are applied in :func:`rounds`; in each round the open data
    migrations run to completion (``migrate.online_data_migrations``)
    between the expand and the contract revisions, and each contract
    revision is checked as ``upgrade --contract`` checks it first. The
    way down is the exact reverse of the way up: each round's contract
    revisions go down before its expand revisions.

    :param migrate: an :class:`enamel.migration.Migration`.
    :param engine: the SQLAlchemy engine of the same database, handed to
        the hooks.
    :param hooks: an object with ``_pre_upgrade_<rev>``, ``_check_<rev>``,
        ``_pre_data_migration_<rev>``, ``_check_data_migration_<rev>``
        and ``_post_downgrade_<rev>`` methods (any may be missing), or
        None.
    :param downgrade: after reaching head, walk back down to base.
    :param stairway: upgrade, downgrade and upgrade again each revision on
        the way up, checking that the downgrade restored the schema.
    :param batch_size: the most rows per data migration batch.
    :returns: the revision ids, in the order they were applied.
    :raises WalkError: naming the revision and the engine's dialect.
    """
    walker = _Walker(migrate, engine, hooks)
    walked = []
    try:
        for expand, contract in rounds(migrate.script):
            for revision in expand:
                walker.up(revision, stairway=stairway)
                walked.append(revision)
            walker.data_migrations(batch_size)
            for revision in contract:
                walker.up(revision, stairway=stairway, contract=True)
                walked.append(revision)
        if downgrade:
            for revision in reversed(walked):
                walker.down(revision)
    finally:
        walker.close()
    return [r.revision for r in walked]


class _Walker:

    def __init__(self, migrate, engine, hooks):
        self.migrate = migrate
        self.engine = engine
        self.hooks = hooks
        self.dialect = engine.dialect.name
        # The revisions applied so far: what the version table should hold
        # is always the heads of this set.
        self.applied = set()
        self.heads = set()
        self.schema = None
        # The revisions whose data migrations have run (their hooks run
        # around the first run only).
        self.migrated = set()
        # One connection reads the version table after every step, outside
        # any transaction in between so that it holds no lock the next
        # migration would wait for: a new connection per step would cost
        # as much as a small migration on the servers.
        self.reader = None

    def close(self):
        if self.reader is not None:
            self.reader.close()

    def up(self, revision, stairway=False, contract=False):
        rev = revision.revision
        data = self._hook(PRE_UPGRADE, revision, self.engine)
        if stairway and self.schema is None:
            self.schema = schema(self.engine)
        if contract:
            self._refuse_contract(revision)
        self._step(revision, 'upgrade', self.migrate.upgrade, rev)
        self._expect_version(revision, 'upgrade', True)
        self._hook(CHECK, revision, self.engine, data)
        if not stairway:
            return
        before, after = self.schema, schema(self.engine)
        self.down(revision)
        self._same_schema(revision, before, schema(self.engine),
                          'the downgrade did not restore the schema it '
                          'started from')
        self._step(revision, 'upgrade (again)', self.migrate.upgrade, rev)
        self._expect_version(revision, 'upgrade (again)', True)
        # Kept as the next revision's starting point: one reflection less
        # per step.
        self.schema = schema(self.engine)
        self._same_schema(revision, after, self.schema,
                          'upgrading again gave a different schema')

    def data_migrations(self, batch_size):
        """Run every open data migration to completion, as
        ``online-data-migrations`` does, with the hooks of the revisions
        whose data migrations run for the first time around the run."""
        script = self.migrate.script
        found = data_migrations.open_migrations(script, tuple(self.heads))
        if not found:
            return
        owners = {m.name: script.get_revision(m.revision) for m in found}
        first = []
        for migration in found:
            revision = owners[migration.name]
            if revision.revision not in self.migrated and (
                    revision not in first):
                first.append(revision)
        data = [self._hook(PRE_DATA_MIGRATION, revision, self.engine)
                for revision in first]
        try:
            report = self.migrate.online_data_migrations(
                batch_size=batch_size)
        except Exception as exc:
            # Not one migration's failure (the report has those): the
            # run itself, so name every migration it was running.
            raise WalkError(
                f'data migrations {", ".join(m.name for m in found)} on '
                f'{self.dialect} failed: {type(exc).__name__}: {exc}'
            ) from exc
        for outcome in report.outcomes:
            revision = owners[outcome.name]
            if outcome.error:
                raise WalkError(
                    f'data migration {outcome.name} of '
                    f'{self._where(revision)} failed after {outcome.done} '
                    f'rows: {outcome.error}')
            if outcome.left:
                raise WalkError(
                    f'data migration {outcome.name} of '
                    f'{self._where(revision)} left {outcome.left} rows '
                    f'after {outcome.done} done')
        for revision, revision_data in zip(first, data):
            self.migrated.add(revision.revision)
            self._hook(CHECK_DATA_MIGRATION, revision, self.engine,
                       revision_data)

    def _refuse_contract(self, revision):
        """Fail where the phase rules refuse ``revision`` (data
        migrations with rows left, expand revisions that it needs not
        applied), as ``upgrade`` of it does, with the walk's context."""
        planner = self.migrate.planner
        current = tuple(self._version())
        try:
            plan = planner.upgrade(revision.revision, current)
            try:
                rows = phases.rows_left(
                    self._reader(),
                    planner.ancestry.open_migrations(current))
            finally:
                self.reader.rollback()
            phases.enforce(phases.judge(planner, plan, rows_left=rows))
        except exception.EnamelSyncError as exc:
            raise WalkError(
                f'upgrade of {self._where(revision)}: {exc}') from exc

    def down(self, revision):
        self._step(revision, 'downgrade', self.migrate.downgrade,
                   _down_target(revision))
        self._expect_version(revision, 'downgrade', False)
        self._hook(POST_DOWNGRADE, revision, self.engine)

    def _where(self, revision):
        return (f'revision {revision.revision} ({revision.doc}) '
                f'on {self.dialect}')

    def _step(self, revision, what, func, target):
        try:
            func(target)
        except Exception as exc:
            raise WalkError(
                f'{what} of {self._where(revision)} failed: '
                f'{type(exc).__name__}: {exc}') from exc

    def _hook(self, prefix, revision, *args):
        method = getattr(self.hooks, prefix + revision.revision, None)
        if method is None:
            return None
        try:
            return method(*args)
        except Exception as exc:
            raise WalkError(
                f'{prefix}{revision.revision} failed for '
                f'{self._where(revision)}: {type(exc).__name__}: {exc}'
            ) from exc

    def _expect_version(self, revision, what, upgraded, read=True):
        """The version table holds exactly the heads of what was applied:
        a branched history that alembic walked differently from us fails
        here instead of silently skipping hooks.

        A revision's ``depends_on`` counts as a parent here, as it does
        for alembic's version table: an expand revision that an applied
        contract revision depends on has no row of its own.

        :param read: read the version table now (else only keep count of
            what it should hold).
        """
        script = self.migrate.script
        rev = revision.revision
        if upgraded:
            # It replaces its parents as a head.
            self.applied.add(rev)
            self.heads -= set(_below(script, revision))
            self.heads.add(rev)
        else:
            # Its parents that no other applied revision stands on are
            # heads again.
            self.applied.discard(rev)
            self.heads.discard(rev)
            standing = set()
            for other in self.applied:
                standing.update(_below(script, script.get_revision(other)))
            for parent in _below(script, revision):
                if parent not in standing:
                    self.heads.add(parent)
        if read:
            self._read_version(revision, what)

    def _reader(self):
        if self.reader is None:
            self.reader = self.engine.connect()
        return self.reader

    def _version(self):
        """The version table's rows, sorted, read outside a transaction."""
        try:
            return sorted(self._reader().execute(sa.text(
                'SELECT version_num FROM ' + environment.VERSION_TABLE
            )).scalars())
        finally:
            self.reader.rollback()

    def _read_version(self, revision, what):
        found = self._version()
        expected = sorted(self.heads)
        if found != expected:
            raise WalkError(
                f'after the {what} of {self._where(revision)} the database '
                f'is at {", ".join(found) or "base"}, expected '
                f'{", ".join(expected) or "base"}')

    def _same_schema(self, revision, expected, found, message):
        if expected != found:
            lines = _schema_differences(expected, found)
            raise WalkError(
                f'stairway of {self._where(revision)}: {message}: '
                + '; '.join(lines))


def _parents(revision):
    return util.to_tuple(revision.down_revision, default=())


def _below(script, revision):
    """The ids right below ``revision``: its down revisions and the
    revisions it ``depends_on`` (given there by any unique prefix)."""
    dependencies = util.to_tuple(revision.dependencies, default=())
    return _parents(revision) + tuple(
        script.get_revision(d).revision for d in dependencies)


def _down_target(revision):
    """Where downgrading ``revision`` away leads: just below it.

    ``<rev>@-1`` is relative to the revision itself, so on a branched
    history only that branch moves (a bare parent id would also take away
    the parent's other children). A merge revision goes down to one of its
    parents: alembic removes only the descendants of the target, so the
    other parents stay.
    """
    parents = _parents(revision)
    if not parents:
        return f'{revision.revision}@base'
    if len(parents) > 1:
        return parents[0]
    return f'{revision.revision}@-1'


def schema(engine):
    """A comparable picture of the live schema (the version table and the
    migration lock's table, which are no revision's, excluded).

    Uses SQLAlchemy's multi-table reflection, one query per kind of object
    on the servers, so that a stairway stays cheap as tables accumulate.
    """
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        picture = {}
        kinds = {
            'columns': inspector.get_multi_columns,
            'pk': inspector.get_multi_pk_constraint,
            'indexes': inspector.get_multi_indexes,
            'unique': inspector.get_multi_unique_constraints,
            'fks': inspector.get_multi_foreign_keys,
        }
        for kind, reflect in kinds.items():
            for (_schema_name, table), items in reflect().items():
                if table in databases.OWN_TABLES:
                    continue
                picture.setdefault(table, {})[kind] = _normalise(kind, items)
        connection.rollback()
    return picture


def _normalise(kind, items):
    if kind == 'columns':
        # By name, not position: a downgrade that adds a dropped column
        # back puts it last on every engine (as a model's order, alembic's
        # comparison ignores it).
        return tuple(sorted((c['name'], str(c['type']), c['nullable'],
                             str(c.get('default'))) for c in items))
    if kind == 'pk':
        return (items.get('name'), tuple(items.get('constrained_columns')
                                         or ()))
    if kind == 'fks':
        return tuple(sorted(
            (f.get('name') or '', tuple(f['constrained_columns']),
             f['referred_table'], tuple(f['referred_columns']),
             tuple(sorted((f.get('options') or {}).items())))
            for f in items))
    return tuple(sorted((i.get('name') or '', tuple(i['column_names']),
                         bool(i.get('unique'))) for i in items))


def _schema_differences(expected, found):
    lines = []
    for table in sorted(set(expected) | set(found)):
        if table not in found:
            lines.append(f'table {table} is missing')
        elif table not in expected:
            lines.append(f'table {table} was left behind')
        else:
            for kind in sorted(set(expected[table]) | set(found[table])):
                was = expected[table].get(kind)
                now = found[table].get(kind)
                if was != now:
                    lines.append(f'{table} {kind}: {was} != {now}')
    return lines


class WalkVersionsMixin:
    """Walk the history; the hooks are the test's own methods.

    Mix into a test case that provides ``self.migration()``, an
    :class:`enamel.migration.Migration` for an empty database (for example
    one per engine with :func:`tests.base.for_each_backend`), then add
    ``_pre_upgrade_<rev>``/``_check_<rev>``/``_post_downgrade_<rev>``
    methods for the revisions worth checking, and
    ``_pre_data_migration_<rev>``/``_check_data_migration_<rev>`` for the
    expand revisions that declare data migrations. The hooks get the
    Migration's engine.
    """

    def walk_versions(self, downgrade=True, stairway=False,
                      batch_size=BATCH_SIZE):
        """Walk base to head (and back); the revision ids, in order."""
        migrate = self.migration()
        return walk(migrate, migrate.engine, hooks=self,
                    downgrade=downgrade, stairway=stairway,
                    batch_size=batch_size)
