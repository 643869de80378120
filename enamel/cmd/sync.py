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

``main`` builds a ConfigOpts, parses the command line
(:mod:`enamel.cmd.parser`), dispatches to the command
(:mod:`enamel.cmd.commands`) and is the one place that turns an error into
a line on stderr and an exit code (see the CLI reference for the codes).

With several databases configured (:mod:`enamel.databases`), each command
runs once per database, in order (:mod:`enamel.cmd.dispatch`): every output
line then starts with ``[NAME] ``, and JSON output has one entry per
database. With one database the output is exactly as it always was.
"""

import contextlib
import io
import logging
import os
import re
import sys

from oslo_config import cfg

from enamel.cmd import commands
from enamel.cmd import dispatch
from enamel.cmd import logs
from enamel.cmd import parser
from enamel import conf as enamel_conf
from enamel import exception
from enamel import interrupt

LOG = logging.getLogger('enamel')


# -- the one place errors become exit codes --------------------------------

def _parse(conf, argv, default_config_files):
    """Parse argv; argparse's usage errors become one line, exit 2.

    :raises exception.ConfigError: a configuration file or directory that
        cannot be read (missing directory, a directory given as a file).
    """
    if any(arg.split('=', 1)[0] == '--shell_completion' for arg in argv):
        # oslo.config acts on it before parsing, even unregistered.
        print('enamel-sync: error: unrecognized arguments: '
              '--shell_completion (see enamel-sync --help)', file=sys.stderr)
        raise SystemExit(exception.USAGE)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            conf(argv, project='enamel', prog='enamel-sync',
                 version=_version(), default_config_files=default_config_files)
    except cfg.ConfigDirNotFoundError as exc:
        raise exception.ConfigError(
            f'configuration error: {exception.first_line(exc)}') from None
    except OSError as exc:
        raise exception.ConfigError(
            f'configuration error: cannot read {exc.filename}: '
            f'{exc.strerror}') from None
    except SystemExit as exc:
        lines = [line for line in captured.getvalue().splitlines() if line]
        # oslo.config 9.0 (the floor) ends a bad value of a command-line
        # option read from a file ("argument --debug: Invalid Boolean
        # value") with a bare SystemExit, code None.
        failed = bool(exc.code) or bool(
            lines and lines[-1].startswith('argument --'))
        if failed:
            message = _usage_message(lines[-1] if lines else '')
            source = _config_file_value(argv, message, default_config_files)
            if source is not None:
                raise exception.ConfigError(source) from None
            print(f'enamel-sync: error: {message}'
                  f'{_misplaced_hint(argv, message)} '
                  '(see enamel-sync --help)', file=sys.stderr)
        raise SystemExit(exception.USAGE if failed else 0)


def _usage_message(line):
    """argparse's error line without its prefix (``enamel-sync
    lint: error:`` names the sub-command's parser): every error line
    starts ``enamel-sync: error:``."""
    match = re.match(r'enamel-sync( [\w-]+)?: error: ', line)
    message = line[match.end():] if match else line
    return message or 'bad command line'


def _config_file_value(argv, message, default_config_files):
    """A configuration error's message when argparse refused the value
    of a command-line option (``--debug``) that no argument gave, so
    oslo.config took it from a configuration file (``[DEFAULT] debug =
    maybe``); else None."""
    match = re.match(r'argument --([\w-]+)(/[^:]*)?: ', message)
    if match is None:
        return None
    option = match.group(1)
    if any(arg.split('=', 1)[0] == f'--{option}' for arg in argv):
        return None
    name = option.replace('-', '_')
    files = [value for flag, value in zip(argv, argv[1:])
             if flag == '--config-file']
    files += [arg.split('=', 1)[1] for arg in argv
              if arg.startswith('--config-file=')]
    if not files:
        files = list(cfg.find_config_files(project='enamel',
                                           prog='enamel-sync')
                     if default_config_files is None
                     else default_config_files)
    where = None
    for path in files:
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.ParseError):
            continue
        if name in sections.get('DEFAULT', {}):
            where = os.path.abspath(path)
    if where is None:
        return None
    detail = message[match.end():]
    if detail.startswith('Invalid Boolean value'):
        detail = 'expected a boolean (true or false)'
    return (f'configuration error: [DEFAULT] {name} (in {where}) is not '
            f'valid: {detail}')


def _misplaced_hint(argv, message):
    """``; --debug goes before the command ...`` when argparse refused a
    global option given after the command, else ''."""
    marker = 'unrecognized arguments: '
    if marker not in message:
        return ''
    unrecognized = message.split(marker, 1)[1].split()
    hints = [f'; {option} is a global option: put it before the command '
             f'(enamel-sync {option} ... {command} ...)'
             for option, command in parser.misplaced_global_options(
                 argv, unrecognized, commands.COMMANDS)]
    return ''.join(hints[:1])


def _version():
    from importlib import metadata
    try:
        return metadata.version('enamel-sync')
    except metadata.PackageNotFoundError:
        return 'unknown'


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
    conf = None
    argv = sys.argv[1:] if argv is None else argv
    saved_logging = logs.snapshot()
    try:
        try:
            conf = _make_conf()
            _parse(conf, argv, default_config_files)
            if logs.wants_oslo_log(conf):
                # oslo.log's setup() wants its options registered by its
                # own register_options(): read the command line again.
                conf = _make_conf(oslo_log=True)
                _parse(conf, argv, default_config_files)
        except SystemExit as exc:
            return exc.code
        enamel_conf.validate(conf)
        logs.setup(conf, dispatch.CurrentStderr(), version=_version())
        if conf.command.name not in parser.NO_DATABASE:
            for warning in enamel_conf.check_configured(conf):
                print(f'enamel-sync: warning: {warning}', file=sys.stderr)
        with interrupt.handled():
            return dispatch.dispatch(conf, conf.command)
    except (cfg.NoSuchOptError, cfg.TemplateSubstitutionError) as exc:
        where = _unresolved_option(conf)
        if where is None:
            return _unexpected(conf, exc)
        # No traceback even with --debug: the error text quotes the value.
        commands.fail(
            f'configuration error: {where} refers to an undefined '
            'variable: oslo.config reads "$name" in a value as another '
            'option; write "$$" for a literal "$" (in a password, for '
            'example)')
        return exception.ERROR
    except exception.EnamelSyncError as exc:
        if _debug(conf):
            LOG.exception('enamel-sync failed')
        commands.fail(str(exc))
        for difference in getattr(exc, 'differences', ()):
            print(f'  {difference}', file=sys.stderr)
        return exc.exit_code
    except (cfg.ConfigFilesNotFoundError, cfg.ConfigFileParseError,
            cfg.ConfigFilesPermissionDeniedError,
            cfg.ConfigFileValueError) as exc:
        commands.fail(f'configuration error: {_config_error(exc)}')
        return exception.ERROR
    except interrupt.Terminated:
        commands.fail(
            'terminated; whatever was not committed was rolled back')
        return 143
    except KeyboardInterrupt:
        commands.fail(
            'interrupted; whatever was not committed was rolled back')
        return 130
    except BrokenPipeError:
        # The reader went away (``upgrade --sql | head``): not worth a
        # message, but the output is incomplete.
        _silence_stdout()
        return exception.ERROR
    except Exception as exc:
        return _unexpected(conf, exc)
    finally:
        logs.restore(saved_logging)


def _make_conf(oslo_log=False):
    """A ConfigOpts with every option enamel-sync reads registered."""
    conf = cfg.ConfigOpts()
    enamel_conf.register_opts(conf)
    logs.register_opts(conf, oslo_log=oslo_log)
    parser.register_cli_opts(conf)
    return conf


def _unexpected(conf, exc):
    if _debug(conf):
        LOG.exception('enamel-sync failed')
    commands.fail(_error_message(exc))
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
    except (cfg.Error, AttributeError):  # AttributeError: no conf yet
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


if __name__ == '__main__':
    # ``python -m enamel.cmd.sync`` (``python -m enamel`` is the short way).
    sys.exit(main())
