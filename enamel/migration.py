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
:mod:`enamel.cmd.sync` is a thin layer over it. A ``Migration`` holds small
objects and hands each command to one of them:
:class:`enamel.history.History` (the alembic Config, the revisions and
their :class:`enamel.planner.Planner`), :class:`enamel.access.Access` (the
engines, connections and migration lock), :class:`enamel.migrator.
Migrator` (plan, judge by the phase rules, run: every ``upgrade``,
``downgrade``, ``stamp`` and ``--sql``), :class:`enamel.rolling.
RollingUpgrades` and :class:`enamel.authoring.Revisions`. Example::

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

from enamel import access as db_access
from enamel import alembic_internals
from enamel import authoring
from enamel import databases
from enamel import history as revision_history
from enamel import locations
from enamel import migrator as migrating
from enamel import rolling
from enamel import scripts
from enamel import state


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
    :param directory: a migration environment of the service's own (a
        directory with ``env.py``, ``script.py.mako`` and ``versions/``)
        instead of the bundled one, as ``-d/--directory``; default: the
        database's ``script_location`` option, else the bundled one (see
        :mod:`enamel.locations`).
    :raises exception.UsageError: an unknown ``database``; ``directory``
        is not a migration environment.
    :raises exception.ConfigError: a configured location is not one.
    """

    def __init__(self, conf, engine=None, database=None, x_arguments=(),
                 directory=None):
        self.conf = conf
        self.database = locations.resolve(conf, databases.get(database),
                                          directory)
        self.revision_history = revision_history.History(
            conf, self.database, x_arguments)
        self.access = db_access.Access(conf, self.database, engine)
        self.migrator = migrating.Migrator(self.revision_history,
                                           self.access)
        self.rolling = rolling.RollingUpgrades(
            self.revision_history, self.access, self.migrator)
        self.authoring = authoring.Revisions(self.revision_history,
                                             self.access)

    def configure(self, func):
        """Register ``func(config)`` to adjust the alembic Config before use.

        Usable as a decorator; ``func`` returns the Config (or None to keep
        the one it was given).
        """
        self.revision_history.callbacks.append(func)
        self.revision_history.reload()
        return func

    def accept_drift(self, func):
        """Register ``func(difference)`` to accept known drift.

        Usable as a decorator. ``difference`` is an
        :class:`enamel.drift.Difference` (``kind``, ``target``, ``line``,
        as ``check`` prints it); ``func`` returns True to accept it:
        ``check`` and ``stamp --verify`` list it as accepted instead of
        failing, and ``revision --autogenerate`` leaves it out of the
        revision. Adds to ``[database] accepted_drift``; see
        :mod:`enamel.drift`.
        """
        self.revision_history.drift_hooks.append(func)
        return func

    def get_config(self, connection=None, version_path=None, **options):
        """The alembic ``Config`` (see
        :func:`enamel.environment.make_config`), with the configure
        callbacks applied."""
        return self.revision_history.get_config(connection, version_path,
                                                **options)

    @property
    def script(self):
        """The ``ScriptDirectory``, loaded once and reused by every call."""
        return self.revision_history.script

    @property
    def planner(self):
        """The :class:`enamel.planner.Planner` every command asks."""
        return self.revision_history.planner

    @property
    def engine(self):
        """The ``Engine``, built from the configuration on first use."""
        return self.access.engine

    # -- moving the database (enamel.migrator, enamel.rolling) -------------

    def version(self):
        """The revision ids in the version table (a list, empty if
        unversioned). Reads the table directly: no revision file, no
        alembic."""
        with self.access.connect(read_only=True) as connection:
            return state.read(connection, tables=False,
                              database=self.database).current

    def upgrade(self, revision='head', sql=False, tag=None,
                ignore_phase_rules=False):
        """Upgrade to a later revision.

        Every target is planned and judged by the phase rules before
        anything runs (:func:`enamel.phases.judge`). In a history with
        expand and contract branches, ``head`` and ``heads`` run the three
        phases in order (expand, online data migrations, contract). A
        database already at the heads recorded in the HEADS file is
        recognised without loading a revision file.

        :param revision: target revision: an id or a unique prefix,
            relative (``+1``) or symbolic (``head``, ``heads``,
            ``label@head``); ``FROM:TO`` with ``sql`` (in a branched
            history, ``head`` there means every head, as a plain
            upgrade's phases reach them).
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py (``context.get_tag_argument()``).
        :param ignore_phase_rules: go past the phase rules on purpose;
            each rule broken is logged as a warning.
        :raises exception.BadRevision: ``revision`` names no revision.
        :raises exception.PhaseRefused: a phase rule refused the plan
            (exit 9); nothing was changed.
        :raises exception.OfflineRefused: with ``sql``, a phase rule
            refused the range (exit 1); nothing was written.
        :raises exception.UnfinishedRevision: the plan applies a data
            migration's unfinished skeleton (exit 1).
        :raises exception.MigrationFailed: a revision failed.
        """
        if sql:
            return self.migrator.offline('upgrade', revision, tag=tag,
                                         ignore=ignore_phase_rules)
        if revision in ('head', 'heads') and self.revision_history.branched():
            return self.rolling.upgrade_phases(tag, ignore_phase_rules)
        self.migrator.upgrade(revision, tag, ignore_phase_rules)

    def downgrade(self, revision='-1', sql=False, tag=None):
        """Revert to a previous revision.

        :param revision: target revision (``-1``, ``base``, an id);
            ``FROM:TO`` with ``sql``, where ``FROM`` may be ``heads``
            (every head; in a branched history ``head`` too, as
            :meth:`upgrade`'s ``TO``).
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :raises exception.BadRevision: ``revision`` names no revision, or
            is ambiguous (several heads and a relative target).
        :raises exception.MigrationFailed: a revision failed.
        """
        if sql:
            return self.migrator.offline('downgrade', revision, tag=tag)
        self.migrator.downgrade(revision, tag)

    def stamp(self, revision, sql=False, purge=False, tag=None,
              verify=False, ignore_phase_rules=False):
        """Set the version table to ``revision`` without running migrations.

        :param revision: target revision, or a list of them.
        :param sql: write the SQL to stdout instead of running it.
        :param purge: empty the version table first (also unknown rows).
        :param tag: passed to env.py.
        :param verify: first compare the live schema with the models and
            refuse if they differ (for adopting an existing database).
        :param ignore_phase_rules: as for :meth:`upgrade`.
        :raises exception.SchemaMismatch: ``verify`` found differences.
        :raises exception.PhaseRefused: the stamp would record contract
            revisions while data migrations have rows left (closing them
            with their rows never moved).
        """
        if sql:
            return self.migrator.offline('stamp', revision, tag=tag,
                                         purge=purge)
        self.migrator.stamp(revision, tag=tag, purge=purge, verify=verify,
                            ignore=ignore_phase_rules)

    def upgrade_expand(self, sql=False, tag=None, ignore_phase_rules=False):
        """Apply the expand phase only (``expand@head``): the revisions
        that are safe while the previous release runs.

        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :param ignore_phase_rules: as for :meth:`upgrade`.
        :raises exception.PhaseRefused: an expand revision depends on a
            pending contract revision, or a revision to apply is on
            neither branch; nothing was changed.
        :raises exception.MigrationFailed: a revision failed.
        """
        return self.rolling.upgrade_expand(sql, tag, ignore_phase_rules)

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
        return self.rolling.online_data_migrations(max_count, batch_size)

    def upgrade_contract(self, sql=False, tag=None,
                         ignore_phase_rules=False):
        """Apply the contract phase (``contract@head``), under the
        migration lock, only when nothing else is pending.

        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :param ignore_phase_rules: as for :meth:`upgrade`.
        :raises exception.ContractRefused: expand revisions are pending
            or data migrations have rows left; nothing was changed.
        :raises exception.MigrationFailed: a revision failed.
        """
        return self.rolling.upgrade_contract(sql, tag, ignore_phase_rules)

    # -- writing revision files (enamel.authoring) --------------------------

    def revision(self, message, **kw):
        """Create a new revision file; see
        :meth:`enamel.authoring.Revisions.revision`."""
        return self.authoring.revision(message, **kw)

    def revision_in_phase(self, phase, message, **kw):
        """Create a revision on the ``expand`` or ``contract`` branch; see
        :meth:`enamel.authoring.Revisions.revision_in_phase`."""
        return self.authoring.revision_in_phase(phase, message, **kw)

    def merge(self, revisions, message=None, branch_label=None,
              rev_id=None):
        """Merge several heads into one revision; the new ``Script``."""
        return self.authoring.merge(revisions, message, branch_label,
                                    rev_id)

    def edit(self, revision):
        """Open a revision file in ``$EDITOR``."""
        self.authoring.edit(revision)

    # -- reading the revisions --------------------------------------------

    def current(self, verbose=False):
        """Print the current revision(s), as alembic does."""
        from alembic import command
        with self.access.connect(read_only=True) as connection:
            self.migrator.current(connection, adopt=True)
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

    def check(self):
        """Report the state of the database (a
        :class:`enamel.state.CheckResult`)."""
        heads = self.revision_history.recorded_heads() or tuple(
            self.script.get_heads())
        with self.access.connect(read_only=True) as connection:
            return state.check(
                connection, lambda: self.planner, heads,
                database=self.database,
                accepted=self.revision_history.accepted(),
                version_dirs=self.revision_history.version_dirs())

    def schema_dump(self):
        """The live database's tables and indexes as DDL for its dialect."""
        with self.access.connect(read_only=True) as connection:
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
