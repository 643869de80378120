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

"""One command over several databases (:mod:`enamel.databases`): which
databases a command acts on, and the ``[NAME] `` prefix of every output
line when there are several."""

import contextlib
import io
import json
import sys

from enamel.cmd import commands
from enamel.cmd import parser
from enamel import databases
from enamel import exception


def dispatch(conf, args):
    """Run the command ``args`` names on each database it is about; its
    exit code.

    ``-d/--directory`` names one database's environment: the command
    acts on ``--database``'s (default ``main``) alone. With one database
    the command runs as it always did. With several,
    in the order of :mod:`enamel.databases`: every line on stdout and
    stderr starts with ``[NAME] ``; ``--format json`` prints
    ``{"databases": {NAME: <that database's JSON>, ...}}`` (with
    ``exit_code`` for ``check``); the first error stops the run, naming
    its database, except for ``check``, which reports on every database
    and exits with the most urgent code
    (:func:`enamel.exception.most_urgent`).
    """
    from enamel import migration

    command = commands.COMMANDS[args.name]
    if args.name in parser.NO_DATABASE:
        return command(None, args) or exception.SUCCESS
    directory = getattr(args, 'directory', None)
    if directory and not args.database_name:
        # One environment is one database's: --database picks it.
        selected = (databases.MAIN,)
    elif _autogenerate(args) and not args.database_name:
        # Each configured database against its own models: one revision
        # file for each database whose models changed.
        selected = databases.configured(conf)
    elif args.name in parser.ONE_DATABASE:
        selected = (databases.get(args.database_name),)
    elif args.name in parser.SCRIPTS_ONLY and args.database_name:
        selected = (databases.get(args.database_name),)
    else:
        selected = databases.configured(conf, args.database_name)
    if len(selected) > 1 and getattr(args, 'sql', False):
        raise exception.UsageError(
            '--sql writes the SQL of one database: add --database NAME '
            f'({" or ".join(d.name for d in selected)})')
    x_arguments = getattr(args, 'x_arg', None) or ()
    migrations = [migration.Migration(conf, database=d,
                                      x_arguments=x_arguments,
                                      directory=directory)
                  for d in selected]
    if len(migrations) == 1:
        return command(migrations[0], args) or exception.SUCCESS
    return _each_database(command, migrations, args)


def _autogenerate(args):
    """Is this ``migrate``, or ``revision --autogenerate`` (without
    ``--data-migration``, which belongs to one database's history)?"""
    return args.name == 'migrate' or (
        args.name == 'revision' and getattr(args, 'autogenerate', False)
        and getattr(args, 'data_migration', None) is None)


def _each_database(command, migrations, args):
    as_json = getattr(args, 'format', 'text') == 'json'
    codes, reports = [], {}
    for migrate in migrations:
        name = migrate.database.name
        prefix = f'[{name}] '
        out = io.StringIO() if as_json else LinePrefix(sys.stdout, prefix)
        try:
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(
                        LinePrefix(sys.stderr, prefix)):
                code = command(migrate, args) or exception.SUCCESS
        except exception.EnamelSyncError as exc:
            if args.name != 'check':
                exc.args = (f'{prefix}{exc}',) + exc.args[1:]
                raise
            commands.fail(f'{prefix}{exc}')
            code = exc.exit_code
            out = io.StringIO(json.dumps({
                'state': 'error', 'error': str(exc), 'current': [],
                'heads': [], 'pending': [], 'differences': [],
                'phases': None, 'notes': [], 'accepted': [],
                'exit_code': code}))
        codes.append(code)
        if as_json:
            reports[name] = json.loads(out.getvalue())
    if args.name == 'online-data-migrations':
        # Its own codes, combined among themselves: 2 (a data migration
        # failed) before 1 (rows left) before 0 (done). An error in any
        # database stops the run above, so no generic code comes here.
        worst = max(codes)
    else:
        worst = exception.most_urgent(codes)
    if as_json:
        data = {'databases': reports}
        if args.name == 'check':
            data['exit_code'] = worst
        commands.print_json(data)
    return worst


class LinePrefix(io.TextIOBase):
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


class CurrentStderr:
    """Whatever ``sys.stderr`` is when a log line is written, so that log
    lines get the ``[NAME] `` prefix of :func:`dispatch`."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()
