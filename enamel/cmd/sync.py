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

"""enamel-sync: the command line over :mod:`enamel.migration`.

``main`` builds a ConfigOpts, parses the command line, dispatches to the
migration API and is the one place that turns an error into a line on
stderr and an exit code (see the CLI reference for the codes).

With several databases configured (:mod:`enamel.databases`), each command
runs once per database, in order, through :func:`dispatch`: every output
line then starts with ``[NAME] ``, and JSON output has one entry per
database. With one database the output is exactly as it always was.
"""

import argparse
import contextlib
import io
import json
import logging
import os
import signal
import sys

from oslo_config import cfg

from enamel import conf as enamel_conf
from enamel import databases
from enamel import exception

LOG = logging.getLogger('enamel')

FORMATS = ('text', 'json')


def _revision_args(parser, default=None, required=False, nargs='?'):
    """A revision both positionally and as ``--revision`` (DESIGN.md)."""
    parser.add_argument('revision_arg', nargs=nargs, metavar='REVISION',
                        help='target revision: an id (or unique prefix), '
                             'head, heads, base, label@head, or relative '
                             '(+1, -1)' +
                             (f'; default {default}' if default else ''))
    parser.add_argument('--revision', dest='revision_opt',
                        metavar='REVISION', help='same as REVISION')
    parser.set_defaults(revision_default=default,
                        revision_required=required)


def _sql_args(parser, purge=False):
    parser.add_argument('--sql', action='store_true',
                        help='write the SQL to stdout instead of running '
                             'it (no connection is opened); accepts a '
                             'FROM:TO revision range')
    parser.add_argument('--tag', help='an arbitrary tag passed to env.py')


def _format_arg(parser):
    parser.add_argument('--format', choices=FORMATS, default='text',
                        help='output format (default text)')


def _revision_file_args(parser):
    """The options of ``revision`` that ``migrate`` shares."""
    parser.add_argument('-m', '--message', help='the revision\'s message '
                                                '(required)')
    parser.add_argument('--head', default='head',
                        help='the head the new revision is based on')
    parser.add_argument('--splice', action='store_true',
                        help='allow a --head that is not a head')
    parser.add_argument('--branch-label', help='a label for a new branch')
    parser.add_argument('--depends-on', action='append',
                        help='a revision this one depends on (repeatable)')
    parser.add_argument('--rev-id', help='the revision id instead of a '
                                         'random one')
    parser.add_argument('--version-path',
                        help='directory to write the file to (required '
                             'when enamel is installed in site-packages)')


# Commands about one database's revision files: --database picks it
# (default main, configured or not). The others act on every configured
# database, or on --database's.
ONE_DATABASE = frozenset(('revision', 'migrate', 'merge', 'show', 'edit'))
# Commands that read only the revision files: --database names any
# database, configured or not.
SCRIPTS_ONLY = frozenset(('heads', 'branches', 'history', 'lint'))
# Commands that run env.py, which reads -x.
RUN_ENV = frozenset(('upgrade', 'downgrade', 'stamp', 'current',
                     'revision', 'migrate'))
NO_DATABASE = frozenset(('init',))


def _database_args(subparsers):
    """``--database`` on every command about a database, ``-x`` on those
    that run env.py."""
    for name, parser in subparsers.choices.items():
        if name in NO_DATABASE:
            continue
        parser.add_argument(
            '--database', dest='database_name', choices=databases.NAMES,
            help=('the database whose revisions to use (default main)'
                  if name in ONE_DATABASE else
                  'act on this database only (default: every configured '
                  'one, main then api)'))
        if name in RUN_ENV:
            parser.add_argument(
                '-x', '--x-arg', dest='x_arg', action='append',
                metavar='KEY=VALUE',
                help='passed to env.py as alembic\'s -x '
                     '(context.get_x_argument()); repeatable')


def add_command_parsers(subparsers):
    """Declare the sub-commands; alembic's names and options."""
    p = subparsers.add_parser(
        'upgrade', help='upgrade to a later revision; without REVISION, '
                        'expand, online data migrations and contract in '
                        'that order')
    _revision_args(p, default='head')
    _sql_args(p)
    _phase_args(p, 'apply only the expand branch (expand@head): safe '
                   'while the previous release runs',
                'apply only the contract branch (contract@head); refused '
                'with exit 9, changing nothing, while expand revisions are '
                'pending or data migrations have rows left')

    p = subparsers.add_parser(
        'online-data-migrations',
        help='run the open online data migrations in batches; exit 0 '
             'nothing left, 1 rows left (run again), 2 a migration failed')
    p.add_argument('--max-count', type=_positive, metavar='N',
                   help='change at most N rows in this run (default: '
                        'until nothing is left)')
    p.add_argument('--batch-size', type=_positive, metavar='N',
                   default=1000,
                   help='rows per committed batch (default 1000)')
    _format_arg(p)

    p = subparsers.add_parser(
        'lint', help='check that expand revisions only add and contract '
                     'revisions only remove, and flag per-engine hazards; '
                     'exit 0 clean, 10 findings')
    p.add_argument('revisions', nargs='*', metavar='REVISION',
                   help='revisions to lint (default: all)')
    p.add_argument('--dialect', action='append',
                   choices=('sqlite', 'mysql', 'postgresql'),
                   help='engine whose hazards to report (repeatable; '
                        'default: all three)')
    _format_arg(p)

    p = subparsers.add_parser('downgrade', help='revert to an earlier '
                                                'revision')
    _revision_args(p, default='-1')
    _sql_args(p)

    p = subparsers.add_parser('stamp', help='set the version table to a '
                                            'revision without migrating')
    _revision_args(p, required=True)
    _sql_args(p)
    p.add_argument('--purge', action='store_true',
                   help='empty the version table first')
    p.add_argument('--verify', action='store_true',
                   help='refuse unless the live schema matches the models '
                        '(adopting an existing database)')

    p = subparsers.add_parser('version', help='print the current revision '
                                              'id(s), one per line')
    p.add_argument('--verbose', '-v', action='store_true',
                   help='also print each revision\'s message')
    _format_arg(p)

    p = subparsers.add_parser('current', help='show the current revision, '
                                              'as alembic does')
    p.add_argument('--verbose', '-v', action='store_true')

    p = subparsers.add_parser('revision', help='create a new revision file')
    _revision_file_args(p)
    p.add_argument('--autogenerate', action='store_true',
                   help='write the operations that bring the database to '
                        'the models; with no change, write nothing and '
                        'say so on stderr (exit 0); refuse (exit 1) a '
                        'change that would not apply on every engine')
    p.add_argument('--sql-files', action='store_true',
                   help='scaffold a revision that runs <file>_upgrade.sql '
                        'and <file>_downgrade.sql kept beside it')
    _phase_args(p, 'write the revision on the expand branch (created '
                   'with the contract branch the first time)',
                'write the revision on the contract branch; it depends on '
                'the expand head unless --depends-on is given')

    p = subparsers.add_parser(
        'migrate', help='create a new revision file from the differences '
                        'between the database and the models (revision '
                        '--autogenerate)')
    _revision_file_args(p)

    p = subparsers.add_parser('merge', help='merge several heads')
    p.add_argument('revisions', nargs='+', metavar='REVISION')
    p.add_argument('-m', '--message', help='the merge revision\'s message')
    p.add_argument('--branch-label')
    p.add_argument('--rev-id')

    p = subparsers.add_parser('history', help='list revisions, newest '
                                              'first')
    p.add_argument('--rev-range', '-r', help='A:B, for example base:head')
    p.add_argument('--verbose', '-v', action='store_true')
    p.add_argument('--indicate-current', '-i', action='store_true',
                   help='mark the database\'s current revision(s)')
    _format_arg(p)

    p = subparsers.add_parser('heads', help='list the head revisions')
    p.add_argument('--verbose', '-v', action='store_true')
    p.add_argument('--resolve-dependencies', action='store_true',
                   help='as alembic: a revision another one depends on '
                        'is not a head')
    _format_arg(p)

    p = subparsers.add_parser('branches', help='list branch points')
    p.add_argument('--verbose', '-v', action='store_true')

    p = subparsers.add_parser('show', help='show one revision')
    _revision_args(p, required=True)

    p = subparsers.add_parser('edit', help='open a revision in $EDITOR')
    _revision_args(p, required=True)

    p = subparsers.add_parser(
        'check', help='report the database state as an exit code: 0 at '
                      'head and matching the models, 3 upgrade (expand) '
                      'pending, 4 schema differs, 5 unknown revision, 6 '
                      'unversioned, 7 data migrations have rows left, 8 '
                      'only contract pending')
    _format_arg(p)

    subparsers.add_parser('schema-dump', help='print the live database\'s '
                                              'schema as DDL')

    p = subparsers.add_parser(
        'init', help='write a migration environment for a service or '
                     'plugin, wired to enamel\'s configuration')
    p.add_argument('directory', metavar='DIRECTORY',
                   help='where to write it (must not exist, or be empty)')
    p.add_argument('--multidb', action='store_true',
                   help='one environment serving enamel\'s main and API '
                        'databases, each with its own revisions')

    _database_args(subparsers)


def _phase_args(parser, expand_help, contract_help):
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--expand', action='store_const', const='expand',
                       dest='phase', help=expand_help)
    group.add_argument('--contract', action='store_const', const='contract',
                       dest='phase', help=contract_help)


def _positive(value):
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(
            f'{value!r} is not a positive integer')
    return number


def register_cli_opts(conf):
    conf.register_cli_opt(cfg.BoolOpt(
        'debug', short='d', default=False,
        help='show tracebacks and SQL-level logging (passwords stay '
             'hidden)'))
    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', title='commands', handler=add_command_parsers,
        help='run "enamel-sync COMMAND --help" for its options'))


def _revision(args):
    positional, option = args.revision_arg, args.revision_opt
    if positional and option and positional != option:
        raise exception.UsageError(
            f'two different revisions given: {positional} and {option}')
    revision = positional or option or args.revision_default
    if revision is None and args.revision_required:
        raise exception.UsageError(f'{args.name} needs a revision')
    return revision


def _print_json(data):
    print(json.dumps(data, indent=2, sort_keys=True))


def _script_dict(script, current=()):
    down = script.down_revision
    return {
        'revision': script.revision,
        'down_revisions': (list(down) if isinstance(down, (list, tuple))
                           else [down] if down else []),
        'branch_labels': sorted(script.branch_labels),
        'message': script.doc,
        'is_head': script.is_head,
        'is_current': script.revision in current,
    }


# -- the commands: each a thin call into the migration API ---------------

def do_upgrade(migrate, args):
    if args.phase is None:
        migrate.upgrade(_revision(args), sql=args.sql, tag=args.tag)
        return
    if args.revision_arg or args.revision_opt:
        raise exception.UsageError(
            f'--{args.phase} picks the target itself; give no revision')
    if args.phase == 'expand':
        migrate.upgrade_expand(sql=args.sql, tag=args.tag)
    else:
        migrate.upgrade_contract(sql=args.sql, tag=args.tag)


def do_online_data_migrations(migrate, args):
    report = migrate.online_data_migrations(max_count=args.max_count,
                                            batch_size=args.batch_size)
    if args.format == 'json':
        _print_json(report.as_dict())
    elif not report.outcomes:
        LOG.info('No open data migration')
    return report.exit_code


def do_lint(migrate, args):
    from enamel import lint
    report = lint.lint(migrate.script, args.revisions or None,
                       dialects=args.dialect or lint.DIALECTS)
    if args.format == 'json':
        _print_json(report.as_dict())
    else:
        for finding in report.findings:
            print(finding.describe())
        print(report.summary())
    return report.exit_code


def do_downgrade(migrate, args):
    migrate.downgrade(_revision(args), sql=args.sql, tag=args.tag)


def do_stamp(migrate, args):
    if args.verify and args.sql:
        raise exception.UsageError('--verify needs a database; it cannot '
                                   'be combined with --sql')
    migrate.stamp(_revision(args), sql=args.sql, purge=args.purge,
                  tag=args.tag, verify=args.verify)


def do_version(migrate, args):
    current = migrate.version()
    if args.format == 'json':
        _print_json({'current': current})
        return
    for revision_id in current:
        if args.verbose:
            doc = migrate.script.get_revision(revision_id).doc
            print(f'{revision_id} {doc}')
        else:
            print(revision_id)


def do_current(migrate, args):
    migrate.current(verbose=args.verbose)


def do_revision(migrate, args):
    if getattr(args, 'phase', None) is not None:
        if args.head != 'head' or args.branch_label or args.splice:
            raise exception.UsageError(
                f'--{args.phase} places the revision itself; it cannot be '
                'combined with --head, --splice or --branch-label')
        script = migrate.revision_in_phase(
            args.phase, args.message, autogenerate=args.autogenerate,
            version_path=args.version_path, rev_id=args.rev_id,
            depends_on=args.depends_on, sql_files=args.sql_files)
        _print_paths(script)
        return
    script = migrate.revision(
        args.message, autogenerate=getattr(args, 'autogenerate', True),
        head=args.head, splice=args.splice, branch_label=args.branch_label,
        version_path=args.version_path, rev_id=args.rev_id,
        depends_on=args.depends_on,
        sql_files=getattr(args, 'sql_files', False))
    _print_paths(script)


def _print_paths(scripts):
    """Print the path of each new revision file: alembic returns a list
    when a revision was split (expand, contract), None when autogenerate
    found no change."""
    if scripts is None:
        LOG.info('No changes detected: the models match the database; '
                 'no revision written')
        return
    for script in scripts if isinstance(scripts, list) else [scripts]:
        print(script.path)


def do_merge(migrate, args):
    script = migrate.merge(args.revisions, message=args.message,
                           branch_label=args.branch_label,
                           rev_id=args.rev_id)
    print(script.path)


def do_history(migrate, args):
    current = ()
    if args.indicate_current:
        current = migrate.version()
    revisions = migrate.history(args.rev_range)
    if args.format == 'json':
        _print_json([_script_dict(s, current) for s in revisions])
        return
    for script in revisions:
        line = script.log_entry if args.verbose else script.cmd_format(
            verbose=False, include_branches=True, include_doc=True,
            include_parents=True, tree_indicators=True)
        if script.revision in current:
            line = line.rstrip('\n') + ' (current)'
        print(line.rstrip('\n'))


def do_heads(migrate, args):
    heads = migrate.heads(resolve_dependencies=args.resolve_dependencies)
    if args.format == 'json':
        _print_json([_script_dict(s) for s in heads])
        return
    for script in heads:
        print(script.log_entry.rstrip('\n') if args.verbose else
              script.cmd_format(False, include_branches=True,
                                tree_indicators=False))


def do_branches(migrate, args):
    migrate.branches(verbose=args.verbose)


def do_show(migrate, args):
    migrate.show(_revision(args))


def do_edit(migrate, args):
    migrate.edit(_revision(args))


def do_check(migrate, args):
    result = migrate.check()
    if args.format == 'json':
        _print_json(dict(result.as_dict(), exit_code=result.exit_code))
    else:
        messages = {
            'at_head': 'at head {current}; the schema matches the models',
            'upgrade_pending': 'upgrade pending: at {current}, head is '
                               '{heads}',
            'schema_drift': 'at head {current}, but the schema differs '
                            'from the models',
            'unknown_revision': 'the database is at {current}, a revision '
                                'this code does not know',
            'unversioned': 'the database has tables but no version table: '
                           'adopt it with "enamel-sync stamp --verify head"',
            'data_migrations_pending': 'online data migrations have rows '
                                       'left: run "enamel-sync '
                                       'online-data-migrations"',
            'contract_pending': 'only the contract phase is pending: run '
                                '"enamel-sync upgrade --contract" once '
                                'every service runs this release',
        }
        print(messages[result.state].format(
            current=', '.join(result.current) or 'base (empty)',
            heads=', '.join(result.heads)))
        for difference in result.differences:
            print(f'  {difference}')
        for phase in ('expand', 'contract'):
            if result.phases[phase]:
                print(f'  {phase} pending: '
                      f'{", ".join(result.phases[phase])}')
        for name, left in result.phases['data_migrations'].items():
            print(f'  data migration {name}: {left} rows left')
    return result.exit_code


def do_schema_dump(migrate, args):
    sys.stdout.write(migrate.schema_dump())


def do_init(migrate, args):
    from enamel import init_env
    for path in init_env.write(args.directory, multidb=args.multidb):
        print(path)


COMMANDS = {
    'upgrade': do_upgrade,
    'downgrade': do_downgrade,
    'stamp': do_stamp,
    'version': do_version,
    'current': do_current,
    'revision': do_revision,
    'migrate': do_revision,
    'merge': do_merge,
    'history': do_history,
    'heads': do_heads,
    'branches': do_branches,
    'show': do_show,
    'edit': do_edit,
    'check': do_check,
    'online-data-migrations': do_online_data_migrations,
    'lint': do_lint,
    'schema-dump': do_schema_dump,
    'init': do_init,
}


# -- one command over several databases ------------------------------------

def dispatch(conf, args):
    """Run the command ``args`` names on each database it is about; its
    exit code.

    With one database the command runs as it always did. With several,
    in the order of :mod:`enamel.databases`: every line on stdout and
    stderr starts with ``[NAME] ``; ``--format json`` prints
    ``{"databases": {NAME: <that database's JSON>, ...}}`` (with
    ``exit_code`` for ``check``); the first error stops the run, naming
    its database, except for ``check``, which reports on every database
    and exits with the most urgent code
    (:func:`enamel.exception.most_urgent`).
    """
    from enamel import migration

    command = COMMANDS[args.name]
    if args.name in NO_DATABASE:
        return command(None, args) or exception.SUCCESS
    if args.name in ONE_DATABASE:
        selected = (databases.get(args.database_name),)
    elif args.name in SCRIPTS_ONLY and args.database_name:
        selected = (databases.get(args.database_name),)
    else:
        selected = databases.configured(conf, args.database_name)
    if len(selected) > 1 and getattr(args, 'sql', False):
        raise exception.UsageError(
            '--sql writes the SQL of one database: add --database NAME '
            f'({" or ".join(d.name for d in selected)})')
    x_arguments = getattr(args, 'x_arg', None) or ()
    migrations = [migration.Migration(conf, database=d,
                                      x_arguments=x_arguments)
                  for d in selected]
    if len(migrations) == 1:
        return command(migrations[0], args) or exception.SUCCESS
    return _each_database(command, migrations, args)


def _each_database(command, migrations, args):
    as_json = getattr(args, 'format', 'text') == 'json'
    codes, reports = [], {}
    for migrate in migrations:
        name = migrate.database.name
        prefix = f'[{name}] '
        out = io.StringIO() if as_json else _LinePrefix(sys.stdout, prefix)
        try:
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(
                        _LinePrefix(sys.stderr, prefix)):
                code = command(migrate, args) or exception.SUCCESS
        except exception.EnamelSyncError as exc:
            if args.name != 'check':
                exc.args = (f'{prefix}{exc}',) + exc.args[1:]
                raise
            _fail(f'{prefix}{exc}')
            code = exc.exit_code
            out = io.StringIO(json.dumps({
                'state': 'error', 'error': str(exc), 'current': [],
                'heads': [], 'pending': [], 'differences': [],
                'exit_code': code}))
        codes.append(code)
        if as_json:
            reports[name] = json.loads(out.getvalue())
    worst = exception.most_urgent(codes)
    if as_json:
        data = {'databases': reports}
        if args.name == 'check':
            data['exit_code'] = worst
        _print_json(data)
    return worst


class _LinePrefix(io.TextIOBase):
    """A text stream that starts each line written to ``stream`` with
    ``prefix``."""

    def __init__(self, stream, prefix):
        super().__init__()
        self._stream = stream
        self._prefix = prefix
        self._at_line_start = True

    @property
    def encoding(self):
        return getattr(self._stream, 'encoding', None)

    def writable(self):
        return True

    def write(self, text):
        pieces = []
        for line in text.splitlines(keepends=True):
            if self._at_line_start:
                pieces.append(self._prefix)
            pieces.append(line)
            self._at_line_start = line.endswith(('\n', '\r'))
        self._stream.write(''.join(pieces))
        return len(text)

    def flush(self):
        self._stream.flush()


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a log line is written, so that log
    lines get the ``[NAME] `` prefix of :func:`dispatch`."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


# -- the one place errors become exit codes --------------------------------

class Terminated(BaseException):
    """SIGTERM, raised so that transactions roll back and locks release."""


def _terminate(signum, frame):
    raise Terminated()


def _parse(conf, argv, default_config_files):
    """Parse argv; argparse's usage errors become one line, exit 2."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            conf(argv, project='enamel', prog='enamel-sync',
                 version=_version(), default_config_files=default_config_files)
    except SystemExit as exc:
        lines = [line for line in captured.getvalue().splitlines() if line]
        if exc.code:
            message = lines[-1] if lines else 'bad command line'
            print(f'{message} (see enamel-sync --help)', file=sys.stderr)
        raise SystemExit(exception.USAGE if exc.code else 0)


def _version():
    from importlib import metadata
    try:
        return metadata.version('enamel-sync')
    except metadata.PackageNotFoundError:
        return 'unknown'


def _setup_logging(debug):
    """Log to stderr; returns a function that undoes it (main may run
    more than once in one process, as in the tests)."""
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(logging.Formatter(
        '%(asctime)s %(levelname)s %(name)s %(message)s' if debug
        else '%(message)s'))
    root = logging.getLogger()
    loggers = [root, LOG, logging.getLogger('alembic'),
               logging.getLogger('sqlalchemy.engine')]
    levels = [(logger, logger.level) for logger in loggers]

    def restore():
        root.removeHandler(handler)
        for logger, level in levels:
            logger.setLevel(level)

    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    LOG.setLevel(logging.DEBUG if debug else logging.INFO)
    if debug:
        logging.getLogger('alembic').setLevel(logging.INFO)
        logging.getLogger('sqlalchemy.engine').setLevel(logging.INFO)
    return restore


def _error_message(exc):
    """One line for an error that did not come from the migration API."""
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        return f'database error: {exception.first_line(exc.orig)}'
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return f'database error: {exception.first_line(exc)}'
    return f'unexpected error: {exception.first_line(exc)}'


def main(argv=None, default_config_files=None):
    """The ``enamel-sync`` console script; returns the exit code.

    :param argv: the arguments (default ``sys.argv[1:]``).
    :param default_config_files: config files read when no --config-file
        is given (default: oslo.config's search for enamel.conf).
    """
    conf = cfg.ConfigOpts()
    enamel_conf.register_opts(conf)
    register_cli_opts(conf)
    argv = sys.argv[1:] if argv is None else argv
    restore_logging = None
    try:
        try:
            _parse(conf, argv, default_config_files)
        except SystemExit as exc:
            return exc.code
        restore_logging = _setup_logging(conf.debug)
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return dispatch(conf, conf.command)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except (cfg.NoSuchOptError, cfg.TemplateSubstitutionError) as exc:
        where = _unresolved_option(conf)
        if where is None:
            return _unexpected(conf, exc)
        # No traceback even with --debug: the error text quotes the value.
        _fail(f'configuration error: {where} refers to an undefined '
              'variable: oslo.config reads "$name" in a value as another '
              'option; write "$$" for a literal "$" (in a password, '
              'for example)')
        return exception.ERROR
    except exception.EnamelSyncError as exc:
        if _debug(conf):
            LOG.exception('enamel-sync failed')
        _fail(str(exc))
        for difference in getattr(exc, 'differences', ()):
            print(f'  {difference}', file=sys.stderr)
        return exc.exit_code
    except (cfg.ConfigFilesNotFoundError, cfg.ConfigFileParseError,
            cfg.ConfigFilesPermissionDeniedError,
            cfg.ConfigFileValueError) as exc:
        _fail(f'configuration error: {_config_error(exc)}')
        return exception.ERROR
    except KeyboardInterrupt:
        _fail('interrupted; whatever was not committed was rolled back')
        return 130
    except Terminated:
        _fail('terminated; whatever was not committed was rolled back')
        return 143
    except BrokenPipeError:
        # The reader went away (``upgrade --sql | head``): not worth a
        # message, but the output is incomplete.
        _silence_stdout()
        return exception.ERROR
    except Exception as exc:
        return _unexpected(conf, exc)
    finally:
        if restore_logging is not None:
            restore_logging()


def _unexpected(conf, exc):
    if _debug(conf):
        LOG.exception('enamel-sync failed')
    _fail(_error_message(exc))
    return exception.ERROR


def _unresolved_option(conf):
    """The option (``[group] name``) whose value oslo.config cannot
    interpolate (a ``$name`` naming no option), or None."""
    def readable(read):
        try:
            read()
        except (cfg.NoSuchOptError, cfg.TemplateSubstitutionError):
            return False
        except cfg.Error:
            pass
        return True

    for name in sorted(conf):
        if not readable(lambda: conf[name]):
            return f'[DEFAULT] {name}'
        group = conf[name]
        if isinstance(group, cfg.ConfigOpts.GroupAttr):
            for opt in sorted(group):
                if not readable(lambda: group[opt]):
                    return f'[{name}] {opt}'
    return None


def _debug(conf):
    try:
        return conf.debug
    except cfg.Error:
        return False


def _config_error(exc):
    return exception.first_line(exc)


def _silence_stdout():
    """Point stdout at /dev/null so that flushing it at exit cannot
    raise the broken pipe a second time."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _fail(message):
    print(f'enamel-sync: error: {message}', file=sys.stderr)


if __name__ == '__main__':
    sys.exit(main())
