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

"""What each ``enamel-sync`` sub-command does: a thin call into the
migration API (:mod:`enamel.migration`) and the printing of its result.
Each ``do_<command>(migrate, args)`` returns an exit code, or None for
success; errors are raised, for :mod:`enamel.cmd.sync` to report."""

import json
import logging
import os
import sys

from enamel import exception
from enamel import sql_files

LOG = logging.getLogger('enamel')


def _revision(args):
    positional, option = args.revision_arg, args.revision_opt
    if positional and option and positional != option:
        raise exception.UsageError(
            f'two different revisions given: {positional} and {option}')
    revision = positional or option or args.revision_default
    if revision is None and args.revision_required:
        raise exception.UsageError(f'{args.name} needs a revision')
    return revision


def print_json(data):
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


def say_if_missing(migrate):
    """Before a command that only reads: say on stderr when the database
    is an SQLite file that does not exist (a mistyped path reads as an
    empty database, "upgrade pending", which is also what a fresh
    machine's first deploy finds, so the exit code stays)."""
    from enamel import db

    try:
        url = db.make_url(migrate.conf[migrate.database.group].connection)
    except exception.EnamelSyncError:
        return  # reported by the command itself
    path = url.database
    if (url.get_backend_name() == 'sqlite' and path
            and path != ':memory:' and not path.startswith('file:')
            and not os.path.exists(path)):
        LOG.warning('the SQLite database file %s does not exist; '
                    'reading it as an empty database (upgrade creates it)',
                    os.path.abspath(path))


# -- the commands: each a thin call into the migration API ---------------

def do_upgrade(migrate, args):
    ignore = args.ignore_phase_rules
    if args.phase is None:
        migrate.upgrade(_revision(args), sql=args.sql, tag=args.tag,
                        ignore_phase_rules=ignore)
        return
    if args.revision_arg or args.revision_opt:
        raise exception.UsageError(
            f'--{args.phase} picks the target itself; give no revision')
    if args.phase == 'expand':
        migrate.upgrade_expand(sql=args.sql, tag=args.tag,
                               ignore_phase_rules=ignore)
    else:
        migrate.upgrade_contract(sql=args.sql, tag=args.tag,
                                 ignore_phase_rules=ignore)


def do_online_data_migrations(migrate, args):
    report = migrate.online_data_migrations(max_count=args.max_count,
                                            batch_size=args.batch_size)
    if args.format == 'json':
        print_json(report.as_dict())
    elif not report.outcomes:
        LOG.info('No open data migration')
    return report.exit_code


def do_lint(migrate, args):
    from enamel import hazards
    from enamel import lint
    report = lint.lint(migrate.script, args.revisions or None,
                       dialects=args.dialect or lint.DIALECTS,
                       servers=hazards.servers(args.server_version,
                                               args.galera),
                       config=migrate.get_config(models=False))
    if args.format == 'json':
        print_json(report.as_dict())
    else:
        for finding in report.findings:
            print(finding.describe())
        for excepted in report.exceptions:
            print(excepted.describe())
        print(report.summary())
    return report.exit_code


def do_downgrade(migrate, args):
    migrate.downgrade(_revision(args), sql=args.sql, tag=args.tag)


def do_stamp(migrate, args):
    if args.verify and args.sql:
        raise exception.UsageError('--verify needs a database; it cannot '
                                   'be combined with --sql')
    migrate.stamp(_revision(args), sql=args.sql, purge=args.purge,
                  tag=args.tag, verify=args.verify,
                  ignore_phase_rules=args.ignore_phase_rules)


def do_version(migrate, args):
    say_if_missing(migrate)
    current = migrate.version()
    if args.format == 'json':
        print_json({'current': current})
        return
    for revision_id in current:
        if args.verbose:
            doc = migrate.script.get_revision(revision_id).doc
            print(f'{revision_id} {doc}')
        else:
            print(revision_id)


def do_current(migrate, args):
    say_if_missing(migrate)
    migrate.current(verbose=args.verbose)


def do_revision(migrate, args):
    phase = getattr(args, 'phase', None)
    data_migration = getattr(args, 'data_migration', None)
    if phase is not None or data_migration is not None:
        option = f'--{phase}' if phase else '--data-migration'
        if args.head != 'head' or args.branch_label or args.splice:
            raise exception.UsageError(
                f'{option} places the revision itself; it cannot be '
                'combined with --head, --splice or --branch-label')
        # --data-migration implies --expand (and refuses --contract).
        script = migrate.revision_in_phase(
            phase or 'expand', args.message, autogenerate=args.autogenerate,
            version_path=args.version_path, rev_id=args.rev_id,
            depends_on=args.depends_on, sql_files=args.sql_files,
            data_migration=data_migration)
        _print_paths(script, args.sql_files)
        return
    with_sql_files = getattr(args, 'sql_files', False)
    script = migrate.revision(
        args.message, autogenerate=getattr(args, 'autogenerate', True),
        head=args.head, splice=args.splice, branch_label=args.branch_label,
        version_path=args.version_path, rev_id=args.rev_id,
        depends_on=args.depends_on, sql_files=with_sql_files)
    _print_paths(script, with_sql_files)


def _print_paths(scripts, with_sql_files=False):
    """Print the path of every file written, one per line, oldest
    revision first, each revision's ``.sql`` files after it: a developer
    who commits what was printed commits the whole change (the branch
    roots a first ``--expand`` writes included). The API returns a list
    when it wrote several revisions, None when autogenerate found no
    change."""
    if scripts is None:
        LOG.info('No changes detected: the models match the database; '
                 'no revision written')
        return
    for script in scripts if isinstance(scripts, list) else [scripts]:
        print(script.path)
        if with_sql_files:
            for path in sql_files.paths(script):
                if os.path.exists(path):
                    print(path)


def do_merge(migrate, args):
    script = migrate.merge(args.revisions, message=args.message,
                           branch_label=args.branch_label,
                           rev_id=args.rev_id)
    print(script.path)


def do_history(migrate, args):
    current = ()
    if args.indicate_current:
        say_if_missing(migrate)
        current = migrate.version()
    revisions = migrate.history(args.rev_range)
    if args.format == 'json':
        print_json([_script_dict(s, current) for s in revisions])
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
        print_json([_script_dict(s) for s in heads])
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
    say_if_missing(migrate)
    result = migrate.check()
    if args.format == 'json':
        print_json(dict(result.as_dict(), exit_code=result.exit_code))
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
        _print_differences(result.differences)
        for line in result.accepted:
            print(f'  accepted: {line}')
        for note in result.notes:
            print(f'  note: not compared: {note}')
        phases = result.phases or {}
        for phase in ('expand', 'contract'):
            if phases.get(phase):
                print(f'  {phase} pending: {", ".join(phases[phase])}')
        for name, left in phases.get('data_migrations', {}).items():
            print(f'  data migration {name}: {left} rows left')
        if phases.get('neither'):
            for refusal in migrate.planner.off_branches():
                print(f'  {refusal.reason}: {refusal.advice}')
    return result.exit_code


def _print_differences(differences):
    """One difference per line, under a line naming its table, in the
    (sorted) order :func:`enamel.state.compare_models` gives."""
    from enamel import state

    table = None
    for difference in differences:
        if state.difference_table(difference) != table:
            table = state.difference_table(difference)
            print(f'  table {table}:' if table else '  other:')
        print(f'    {difference}')


def do_schema_dump(migrate, args):
    say_if_missing(migrate)
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


def fail(message):
    """Print ``message`` as enamel-sync's one error line on stderr."""
    print(f'enamel-sync: error: {message}', file=sys.stderr)
