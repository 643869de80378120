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

"""The ``enamel-sync`` sub-commands and their options (argparse, through
oslo.config's ``SubCommandOpt``): alembic's names and options, and which
commands take ``--database``, ``-d/--directory`` and ``-x``."""

import argparse

from oslo_config import cfg

from enamel import databases

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
                                         'random one: at most 32 ASCII '
                                         'letters, digits and _')
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
    """``--database`` and ``-d/--directory`` on every command about a
    database, ``-x`` on those that run env.py."""
    for name, parser in subparsers.choices.items():
        if name in NO_DATABASE:
            continue
        parser.add_argument(
            '--database', dest='database_name', choices=databases.NAMES,
            help=('the database whose revisions to use (default main; '
                  'with autogenerate: every configured one)'
                  if name in ONE_DATABASE else
                  'act on this database only (default: every configured '
                  'one, main then api)'))
        parser.add_argument(
            '-d', '--directory', metavar='DIR',
            help='the migration environment (a directory with env.py, '
                 'script.py.mako and versions/, as "alembic init" makes '
                 'one) instead of the one bundled with enamel; default: '
                 '[database] script_location. It is one database\'s: '
                 '--database NAME picks which (default main)')
        if name in RUN_ENV:
            parser.add_argument(
                '-x', '--x-arg', dest='x_arg', action='append',
                metavar='KEY=VALUE',
                help='passed to env.py as alembic\'s -x '
                     '(context.get_x_argument()); repeatable')


def add_command_parsers(subparsers):
    """Declare the sub-commands; alembic's names and options."""
    _migrating_commands(subparsers)
    _reading_commands(subparsers)
    _script_commands(subparsers)
    _database_args(subparsers)


def _migrating_commands(subparsers):
    """The commands that migrate: upgrade, downgrade, stamp, and the
    rolling upgrade's online data migrations and lint."""
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
    _ignore_phase_rules_arg(p)

    p = subparsers.add_parser(
        'online-data-migrations',
        help='run the open online data migrations in batches; exit 0 '
             'nothing left, 1 rows left (run again), 2 a migration failed')
    p.add_argument('--max-count', type=_positive, metavar='N',
                   help='change at most N rows in this run (default: '
                        'until nothing is left)')
    p.add_argument('--batch-size', type=_positive, metavar='N',
                   help='rows per committed batch (default 10000 on '
                        'SQLite, 1000 on the servers)')
    _format_arg(p)

    p = subparsers.add_parser(
        'lint', help='check that expand revisions only add and contract '
                     'revisions only remove, and flag per-engine hazards; '
                     'exit 0 clean (or every finding excepted), 10 '
                     'findings, 1 a malformed exception')
    p.add_argument('revisions', nargs='*', metavar='REVISION',
                   help='revisions to lint (default: all)')
    p.add_argument('--dialect', action='append',
                   choices=('sqlite', 'mysql', 'postgresql'),
                   help='engine whose hazards to report (repeatable; '
                        'default: all three)')
    p.add_argument('--server-version', action='append',
                   metavar='ENGINE=VERSION',
                   help='judge for this server version: postgresql=N, '
                        'mariadb=N.N or mysql=N.N (repeatable; default '
                        'postgresql=12, mariadb=10.6, the oldest supported)')
    p.add_argument('--galera', action='store_true',
                   help='MariaDB runs as a Galera cluster: also report '
                        'non-instant DDL, which blocks every node (TOI)')
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
    _ignore_phase_rules_arg(p)
    p.add_argument('--verify', action='store_true',
                   help='refuse unless the live schema matches the models '
                        '(adopting an existing database)')


def _reading_commands(subparsers):
    """The commands that only read the database."""
    p = subparsers.add_parser('version', help='print the current revision '
                                              'id(s), one per line')
    p.add_argument('--verbose', '-v', action='store_true',
                   help='also print each revision\'s message')
    _format_arg(p)

    p = subparsers.add_parser('current', help='show the current revision, '
                                              'as alembic does')
    p.add_argument('--verbose', '-v', action='store_true')

    p = subparsers.add_parser(
        'check', help='report the database state as an exit code: 0 at '
                      'head and matching the models, 3 upgrade (expand) '
                      'pending, 4 schema differs, 5 unknown revision, 6 '
                      'unversioned, 7 data migrations have rows left, 8 '
                      'only contract pending; differences named by '
                      '[database] accepted_drift are listed as accepted, '
                      'what the engine cannot reflect as notes')
    _format_arg(p)

    subparsers.add_parser('schema-dump', help='print the live database\'s '
                                              'schema as DDL')


def _script_commands(subparsers):
    """The commands about the revision files, and init."""
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
    p.add_argument('--data-migration', metavar='NAME',
                   help='write an expand revision (implies --expand) '
                        'holding the skeleton of the online data migration '
                        'NAME, a Python identifier: write its upgrade() '
                        'and fill in its TODO_ placeholders; until then '
                        'upgrade refuses to apply it (exit 1) and the data '
                        'migration fails on purpose (check exit 1, '
                        'online-data-migrations exit 2). '
                        'With --autogenerate: the expand revision of the '
                        'split, written even without additions; one '
                        'database (--database, default main). Not with '
                        '--contract')
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
    p.add_argument('--rev-id', help='the revision id instead of a random '
                                    'one: at most 32 ASCII letters, digits '
                                    'and _')

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
        'init', help='write a migration environment for a service or '
                     'plugin, wired to enamel\'s configuration')
    p.add_argument('directory', metavar='DIRECTORY',
                   help='where to write it (must not exist, or be empty)')
    p.add_argument('--multidb', action='store_true',
                   help='one environment serving enamel\'s main and API '
                        'databases, each with its own revisions')


def _ignore_phase_rules_arg(parser):
    parser.add_argument(
        '--ignore-phase-rules', action='store_true',
        help='go past the phase rules on purpose (a contract revision '
             'while data migrations have rows left or cannot count them, '
             'a contract revision inside the expand phase, ...): each '
             'rule broken is logged as a warning; without it a broken '
             'rule refuses the whole command with exit 9 (1 with --sql, '
             'and 1 for a data migration that cannot count), changing '
             'nothing')


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


# The options that go before the command: oslo.config's, oslo.log's
# (enamel.cmd.logs) and ours.
GLOBAL_OPTIONS = (
    '--config-file', '--config-dir', '--debug', '-d', '--nodebug',
    '--version', '--quiet', '-q', '--noquiet', '--log-config-append',
    '--log-config', '--log_config', '--log-date-format', '--log-file',
    '--logfile', '--log-dir', '--logdir', '--watch-log-file',
    '--use-syslog', '--use-journal', '--use-json', '--use-eventlog',
    '--syslog-log-facility')


def misplaced_global_options(argv, unrecognized, command_names):
    """The global options among ``unrecognized`` (argparse's list) that
    ``argv`` gives after the command (the first of ``command_names`` in
    it): argparse reads them only before it. A hint for the usage error,
    as ``(option, command)`` pairs."""
    commands = [arg for arg in argv if arg in command_names]
    if not commands:
        return []
    return [(arg.split('=', 1)[0], commands[0]) for arg in unrecognized
            if arg.split('=', 1)[0] in GLOBAL_OPTIONS]


def register_cli_opts(conf):
    # oslo.config's --shell_completion prints templates that its wheels
    # no longer ship (oslo.config 10.7: "cannot read ...template"): not
    # offered rather than broken.
    conf.unregister_opt(cfg.StrOpt('shell_completion'))
    # --debug (-d) is oslo.log's (enamel.cmd.logs): DEBUG logging, and
    # enamel-sync adds tracebacks to errors.
    conf.register_cli_opt(cfg.BoolOpt(
        'quiet', short='q', default=False,
        help='only warnings and errors on stderr: no progress lines, no '
             'progress bar (for automation; a log file still gets '
             'everything)'))
    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', title='commands', handler=add_command_parsers,
        help='run "enamel-sync COMMAND --help" for its options'))
