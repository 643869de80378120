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
:mod:`enamel.heads_file`; the rolling-upgrade commands and the ones that
write revision files are mixins, in :mod:`enamel.rolling` and
:mod:`enamel.authoring`. Example::

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
from enamel import authoring
from enamel import databases
from enamel import db
from enamel import environment
from enamel import exception
from enamel import heads_file
from enamel import lock
from enamel import phases
from enamel import rolling
from enamel import runner
from enamel import scripts
from enamel import state


class Migration(rolling.RollingUpgrades, authoring.Revisions):
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

    def _branched(self):
        """Is the history in expand and contract branches? A single
        recorded head answers no without loading a revision file."""
        recorded = self._recorded_heads('heads')
        if recorded is not None and len(recorded) == 1:
            return False
        return phases.branched(self.script)

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

    # -- the revision scripts (writing them: enamel.authoring) -------------

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
