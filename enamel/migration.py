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

"""enamel's migration API: alembic's commands, bound to enamel's database.

Every public method mirrors the ``alembic.command`` function of the same
name and only raises (see :mod:`enamel.exception`); the command line in
:mod:`enamel.cmd.sync` is a thin layer over it. The work is done by small
modules: :mod:`enamel.environment` (the alembic Config and env.py's
options), :mod:`enamel.state` (reading the database), :mod:`enamel.runner`
(alembic running the revisions), :mod:`enamel.lock` and
:mod:`enamel.heads_file`. Example::

    from enamel import conf as enamel_conf
    from enamel import migration

    migrate = migration.Migration(enamel_conf.load())

    @migrate.configure
    def plugin_revisions(config):
        # Also load revisions kept outside the package.
        locations = config.get_main_option('version_locations')
        config.set_main_option(
            'version_locations', locations + os.pathsep + '/opt/versions')
        return config

    migrate.upgrade('head')

Each of enamel's databases (:mod:`enamel.databases`) has its own
``Migration``: ``Migration(conf, database='api')`` for the API database,
with its own configure callbacks; :func:`configured` gives one per
configured database, in order::

    for migrate in migration.configured(conf):
        migrate.upgrade()
"""

import contextlib

import sqlalchemy as sa

from enamel import alembic_internals
from enamel import data_migrations
from enamel import databases
from enamel import db
from enamel import environment
from enamel import exception
from enamel import heads_file
from enamel import lock
from enamel import phases
from enamel import runner
from enamel import scripts
from enamel import state


CONTRACT_DATA_MIGRATION = (
    'a data migration belongs to an expand revision (it moves the rows '
    'before contract removes their old form): --data-migration cannot be '
    'combined with --contract')


class Migration:
    """Run alembic's commands against the database enamel is configured for.

    :param conf: an ``oslo_config.cfg.ConfigOpts`` with enamel's options
        registered and parsed (see :func:`enamel.conf.load`).
    :param engine: optional ``sqlalchemy.engine.Engine`` to use instead of
        one built from ``[database] connection``. On SQLite it gets the
        same transaction handling as enamel's own (see
        :func:`enamel.db.transactional`).
    :param database: which of enamel's databases: ``'main'`` (the
        default) or ``'api'`` (``[api_database] connection``), or an
        :class:`enamel.databases.Database`. Its revisions, models, version
        table and lock are used.
    :param x_arguments: ``KEY=VALUE`` strings that env.py reads with
        ``context.get_x_argument()`` (alembic's ``-x``).
    :raises exception.UsageError: an unknown ``database``.
    """

    def __init__(self, conf, engine=None, database=None, x_arguments=()):
        self.conf = conf
        self.database = databases.get(database)
        self.x_arguments = tuple(x_arguments)
        self._engine = engine and db.transactional(engine)
        self._handed_in = engine is not None
        self._reader = None
        self._callbacks = []
        self._script = None

    def configure(self, func):
        """Register ``func(config)`` to adjust the alembic Config before use.

        Usable as a decorator; ``func`` returns the Config (or None to keep
        the one it was given).
        """
        self._callbacks.append(func)
        return func

    def get_config(self, connection=None, version_path=None, stdout=None,
                   **options):
        """The alembic ``Config`` (see
        :func:`enamel.environment.make_config`), with the configure
        callbacks applied."""
        return environment.make_config(
            self.conf, connection, version_path=version_path, stdout=stdout,
            callbacks=self._callbacks, x_arguments=self.x_arguments,
            database=self.database, **options)

    @property
    def script(self):
        """The ``ScriptDirectory``, loaded once and reused by every call."""
        if self._script is None:
            from alembic import script as alembic_script
            with alembic_internals.errors():
                self._script = alembic_script.ScriptDirectory.from_config(
                    self.get_config())
        return self._script

    @property
    def engine(self):
        """The ``Engine``, built from the configuration on first use."""
        if self._engine is None:
            self._engine = db.create_engine(self.conf, self.database.group)
        return self._engine

    def _read_only_engine(self):
        """The engine of the reading commands: on SQLite it never creates
        or changes the file (see :func:`enamel.db.create_engine`)."""
        if self._handed_in:
            return self.engine
        if self._reader is None:
            self._reader = db.create_engine(
                self.conf, self.database.group, read_only=True)
        return self._reader

    @contextlib.contextmanager
    def _connect(self, read_only=False):
        engine = self._read_only_engine() if read_only else self.engine
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise exception.DatabaseError(
                'cannot connect to the database '
                f'{db.describe(engine.url)}: '
                f'{exception.first_line(exc.orig)}') from None
        with connection:
            yield connection

    @contextlib.contextmanager
    def _locked(self):
        """Connect and hold the migration lock (:func:`enamel.lock.
        migration_lock`, on connections of its own); yields the migration's
        connection and the held lock."""
        with self._connect() as connection:
            with lock.migration_lock(self.engine, self.conf,
                                     self.database) as held:
                held.prepare(connection)
                yield connection, held

    def _recorded_heads(self, target='heads'):
        """What ``target`` resolves to, from the HEADS file (no revision
        file loaded); None when that file cannot answer, when ``target``
        is not ``head`` or ``heads``, or when a configure callback may
        change the revisions."""
        if self._callbacks or target not in ('head', 'heads'):
            return None
        heads = heads_file.read(self.database.versions_dir)
        if heads is None or (target == 'head' and len(heads) != 1):
            return None
        return heads

    def _preload(self):
        """Load the revision files before waiting for the lock: processes
        queued behind it read them while the first one migrates. An error
        is left for the same call under the lock to report."""
        with contextlib.suppress(exception.EnamelSyncError):
            self.script

    # -- the database's revisions -----------------------------------------

    def version(self):
        """The revision ids in the version table (a list, empty if
        unversioned). Reads the table directly: no revision file, no
        alembic."""
        with self._connect(read_only=True) as connection:
            return state.read(connection, tables=False,
                              database=self.database).current

    def upgrade(self, revision='head', sql=False, tag=None):
        """Upgrade to a later revision.

        A database already at the heads recorded in the HEADS file is
        recognised without loading a revision file.

        :param revision: target revision, relative (``+1``) or symbolic
            (``head``, ``heads``, ``label@head``); ``FROM:TO`` with ``sql``.
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py (``context.get_tag_argument()``).
        :raises exception.BadRevision: ``revision`` names no revision.
        :raises exception.MigrationFailed: a revision failed.
        """
        if sql:
            return self._offline('upgrade', revision, tag=tag)
        if revision in ('head', 'heads') and self._branched():
            return self._upgrade_phases(tag)
        self._upgrade(revision, tag)

    def _upgrade(self, revision, tag, phase=None):
        """:meth:`upgrade` online; ``phase``: the phase of a plain
        upgrade this is, named when it has nothing to do."""
        recorded = self._recorded_heads(revision)
        if recorded is None:
            self._preload()
        with self._locked() as (connection, held):
            if recorded is not None:
                current = state.read(connection, tables=False,
                                     database=self.database).current
                if set(current) == set(recorded):
                    return runner.nothing_to_do(current, phase)
            self._migrate(connection, held, alembic_internals.upgrade_steps,
                          revision, tag, phase=phase)

    def downgrade(self, revision='-1', sql=False, tag=None):
        """Revert to a previous revision.

        :param revision: target revision (``-1``, ``base``, an id);
            ``FROM:TO`` with ``sql``.
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :raises exception.BadRevision: ``revision`` names no revision, or
            is ambiguous (several heads and a relative target).
        :raises exception.MigrationFailed: a revision failed.
        """
        if sql:
            return self._offline('downgrade', revision, tag=tag)
        self._preload()
        with self._locked() as (connection, held):
            self._migrate(connection, held,
                          alembic_internals.downgrade_steps, revision, tag)

    def stamp(self, revision, sql=False, purge=False, tag=None,
              verify=False):
        """Set the version table to ``revision`` without running migrations.

        :param revision: target revision, or a list of them.
        :param sql: write the SQL to stdout instead of running it.
        :param purge: empty the version table first (also unknown rows).
        :param tag: passed to env.py.
        :param verify: first compare the live schema with the models and
            refuse if they differ (for adopting an existing database).
        :raises exception.SchemaMismatch: ``verify`` found differences.
        """
        if sql:
            return self._offline('stamp', revision, tag=tag, purge=purge)
        self._preload()
        with self._locked() as (connection, held):
            snapshot = state.read(connection, database=self.database)
            current = () if purge else state.guard(
                snapshot, self.script, adopt=True)
            if verify:
                differences = state.compare_models(connection,
                                                   self.database)
                if differences:
                    raise exception.SchemaMismatch(
                        f'the database schema differs from the models in '
                        f'{len(differences)} place(s), for example '
                        f'{differences[0]}; not stamped', differences)
            alembic_internals.stamp_steps(self.script, revision, current)
            runner.run(self.get_config(connection, models=False),
                       self.script, connection,
                       alembic_internals.stamp_steps, revision, tag=tag,
                       lock=held, purge=purge)

    # -- rolling upgrades (see enamel.phases) -----------------------------

    def upgrade_expand(self, sql=False, tag=None):
        """Apply the expand phase only (``expand@head``): the revisions
        that are safe while the previous release runs.

        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :raises exception.MigrationFailed: a revision failed.
        """
        return self.upgrade(phases.target(self.script, phases.EXPAND),
                            sql=sql, tag=tag)

    def online_data_migrations(self, max_count=None, batch_size=None):
        """Run the open data migrations in batches, each batch committed
        (see :mod:`enamel.data_migrations`); no migration lock is held.

        :param max_count: the most rows to change in this run; None:
            until nothing is left.
        :param batch_size: the most rows per transaction; None: the
            engine's default (:func:`enamel.data_migrations.
            default_batch_size`: 10,000 on SQLite, 1,000 elsewhere).
        :returns: a :class:`enamel.data_migrations.Report`, whose
            ``exit_code`` is 0 (done), 1 (rows left) or 2 (one failed).
        """
        with self._connect() as connection:
            # Read without the write lock: a service's long write
            # transaction on SQLite must not fail the run before it starts.
            with db.read_transaction(connection):
                current = state.guard(
                    state.read(connection, database=self.database),
                    self.script)
            return data_migrations.run(
                connection,
                data_migrations.open_migrations(self.script, current),
                max_count=max_count, batch_size=batch_size)

    def upgrade_contract(self, sql=False, tag=None):
        """Apply the contract phase (``contract@head``), under the
        migration lock, only when nothing else is pending.

        :param sql: write the SQL to stdout instead of running it (no
            database is read, so nothing is verified).
        :param tag: passed to env.py.
        :raises exception.ContractRefused: expand revisions are pending
            or data migrations have rows left; nothing was changed.
        :raises exception.MigrationFailed: a revision failed.
        """
        target = phases.target(self.script, phases.CONTRACT)
        if target is None:
            if not sql:
                runner.LOG.info('Nothing to do: the revisions have no '
                                'contract branch')
            return
        if sql:
            return self._offline('upgrade', target, tag=tag)
        self._upgrade_contract(target, tag)

    def _upgrade_contract(self, target, tag, phase=None):
        with self._locked() as (connection, held):
            current = state.guard(
                state.read(connection, database=self.database), self.script)
            phases.refuse_contract(
                phases.pending(connection, self.script, current))
            self._migrate(connection, held, alembic_internals.upgrade_steps,
                          target, tag, phase=phase)

    def revision_in_phase(self, phase, message, depends_on=None,
                          data_migration=None, **kw):
        """Create a revision on the ``expand`` or ``contract`` branch.

        The first time, the two branches are created: an empty root
        revision for each, both revising the current head, so that a
        database at that head moves into the layout with ``upgrade``.
        A contract revision without ``depends_on`` depends on the expand
        branch's head, the revision it is assumed to complete.

        :param phase: ``'expand'`` or ``'contract'``.
        :param message: see :meth:`revision`; further keywords too.
        :param data_migration: see :meth:`revision`; only with
            ``'expand'``.
        :returns: a list of every ``alembic.script.Script`` written,
            oldest first: the expand and the contract branch's roots when
            this call created them, then the new revision (or the two of
            an ``autogenerate`` split, expand first); None when
            ``autogenerate`` found no change (nothing is written). A
            revision's ``.sql`` files (``sql_files``) are beside it:
            :func:`enamel.sql_files.paths`.
        :raises exception.UsageError: see :meth:`revision`; or the
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
        if not phases.branched(self.script):
            scripts.require_message(message, 'revision')
            self._require_new_rev_id(kw.get('rev_id'))
            if kw.get('autogenerate'):
                raise exception.UsageError(
                    'autogenerate compares a database at the heads of the '
                    'expand and contract branches, which do not exist yet: '
                    'create them with "revision --expand -m MSG" (without '
                    '--autogenerate), run "upgrade", then autogenerate')
            written = self._create_branches(message, kw.get('version_path'))
        if phase == phases.CONTRACT and not depends_on:
            depends_on = [self.script.get_revision(
                f'{phases.EXPAND}@head').revision]
        new = self.revision(message, head=f'{phase}@head',
                            depends_on=depends_on,
                            data_migration=data_migration, **kw)
        if new is None:
            return None
        return written + (new if isinstance(new, list) else [new])

    def _create_branches(self, message, version_path):
        """Write the roots of the expand and contract branches on the one
        head; the two ``Script`` objects, expand's first."""
        scripts.require_message(message, 'revision')
        heads = self.script.get_heads()
        if len(heads) != 1:
            raise exception.UsageError(
                'cannot start the expand and contract branches on several '
                f'heads ({", ".join(heads)}); merge them first')
        expand = self.revision(
            'expand branch root', head=heads[0],
            branch_label=phases.EXPAND, version_path=version_path)
        contract = self.revision(
            'contract branch root', head=heads[0], splice=True,
            branch_label=phases.CONTRACT, version_path=version_path,
            depends_on=[expand.revision])
        return [expand, contract]

    def _branched(self):
        """Is the history in expand and contract branches? A single
        recorded head answers no without loading a revision file."""
        recorded = self._recorded_heads('heads')
        if recorded is not None and len(recorded) == 1:
            return False
        return phases.branched(self.script)

    def _upgrade_phases(self, tag):
        """``upgrade`` of a branched history: expand, every data
        migration until done, contract.

        "Nothing to do" is said once, and only when no phase has anything
        to do; otherwise each phase says what it did, or that it had
        nothing to do. An unfinished data migration anywhere in the plan
        is refused before any phase runs.
        """
        # Only reads (as check does): no write lock on SQLite.
        with self._connect(read_only=True) as connection:
            current = state.guard(
                state.read(connection, database=self.database), self.script)
            steps = alembic_internals.upgrade_steps(self.script, 'heads',
                                                    current)
            phases.refuse_unfinished(step.revision for step in steps)
            # A data migration that cannot count is reported by its phase.
            if not steps and not self._rows_left(connection, current):
                return runner.nothing_to_do(current)
        self._upgrade(phases.target(self.script, phases.EXPAND), tag,
                      phase=phases.EXPAND)
        report = self.online_data_migrations()
        if not report.outcomes:
            runner.LOG.info('data migrations: nothing to do (none open)')
        stuck = [o for o in report.outcomes if o.error or o.left]
        if stuck:
            raise exception.DataMigrationFailed(
                'data migration(s) ' + ', '.join(
                    f'{o.name} ({o.error or f"{o.left} rows left"})'
                    for o in stuck) +
                '; the expand phase is applied, the contract phase is not')
        self._upgrade_contract(phases.target(self.script, phases.CONTRACT),
                               tag, phase=phases.CONTRACT)

    def _rows_left(self, connection, current):
        """Has an open data migration rows left, or can one not say?"""
        try:
            return bool(phases.pending(connection, self.script,
                                       current).rows_left)
        except exception.DataMigrationFailed:
            return True

    def _migrate(self, connection, held, plan, revision, tag, phase=None):
        """Guard, plan ahead (a bad revision is a usage error before
        anything runs), then let alembic run the steps."""
        current = state.guard(
            state.read(connection, database=self.database), self.script)
        steps = plan(self.script, revision, current)
        if plan is alembic_internals.upgrade_steps:
            phases.refuse_unfinished(step.revision for step in steps)
        runner.run(self.get_config(connection, models=False), self.script,
                   connection, plan, revision, tag=tag, lock=held,
                   phase=phase)

    def _offline(self, name, revision, **kw):
        if name == 'upgrade':
            phases.refuse_unfinished(self._offline_upgrade(revision))
        scripts.offline(self.get_config(models=False), self.script, name,
                        revision, **kw)

    def _offline_upgrade(self, revision):
        """The revisions ``upgrade --sql`` of ``revision`` (``TO`` from
        base, or ``FROM:TO``) writes, as alembic plans them; none when
        alembic cannot plan it (it then says why itself)."""
        start, _, target = revision.rpartition(':')
        if not target or (':' in revision and not start):
            return []
        current = () if start in ('', 'base') else (start,)
        try:
            steps = alembic_internals.upgrade_steps(self.script, target,
                                                    current)
        except exception.BadRevision:
            return []
        return [step.revision for step in steps]

    # -- the revision scripts ---------------------------------------------

    def revision(self, message, autogenerate=False, sql=False, head='head',
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
            an expand revision: use :meth:`revision_in_phase` with
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
            :meth:`revision_in_phase` returns every revision it wrote,
            the branch roots included.
        :raises exception.UsageError: no message, nowhere to write, a
            ``rev_id`` in use, ``sql_files`` with ``autogenerate``, or a
            ``data_migration`` that is not a
            Python identifier, is a name the revision file uses itself,
            or would go on the contract branch.
        :raises exception.UnsafeRevision: ``autogenerate`` found a change
            that would not apply on every engine (see
            :mod:`enamel.autogen`); no file is written.
        """
        self._require_new_rev_id(rev_id)
        _require_one_kind(sql_files, autogenerate)
        scaffold = None
        if data_migration is not None:
            scripts.require_data_migration_name(data_migration)
            self._require_expand_head(head)
            from alembic import util
            rev_id = rev_id or util.rev_id()
            scaffold = (rev_id, data_migration)
        with contextlib.ExitStack() as stack:
            connection = None
            if autogenerate:
                connection = stack.enter_context(self._connect())
                state.guard(state.read(connection, database=self.database),
                            self.script)
            script = scripts.write_revision(
                self.get_config(connection, version_path=version_path,
                                sql_files=sql_files,
                                data_migration=scaffold),
                self.database, message, sql_files_scaffold=sql_files,
                autogenerate=autogenerate, sql=sql, head=head,
                splice=splice, branch_label=branch_label,
                version_path=version_path, rev_id=rev_id,
                depends_on=depends_on)
        self._script = None
        return script

    def _require_expand_head(self, head):
        """:raises exception.UsageError: ``head`` is on the contract
        branch, where a data migration does not belong."""
        with alembic_internals.errors(revision_argument=True):
            base = self.script.get_revision(head)
        if base is not None and phases.phase_of(base) == phases.CONTRACT:
            raise exception.UsageError(CONTRACT_DATA_MIGRATION)

    def _require_new_rev_id(self, rev_id):
        """:raises exception.UsageError: ``rev_id`` is in use."""
        if rev_id and state.known(self.script, rev_id):
            raise exception.UsageError(
                f'--rev-id {rev_id}: a revision with that id exists')

    def merge(self, revisions, message=None, branch_label=None,
              rev_id=None):
        """Merge several heads into one revision; the new ``Script``."""
        script = scripts.merge(self.get_config(), self.database, revisions,
                               message, branch_label=branch_label,
                               rev_id=rev_id)
        self._script = None
        return script

    def edit(self, revision):
        """Open a revision file in ``$EDITOR``."""
        from alembic import command
        with alembic_internals.errors():
            command.edit(self.get_config(), revision)

    def current(self, verbose=False):
        """Print the current revision(s), as alembic does."""
        from alembic import command
        with self._connect(read_only=True) as connection:
            state.guard(state.read(connection, database=self.database),
                        self.script, adopt=True)
            with alembic_internals.errors():
                command.current(self.get_config(connection), verbose=verbose)

    def show(self, revision):
        """Print one revision."""
        from alembic import command
        with alembic_internals.errors():
            command.show(self.get_config(), revision)

    def branches(self, verbose=False):
        """Print the revisions where the history branches."""
        from alembic import command
        with alembic_internals.errors():
            command.branches(self.get_config(), verbose=verbose)

    def heads(self, resolve_dependencies=False):
        """The head revisions of the scripts, as ``Script`` objects.

        :param resolve_dependencies: as alembic's ``heads``: a revision
            that another one ``depends_on`` is not a head.
        """
        if resolve_dependencies:
            with alembic_internals.errors():
                return list(self.script.get_revisions('heads'))
        return [self.script.get_revision(h)
                for h in self.script.get_heads()]

    def history(self, rev_range=None):
        """The revisions in ``rev_range`` (``A:B``), newest first."""
        base, head = scripts.history_range(rev_range)
        with alembic_internals.errors():
            return list(self.script.walk_revisions(base=base, head=head))

    # -- the database against the scripts and the models ------------------

    def check(self, compare=True):
        """Report the state of the database (a
        :class:`enamel.state.CheckResult`).

        :param compare: compare the schema with the models when the
            database is at head.
        """
        heads = self._recorded_heads() or tuple(self.script.get_heads())
        with self._connect(read_only=True) as connection:
            return state.check(connection, lambda: self.script, heads,
                               compare=compare, database=self.database)

    def schema_dump(self):
        """The live database's tables and indexes as DDL for its dialect."""
        with self._connect(read_only=True) as connection:
            return state.schema_dump(connection)


def configured(conf, database=None, **kwargs):
    """One :class:`Migration` per database a command acts on, in the
    fixed order of :mod:`enamel.databases` (``main``, then ``api``).

    :param conf: enamel's parsed ``ConfigOpts``.
    :param database: only this one (a name), which must be configured;
        None: every configured database.
    :param kwargs: passed to each :class:`Migration` (``x_arguments``).
    :returns: a list of :class:`Migration`.
    :raises exception.UsageError: an unknown ``database``.
    :raises exception.ConfigError: ``database`` is not configured.
    """
    return [Migration(conf, database=d, **kwargs)
            for d in databases.configured(conf, database)]


def _require_one_kind(sql_files, autogenerate):
    """:raises exception.UsageError: both ``sql_files`` and
    ``autogenerate``: a ``--sql-files`` revision runs its ``.sql`` files,
    and the operations autogenerate found would be written nowhere."""
    if sql_files and autogenerate:
        raise exception.UsageError(
            '--sql-files and --autogenerate exclude each other: '
            'autogenerate writes operations, --sql-files a revision that '
            'runs the SQL you write')
