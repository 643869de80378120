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

Every public method mirrors an ``alembic.command`` function of the same
name. The API only raises (see :mod:`enamel.exception`); the command line in
:mod:`enamel.cmd.sync` is a thin layer over it. Example::

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
"""

import argparse
import contextlib
import dataclasses
import hashlib
import logging
import os
import sys
import sysconfig
import time

import sqlalchemy as sa

import alembic_migrations
from enamel import db
from enamel import exception
from enamel import lock

LOG = logging.getLogger(__name__)

VERSION_TABLE = 'alembic_version'
ENV_DIR = os.path.dirname(os.path.abspath(alembic_migrations.__file__))
VERSIONS_DIR = os.path.join(ENV_DIR, 'versions')
# The heads of the bundled history, written by ``revision`` and ``merge``
# (see read_heads_file).
HEADS_FILE = 'HEADS'

# What ``check`` found; each state has its exit code.
AT_HEAD = 'at_head'
PENDING = 'upgrade_pending'
DRIFT = 'schema_drift'
UNKNOWN = 'unknown_revision'
UNVERSIONED = 'unversioned'
CHECK_EXIT_CODES = {
    AT_HEAD: exception.SUCCESS,
    PENDING: exception.UPGRADE_PENDING,
    DRIFT: exception.SCHEMA_DRIFT,
    UNKNOWN: exception.UNKNOWN_REVISION,
    UNVERSIONED: exception.UNVERSIONED,
}


@dataclasses.dataclass
class CheckResult:
    """The state of the database, as ``check`` reports it."""

    state: str
    current: list
    heads: list
    pending: list
    differences: list

    @property
    def exit_code(self):
        return CHECK_EXIT_CODES[self.state]

    def as_dict(self):
        return dataclasses.asdict(self)


def context_options(dialect_name, per_revision=False, models=True):
    """Options for ``EnvironmentContext.configure`` shared by env.py and
    ``check``, so that both compare the schema the same way.

    Online and offline runs on PostgreSQL and SQLite use one transaction
    per run: an upgrade either applies completely or leaves the database
    where it was, and pays for one commit. MySQL commits every DDL statement
    anyway, so there each revision commits its own version row at once and
    the version table names the last revision that fully applied.

    :param per_revision: commit every revision on every engine (a run with
        ``each_revision``, whose callback must see each revision).
    :param models: give alembic the models' metadata (autogenerate and
        comparing need it). Without, it gets an empty metadata with the
        same naming convention, all that ``op`` reads while revisions run,
        and the models (and ``sqlalchemy.orm``) are not imported.
    """
    if models:
        from enamel import models as enamel_models
        metadata = enamel_models.Base.metadata
    else:
        metadata = sa.MetaData(naming_convention=db.NAMING_CONVENTION)
    sqlite = dialect_name == 'sqlite'
    options = dict(
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=sqlite,
        transaction_per_migration=(
            per_revision or _per_revision(dialect_name)),
        include_object=include_object,
    )
    if sqlite:
        # Truthful once enamel.db has taken over pysqlite's transactions.
        options['transactional_ddl'] = True
    return options


def include_object(obj, name, type_, reflected, compare_to):
    """Leave out of autogenerate what enamel's models do not own."""
    # The lock file's companion and other tools' tables are not ours:
    # only tables the models know, or that a migration created and the
    # models dropped, are compared.
    if type_ == 'table' and reflected and compare_to is None:
        return not name.startswith('sqlite_') and name != lock.LOCK_TABLE
    return True


def read_heads_file(versions_dir=None):
    """The head revisions recorded in ``versions_dir``'s HEADS file.

    With it ``upgrade`` and ``check`` recognise a database at head without
    loading a revision file, which is what most runs on a deploy find. The
    file is trusted only while it describes the revision files beside it:
    it carries their digest, and when the file is missing or the digest
    differs this returns None and the revisions are loaded as usual, so a
    stale file costs time, never a revision.

    :param versions_dir: default: the bundled ``alembic_migrations/
        versions``.
    :returns: a tuple of revision ids, or None.
    """
    versions_dir = versions_dir or VERSIONS_DIR
    try:
        with open(os.path.join(versions_dir, HEADS_FILE)) as f:
            fields = [line.split() for line in f
                      if not line.startswith('#')]
    except OSError:
        return None
    # Other lines (blank, a git conflict's markers) are not ours.
    fields = [f for f in fields if len(f) == 2]
    heads = tuple(v for k, v in fields if k == 'head')
    digests = [v for k, v in fields if k == 'digest']
    if heads and digests == [_revision_files_digest(versions_dir)]:
        return heads
    return None


def write_heads_file(versions_dir=None):
    """Record the heads of the revisions in ``versions_dir`` (default: the
    bundled ones) in its HEADS file; ``revision`` and ``merge`` call it.

    :returns: the heads written.
    """
    from alembic import script as alembic_script

    versions_dir = versions_dir or VERSIONS_DIR
    script = alembic_script.ScriptDirectory(
        os.path.dirname(versions_dir), version_locations=[versions_dir])
    heads = tuple(script.get_heads())
    with open(os.path.join(versions_dir, HEADS_FILE), 'w') as f:
        f.write('# The heads of the revisions in this directory, written '
                'by "enamel-sync\n# revision" and "merge"; used only '
                'while the digest matches the files.\n')
        f.writelines(f'head {head}\n' for head in heads)
        f.write(f'digest {_revision_files_digest(versions_dir)}\n')
    return heads


def _revision_files_digest(versions_dir):
    digest = hashlib.sha256()
    for name in sorted(os.listdir(versions_dir)):
        if name.endswith('.py'):
            with open(os.path.join(versions_dir, name), 'rb') as f:
                content = f.read()
            digest.update(f'{name}\0{len(content)}\0'.encode() + content)
    return f'sha256:{digest.hexdigest()}'


class Migration:
    """Run alembic's commands against the database enamel is configured for.

    :param conf: an ``oslo_config.cfg.ConfigOpts`` with enamel's options
        registered and parsed (see :func:`enamel.conf.load`).
    :param engine: optional ``sqlalchemy.engine.Engine`` to use instead of
        one built from ``[database] connection`` (tests, services that
        already have one).
    """

    def __init__(self, conf, engine=None):
        self.conf = conf
        self._engine = engine
        self._configure_callbacks = []
        self._script = None

    def configure(self, func):
        """Register ``func(config)`` to adjust the alembic Config before use.

        Usable as a decorator; ``func`` returns the Config (or None to keep
        the one it was given).
        """
        self._configure_callbacks.append(func)
        return func

    # -- plumbing ---------------------------------------------------------

    def get_config(self, connection=None, version_path=None, stdout=None):
        """Build the alembic ``Config``: the one place that does.

        No alembic.ini is read: ``script_location`` is the installed
        ``alembic_migrations`` package, and env.py finds enamel's
        configuration and the open connection in ``config.attributes``.

        :param connection: a ``Connection`` or ``Engine`` for env.py to use.
        :param version_path: an extra directory of revision files.
        :param stdout: where alembic's own output goes (default stdout).
        """
        from alembic import config as alembic_config

        config = alembic_config.Config(stdout=stdout or sys.stdout)
        config.set_main_option('script_location', _escape(ENV_DIR))
        locations = [VERSIONS_DIR]
        if version_path:
            locations.append(os.path.abspath(version_path))
        config.set_main_option(
            'version_locations',
            os.pathsep.join(_escape(p) for p in locations))
        config.set_main_option('path_separator', 'os')
        config.attributes['enamel_conf'] = self.conf
        if connection is not None:
            config.attributes['connection'] = connection
        for func in self._configure_callbacks:
            config = func(config) or config
        return config

    @property
    def script(self):
        """The ``ScriptDirectory``, loaded once and reused by every call."""
        if self._script is None:
            from alembic import script as alembic_script
            self._script = alembic_script.ScriptDirectory.from_config(
                self.get_config())
        return self._script

    @property
    def engine(self):
        if self._engine is None:
            self._engine = db.create_engine(self.conf)
        return self._engine

    @contextlib.contextmanager
    def _connect(self):
        try:
            connection = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise exception.DatabaseError(
                'cannot connect to the database '
                f'{db.describe(self.engine.url)}: {first_line(exc.orig)}'
            ) from None
        with connection:
            yield connection

    @contextlib.contextmanager
    def _locked(self):
        """Connect and hold the migration lock; yields the connection.

        The lock uses connections of its own (:func:`enamel.lock.
        migration_lock`); the migration keeps this one.
        """
        with self._connect() as connection:
            with lock.migration_lock(self.engine, self.conf) as held:
                held.prepare(connection)
                yield connection

    # -- reading the database --------------------------------------------

    def _read_heads(self, connection, tables=True):
        """The revisions in the version table (empty without one) and, with
        ``tables``, the names of the other tables. Without, only the
        version table is looked up: the cost does not grow with the
        schema (``version``, the at-head check of ``upgrade``).

        Leaves the connection outside any transaction: a connection handed
        to alembic inside one would never be committed.
        """
        try:
            inspector = sa.inspect(connection)
            names = inspector.get_table_names() if tables else []
            heads = []
            if (VERSION_TABLE in names if tables
                    else inspector.has_table(VERSION_TABLE)):
                heads = list(connection.execute(sa.text(
                    f'SELECT version_num FROM {VERSION_TABLE}')).scalars())
        finally:
            connection.rollback()
        # The migration lock's table is enamel's bookkeeping, not a model
        # table: it appears as soon as an upgrade waits for the lock.
        return heads, [n for n in names
                       if n not in (VERSION_TABLE, lock.LOCK_TABLE)]

    def _guard(self, connection, adopt=False):
        """Refuse to touch an unversioned or foreign database."""
        heads, tables = self._read_heads(connection)
        if not heads and tables and not adopt:
            raise exception.UnversionedDatabase(
                f'the database has tables ({", ".join(sorted(tables)[:5])}) '
                'but no version table; verify it and adopt it with '
                '"enamel-sync stamp --verify head"')
        unknown = [h for h in heads if not self._known(h)]
        if unknown:
            raise exception.UnknownDatabaseRevision(
                f'the database is at revision {", ".join(unknown)}, which '
                'this version of enamel does not know (was it upgraded by a '
                'newer release?); nothing was changed')
        return tuple(heads)

    def _recorded_heads(self, target='heads'):
        """What ``target`` resolves to, from the HEADS file (no revision
        file loaded); None when that file cannot answer (see
        :func:`read_heads_file`), when ``target`` is not ``head`` or
        ``heads``, or when a configure callback may change the revisions.
        """
        if self._configure_callbacks or target not in ('head', 'heads'):
            return None
        heads = read_heads_file()
        if heads is None or (target == 'head' and len(heads) != 1):
            return None
        return heads

    def _preload_script(self):
        """Load the revision files before waiting for the lock.

        They are code, not database state: processes queued behind the
        lock read them while the first one migrates, and the lock is held
        for less time. An error here is left for the same call under the
        lock to report.
        """
        from alembic.script import revision as alembic_revision
        try:
            self.script
        except (alembic_revision.RevisionError, _command_error()):
            pass

    def _known(self, revision_id):
        from alembic.script import revision as alembic_revision
        try:
            return self.script.get_revision(revision_id) is not None
        except (alembic_revision.RevisionError, _command_error()):
            return False

    def _plan(self, make_steps):
        """Resolve revision arguments up front: an error here is usage."""
        from alembic.script import revision as alembic_revision
        try:
            return make_steps()
        except (alembic_revision.RevisionError, _command_error()) as exc:
            # alembic words an ambiguous prefix as "Can't locate"; its
            # cause names the revisions the prefix matches.
            if isinstance(exc.__cause__, alembic_revision.RevisionError):
                exc = exc.__cause__
            raise exception.BadRevision(first_line(exc)) from None

    def version(self):
        """The revision ids in the version table (empty if unversioned).

        Reads the table directly: no revision file is loaded.
        """
        with self._connect() as connection:
            return self._read_heads(connection, tables=False)[0]

    # -- writing the database --------------------------------------------

    def upgrade(self, revision='head', sql=False, tag=None,
                each_revision=None):
        """Upgrade to a later revision.

        A database already at the heads recorded in the HEADS file (see
        :func:`read_heads_file`) is recognised without loading a revision
        file.

        :param revision: target revision, relative (``+1``) or symbolic
            (``head``, ``heads``, ``label@head``); ``FROM:TO`` with ``sql``.
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py (``context.get_tag_argument()``).
        :param each_revision: ``func(script, applied)``, called before
            (``applied=False``) and after (``applied=True``) each revision
            with its ``alembic.script.Script``. Every revision then commits
            on its own, so that ``func`` sees, on a connection of its own,
            the database as each revision left it (the test walker's
            hooks). An exception from ``func`` stops the run and is raised
            as it is.
        """
        if sql:
            return self._offline('upgrade', revision, tag=tag)
        # At head, the usual case on a deploy (and for every process but
        # the first when several hosts upgrade at once), the HEADS file
        # answers: no revision file is loaded and alembic is not imported.
        recorded = self._recorded_heads(revision)
        if recorded is None:
            self._preload_script()
        with self._locked() as connection:
            if recorded is not None:
                current = self._read_heads(connection, tables=False)[0]
                if set(current) == set(recorded):
                    return _nothing_to_do(current)
            heads = self._guard(connection)
            steps = self._plan(
                lambda: self.script._upgrade_revs(revision, heads))
            self._run(connection, steps, revision, tag, heads,
                      each_revision)

    def downgrade(self, revision='-1', sql=False, tag=None,
                  each_revision=None):
        """Revert to a previous revision.

        :param revision: target revision (``-1``, ``base``, an id);
            ``FROM:TO`` with ``sql``.
        :param sql: write the SQL to stdout instead of running it.
        :param tag: passed to env.py.
        :param each_revision: as for :meth:`upgrade`; ``script`` is the
            revision being removed.
        """
        if sql:
            return self._offline('downgrade', revision, tag=tag)
        with self._locked() as connection:
            heads = self._guard(connection)
            steps = self._plan(
                lambda: self.script._downgrade_revs(revision, heads))
            self._run(connection, steps, revision, tag, heads,
                      each_revision)

    def stamp(self, revision, sql=False, purge=False, tag=None,
              verify=False):
        """Set the version table to ``revision`` without running migrations.

        :param revision: target revision, or a list of them.
        :param sql: write the SQL to stdout instead of running it.
        :param purge: empty the version table first (also unknown rows).
        :param tag: passed to env.py.
        :param verify: first compare the live schema with the models and
            refuse if they differ (for adopting an existing database).
        """
        if sql:
            return self._offline('stamp', revision, tag=tag, purge=purge)
        with self._locked() as connection:
            if purge:
                heads = ()
                self._read_heads(connection)
            else:
                heads = self._guard(connection, adopt=True)
            if verify:
                differences = self._compare(connection)
                if differences:
                    raise exception.SchemaMismatch(
                        f'the database schema differs from the models in '
                        f'{len(differences)} place(s), for example '
                        f'{differences[0]}; not stamped', differences)
            steps = self._plan(
                lambda: self.script._stamp_revs(revision, heads))
            self._run(connection, steps, revision, tag, heads, purge=purge)

    def _run(self, connection, steps, destination, tag, heads,
             each_revision=None, **kw):
        """Run the planned steps through env.py on the locked connection."""
        from alembic import runtime

        if not steps:
            return _nothing_to_do(heads)
        applied = []
        started = [time.monotonic()]

        def progress(step):
            now = time.monotonic()
            applied.append(step)
            if not step.is_stamp:
                LOG.info('%s %s (%s) in %.3fs',
                         'Upgraded to' if step.is_upgrade else 'Downgraded',
                         step.up_revision_id, step.up_revision.doc,
                         now - started[0])
            started[0] = now

        config = self.get_config(connection)
        config.attributes['on_version_apply'] = (
            lambda ctx, step, heads, run_args: progress(step))
        # Running revisions needs the naming convention, not the models.
        config.attributes['enamel.models'] = False
        per_revision = _per_revision(connection.dialect.name)
        if each_revision is not None:
            per_revision = True
            config.attributes['enamel.per_revision'] = True

        def plan(rev, context):
            return _steps(context.connection, steps, heads, per_revision,
                          progress, each_revision)
        try:
            with runtime.environment.EnvironmentContext(
                    config, self.script, fn=plan, as_sql=False,
                    destination_rev=destination, tag=tag, **kw):
                self.script.run_env()
        except _CallbackFailed as exc:
            raise exc.__cause__
        except Exception as exc:
            if len(applied) >= len(steps):
                raise
            failed = _step_revision(steps[len(applied)])
            raise self._failure(connection, failed, exc,
                                per_revision) from exc
        if isinstance(steps[0], runtime.migration.StampStep):
            heads = self._read_heads(connection, tables=False)[0]
            LOG.info('Stamped %s', ', '.join(heads) or 'base')

    def _failure(self, connection, revision_id, exc, per_revision):
        try:
            connection.rollback()
            now = ', '.join(
                self._read_heads(connection, tables=False)[0]) or 'base'
        except sa.exc.SQLAlchemyError:
            now = 'unknown (the connection was lost)'
        message = f'revision {revision_id} failed: {first_line(exc)}; '
        if not per_revision:
            # One transaction per run: the revisions this run reported as
            # upgraded were rolled back with the failed one.
            return exception.MigrationFailed(
                f'{message}the run was rolled back, the database is at {now}')
        message += (f'the database is at {now}, the last revision that '
                    'fully applied')
        if connection.dialect.name in ('mysql', 'mariadb'):
            message += (
                '; MySQL commits each DDL statement, so the failed revision '
                'may have left objects behind: see "When a migration fails" '
                'in the operator guide')
        return exception.MigrationFailed(message)

    def _offline(self, name, revision, **kw):
        from alembic import command
        config = self.get_config()
        config.attributes['enamel.models'] = False
        with self._alembic_errors():
            getattr(command, name)(config, revision, sql=True, **kw)

    # -- the revision scripts ---------------------------------------------

    def revision(self, message, autogenerate=False, sql=False, head='head',
                 splice=False, branch_label=None, version_path=None,
                 rev_id=None, depends_on=None, sql_files=False):
        """Create a new revision file.

        Without ``version_path`` it is written to ``alembic_migrations/
        versions/``, which must be a source tree: in an installed
        site-packages the file would be lost, so that is refused.

        :param message: the revision's message (required, not blank).
        :param autogenerate: compare the models with the database and
            write the operations that bring the database to the models.
        :param sql_files: scaffold ``<rev>_upgrade.sql`` and
            ``<rev>_downgrade.sql`` beside the revision, which runs them.
        :returns: the new ``alembic.script.Script``.
        """
        from alembic import command

        if not message or not message.strip():
            raise exception.UsageError('revision needs a message: -m "..."')
        if version_path is None and _installed(VERSIONS_DIR):
            raise exception.UsageError(
                f'{VERSIONS_DIR} is inside an installed package; run '
                'revision from a source checkout (pip install -e) or give '
                '--version-path')
        if version_path is not None and not os.path.isdir(version_path):
            raise exception.UsageError(
                f'--version-path {version_path} is not a directory')
        with contextlib.ExitStack() as stack:
            connection = None
            if autogenerate:
                connection = stack.enter_context(self._connect())
                self._guard(connection)
            config = self.get_config(connection, version_path=version_path)
            config.cmd_opts = argparse.Namespace(quiet=True)
            if sql_files:
                config.attributes['enamel.sql_files'] = True
            with self._alembic_errors():
                script = command.revision(
                    config, message=message, autogenerate=autogenerate,
                    sql=sql, head=head, splice=splice,
                    branch_label=branch_label, version_path=version_path,
                    rev_id=rev_id, depends_on=depends_on)
        if sql_files and script is not None:
            _write_sql_files(script)
        self._script = None
        if version_path is None:
            write_heads_file()
        return script

    def merge(self, revisions, message=None, branch_label=None,
              rev_id=None):
        """Merge several heads into one revision."""
        from alembic import command
        if not message or not message.strip():
            raise exception.UsageError('merge needs a message: -m "..."')
        if _installed(VERSIONS_DIR):
            raise exception.UsageError(
                f'{VERSIONS_DIR} is inside an installed package; run merge '
                'from a source checkout')
        config = self.get_config()
        config.cmd_opts = argparse.Namespace(quiet=True)
        with self._alembic_errors():
            script = command.merge(config, revisions,
                                   message=message,
                                   branch_label=branch_label, rev_id=rev_id)
        self._script = None
        write_heads_file()
        return script

    def edit(self, revision):
        """Open a revision file in ``$EDITOR``."""
        from alembic import command
        with self._alembic_errors():
            command.edit(self.get_config(), revision)

    def current(self, verbose=False):
        """Print the current revision(s), as alembic does."""
        from alembic import command
        with self._connect() as connection:
            self._guard(connection, adopt=True)
            with self._alembic_errors():
                command.current(self.get_config(connection), verbose=verbose)

    def show(self, revision):
        """Print one revision."""
        from alembic import command
        with self._alembic_errors():
            command.show(self.get_config(), revision)

    def branches(self, verbose=False):
        """Print the revisions where the history branches."""
        from alembic import command
        with self._alembic_errors():
            command.branches(self.get_config(), verbose=verbose)

    def heads(self):
        """The head revisions of the history, as ``Script`` objects."""
        return [self.script.get_revision(h)
                for h in self.script.get_heads()]

    def history(self, rev_range=None):
        """The revisions in ``rev_range`` (``A:B``), newest first."""
        base, head = None, None
        if rev_range:
            if ':' not in rev_range:
                raise exception.BadRevision(
                    f'--rev-range {rev_range!r} is not of the form A:B')
            base, head = rev_range.split(':', 1)
        return self._plan(lambda: list(self.script.walk_revisions(
            base=base or 'base', head=head or 'heads')))

    # -- comparing the database with the models ---------------------------

    def _compare(self, connection):
        from alembic import autogenerate
        from alembic import runtime

        options = context_options(connection.dialect.name)
        metadata = options.pop('target_metadata')
        for key in ('render_as_batch', 'transaction_per_migration',
                    'transactional_ddl'):
            options.pop(key, None)
        ctx = runtime.migration.MigrationContext.configure(
            connection, opts=options)
        try:
            return [describe_difference(d) for d in
                    autogenerate.compare_metadata(ctx, metadata)]
        finally:
            connection.rollback()

    def check(self, compare=True):
        """Report the state of the database (see :class:`CheckResult`).

        :param compare: compare the schema with the models when the
            database is at head.
        """
        heads = list(self._recorded_heads() or self.script.get_heads())
        with self._connect() as connection:
            current, tables = self._read_heads(connection)
            result = CheckResult(AT_HEAD, current, heads, [], [])
            if not current and tables:
                result.state = UNVERSIONED
            elif set(current) == set(heads):
                if compare:
                    result.differences = self._compare(connection)
                    if result.differences:
                        result.state = DRIFT
            elif any(not self._known(r) for r in current):
                result.state = UNKNOWN
            else:
                result.state = PENDING
                result.pending = [
                    s.revision.revision for s in
                    self.script._upgrade_revs('heads', tuple(current))]
        return result

    def schema_dump(self):
        """The live database's tables and indexes as DDL for its dialect."""
        with self._connect() as connection:
            metadata = sa.MetaData()
            try:
                metadata.reflect(connection, only=lambda name, _: (
                    name != lock.LOCK_TABLE))
            finally:
                connection.rollback()
            dialect = connection.dialect
        statements = []
        for table in metadata.sorted_tables:
            statements.append(str(sa.schema.CreateTable(table).compile(
                dialect=dialect)).strip())
            for index in sorted(table.indexes, key=lambda i: i.name or ''):
                statements.append(str(sa.schema.CreateIndex(index).compile(
                    dialect=dialect)).strip())
        return ''.join(s + ';\n\n' for s in statements)

    @contextlib.contextmanager
    def _alembic_errors(self):
        """alembic's CommandError is about what the user asked for."""
        try:
            yield
        except _command_error() as exc:
            raise exception.UsageError(first_line(exc)) from None


def describe_difference(diff):
    """One line for one item of ``compare_metadata``'s output, e.g.
    ``add_column tasks.priority`` or ``modify_nullable tasks.state: True ->
    False``."""
    if isinstance(diff, list):  # column modifications come grouped
        return '; '.join(describe_difference(d) for d in diff)
    op, *args = diff
    if op.startswith('modify_'):
        _schema, table, column, _existing, old, new = args
        return f'{op} {table}.{column}: {old!r} -> {new!r}'
    if op in ('add_column', 'remove_column'):
        _schema, table, column = args
        return f'{op} {table}.{column.name}'
    obj = args[0]
    table = getattr(obj, 'table', None)
    name = getattr(obj, 'name', None) or repr(obj)
    if table is not None and table.name != name:
        name = f'{table.name}.{name}'
    return f'{op} {name}'


def _nothing_to_do(heads):
    LOG.info('Nothing to do: the database is at %s',
             ', '.join(heads) or 'base')


def first_line(exc):
    """The first non-blank line of an exception, without SQL or params."""
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0].strip()


def _per_revision(dialect_name):
    """Does each revision commit on its own (else: once per run)?"""
    return dialect_name in ('mysql', 'mariadb')


class _CallbackFailed(Exception):
    """Carries an ``each_revision`` error through alembic (``__cause__``)."""


def _in_line(steps, heads):
    """Do the steps walk one line of revisions, up or down, from the
    database's only head (or from base)?"""
    from alembic import runtime

    if len(heads) > 1:
        return False
    position = tuple(heads)
    for step in steps:
        if (not isinstance(step, runtime.migration.RevisionStep)
                or step.from_revisions != position
                or len(step.to_revisions) > 1
                # depends_on: left to alembic
                or step.from_revisions_no_deps != step.from_revisions
                or step.to_revisions_no_deps != step.to_revisions):
            return False
        position = step.to_revisions
    return True


def _steps(connection, steps, heads, per_revision, progress,
           each_revision=None):
    """The steps for alembic to run, or none when they are run here.

    A run along one line of revisions (see :func:`_in_line`, the usual
    case) is run here, inside ``context.run_migrations()`` after alembic
    made the version table, and the version row is written once per
    commit: once at the end where the run is one transaction, else with
    each revision. alembic would write it after every revision, with a
    statement compiled anew each time, although in one transaction only
    the last write is ever seen. Any other run (branches, merges,
    ``depends_on``) is handed to alembic one step at a time.

    With ``each_revision``, every revision commits, and the callback is
    called between them, once what came before is committed (what alembic
    read first included), so that it may use a connection of its own, even
    on SQLite.
    """
    in_line = _in_line(steps, heads)
    position = written = heads[0] if heads else None
    previous = None
    for step in list(steps) + [None]:
        if each_revision is not None:
            if connection.in_transaction():
                connection.commit()
            try:
                if previous is not None:
                    each_revision(previous.revision, True)
                if step is not None:
                    each_revision(step.revision, False)
            except Exception as exc:
                raise _CallbackFailed() from exc
        if step is None:
            break
        if in_line:
            step.migration_fn()
            position = step.to_revisions[0] if step.to_revisions else None
            if per_revision:
                _write_version(connection, written, position)
                written = position
                connection.commit()
            progress(step.info)
        else:
            yield step
        previous = step
    if in_line:
        _write_version(connection, written, position)


def _write_version(connection, old, new):
    """Move the version table's row from ``old`` to ``new`` (None: no
    row)."""
    if old == new:
        return
    if old is None:
        statement = f'INSERT INTO {VERSION_TABLE} (version_num) VALUES (:new)'
    elif new is None:
        statement = f'DELETE FROM {VERSION_TABLE} WHERE version_num = :old'
    else:
        statement = (f'UPDATE {VERSION_TABLE} SET version_num = :new '
                     'WHERE version_num = :old')
    result = connection.execute(sa.text(statement), dict(old=old, new=new))
    if result.rowcount != 1:
        raise exception.MigrationFailed(
            f'expected one row in {VERSION_TABLE} at {old}, found '
            f'{result.rowcount}')


def _step_revision(step):
    return step.revision.revision


def _escape(path):
    return path.replace('%', '%%')


def _installed(path):
    """Is ``path`` inside an installed site-packages?"""
    path = os.path.realpath(path)
    for key in ('purelib', 'platlib'):
        root = os.path.realpath(sysconfig.get_paths()[key])
        if path.startswith(root + os.sep):
            return True
    return False


def _command_error():
    from alembic import util
    return util.CommandError


def _write_sql_files(script):
    base = os.path.splitext(script.path)[0]
    for direction in ('upgrade', 'downgrade'):
        path = f'{base}_{direction}.sql'
        if not os.path.exists(path):
            with open(path, 'w') as f:
                f.write(f'-- {direction} of revision {script.revision}: '
                        f'{script.doc}\n-- One statement per ";"; runs in '
                        'the migration transaction.\n')
