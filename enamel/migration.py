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
objects and hands each command to one of them (each method's docstring
names it; its arguments, result and errors are documented there):
:class:`enamel.history.History` (the alembic Config, the revisions and
their :class:`enamel.planner.Planner`), :class:`enamel.access.Access` (the
engines, connections and migration lock), :class:`enamel.moves.Moves`
(``upgrade``, ``downgrade``, ``stamp``: online through the
:class:`enamel.migrator.Migrator`, which plans, judges by the
:class:`enamel.phase_rules.PhaseRules` and runs; a branched history's
``upgrade`` through the :class:`enamel.phased.PhasedUpgrade`; ``--sql``
through the :class:`enamel.offline.OfflineScripts`),
:class:`enamel.rolling.RollingUpgrades`,
:class:`enamel.authoring.Revisions` and
:class:`~enamel.authoring.PhaseRevisions` (revision files),
:class:`enamel.merging.Merges` and :class:`enamel.inspection.Inspection`
(the read-only commands). Example::

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
from enamel import authoring
from enamel import databases
from enamel import history as revision_history
from enamel import inspection
from enamel import locations
from enamel import merging
from enamel import migrator as migrating
from enamel import moves as moves_commands
from enamel import offline as offline_scripts
from enamel import phased
from enamel import phase_rules
from enamel import rolling


class Migration:
    """Run alembic's commands against the database enamel is configured for.

    :param conf: an ``oslo_config.cfg.ConfigOpts`` with enamel's options
        registered and parsed (see :func:`enamel.conf.load`).
    :param engine: a ``sqlalchemy.engine.Engine`` instead of ``[database]
        connection``'s (on SQLite, see :func:`enamel.db.transactional`).
    :param database: which of enamel's databases: ``'main'`` (the
        default) or ``'api'`` (``[api_database] connection``), or an
        :class:`enamel.databases.Database`. Its revisions, models, version
        table and lock are used.
    :param x_arguments: ``KEY=VALUE`` strings that env.py reads with
        ``context.get_x_argument()`` (alembic's ``-x``).
    :param directory: a migration environment of the service's own, as
        ``-d/--directory`` (default: see :mod:`enamel.locations`).
    :raises exception.UsageError: an unknown ``database``, or a
        ``directory`` that is not a migration environment.
    :raises exception.ConfigError: a configured location is not one.
    """

    def __init__(self, conf, engine=None, database=None, x_arguments=(),
                 directory=None):
        self.conf = conf
        self.database = locations.resolve(conf, databases.get(database),
                                          directory)
        self.revision_history = history = revision_history.History(
            conf, self.database, x_arguments)
        self.access = db_access.Access(conf, self.database, engine)
        self.rules = phase_rules.PhaseRules(history)
        self.offline = offline_scripts.OfflineScripts(history, self.rules)
        self.migrator = migrating.Migrator(history, self.access, self.rules)
        self.rolling = rolling.RollingUpgrades(
            history, self.access, self.migrator, self.offline)
        self.moves = moves_commands.Moves(
            history, self.migrator, self.offline, phased.PhasedUpgrade(
                history, self.migrator, self.rules, self.rolling))
        self.authoring = authoring.Revisions(history, self.access)
        self.phase_revisions = authoring.PhaseRevisions(history,
                                                        self.authoring)
        self.merges = merging.Merges(history)
        self.inspection = inspection.Inspection(history, self.access,
                                                self.migrator)

    def configure(self, func):
        """A decorator: :meth:`enamel.history.History.configure`."""
        return self.revision_history.configure(func)

    def accept_drift(self, func):
        """A decorator: :meth:`enamel.history.History.accept_drift`."""
        return self.revision_history.accept_drift(func)

    def get_config(self, connection=None, version_path=None, **options):
        """The alembic ``Config``: ``History.get_config``."""
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

    # -- moving the database: enamel.moves.Moves, enamel.rolling ----------
    def upgrade(self, revision='head', sql=False, tag=None,
                ignore_phase_rules=False):
        """Upgrade to a later revision: ``Moves.upgrade``."""
        return self.moves.upgrade(revision, sql, tag, ignore_phase_rules)

    def downgrade(self, revision='-1', sql=False, tag=None):
        """Revert to a previous revision: ``Moves.downgrade``."""
        return self.moves.downgrade(revision, sql, tag)

    def stamp(self, revision, sql=False, purge=False, tag=None,
              verify=False, ignore_phase_rules=False):
        """Set the version table, running nothing: ``Moves.stamp``."""
        return self.moves.stamp(revision, sql, purge, tag, verify,
                                ignore_phase_rules)

    def upgrade_expand(self, sql=False, tag=None, ignore_phase_rules=False):
        """The expand phase only: ``RollingUpgrades.upgrade_expand``."""
        return self.rolling.upgrade_expand(sql, tag, ignore_phase_rules)

    def online_data_migrations(self, max_count=None, batch_size=None):
        """``RollingUpgrades.online_data_migrations``."""
        return self.rolling.online_data_migrations(max_count, batch_size)

    def upgrade_contract(self, sql=False, tag=None, ignore_phase_rules=False):
        """The contract phase: ``RollingUpgrades.upgrade_contract``."""
        return self.rolling.upgrade_contract(sql, tag, ignore_phase_rules)

    # -- writing revision files: enamel.authoring, enamel.merging ----------
    def revision(self, message, **kw):
        """A new revision file: ``Revisions.revision``."""
        return self.authoring.revision(message, **kw)

    def revision_in_phase(self, phase, message, **kw):
        """A revision on a phase's branch: ``PhaseRevisions``."""
        return self.phase_revisions.revision_in_phase(phase, message, **kw)

    def merge(self, revisions, message=None, branch_label=None, rev_id=None):
        """Merge several heads into one revision; the new ``Script``."""
        return self.merges.merge(revisions, message, branch_label, rev_id)

    def edit(self, revision):
        """Open a revision file in ``$EDITOR``."""
        authoring.edit(self.revision_history, revision)

    # -- reading: enamel.inspection.Inspection ------------------------------
    def version(self):
        """The revision ids in the version table."""
        return self.inspection.version()

    def current(self, verbose=False):
        """Print the current revision(s), as alembic does."""
        self.inspection.current(verbose)

    def show(self, revision):
        """Print one revision."""
        self.inspection.show(revision)

    def branches(self, verbose=False):
        """Print the revisions where the history branches."""
        self.inspection.branches(verbose)

    def heads(self, resolve_dependencies=False):
        """The head revisions, as ``Script`` objects."""
        return self.inspection.heads(resolve_dependencies)

    def history(self, rev_range=None):
        """The revisions in ``rev_range`` (``A:B``), newest first."""
        return self.inspection.history(rev_range)

    def check(self):
        """The database's state: a :class:`enamel.state.CheckResult`."""
        return self.inspection.check()

    def schema_dump(self):
        """The live database's tables and indexes as DDL for its dialect."""
        return self.inspection.schema_dump()


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
