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

"""enamel-sync's logging, set up the way nova-manage and keystone-manage
do it: oslo.log's options (``debug``, ``log_file``, ``log_dir``,
``use_syslog``, ``use_journal``, ``use_json``, ``log_config_append``...)
from the command line and ``[DEFAULT]``, and ``oslo_log.log.setup()``
when one of them sends records somewhere.

Progress and results stay where they always were: results on stdout,
progress (``Upgraded to ...``), warnings and errors on stderr as plain
lines, whatever oslo.log does besides. oslo.log never writes to stdout
(with no log file, its setup falls back to a stdout handler, which is
removed).

Importing ``oslo_log.log`` costs more than the rest of a no-op
``version`` (its formatters pull in oslo.serialization, oslo.utils...), so
it is imported only when a destination is configured; until then the
options are registered from the module that defines them
(``oslo_log._options``, the one private name used here, with a canary
test in ``tests/unit/test_logs.py``).
"""

import logging
import sys

# The options that send records somewhere else than stderr: any of them
# set makes enamel-sync call oslo.log's setup().
DESTINATIONS = ('log_config_append', 'log_file', 'log_dir', 'use_syslog',
                'use_journal', 'use_json', 'use_eventlog')

# The loggers whose levels setup() sets (and restore() puts back).
_LOGGERS = ('', 'enamel', 'enamel.progress', 'alembic', 'sqlalchemy',
            'sqlalchemy.engine')


def register_opts(conf, oslo_log=False):
    """Register oslo.log's options.

    :param conf: an unparsed ``oslo_config.cfg.ConfigOpts``.
    :param oslo_log: register them through ``oslo_log.log``'s public
        ``register_options`` (imports oslo.log's handlers and formatters),
        as :func:`setup` needs; else from the options' own module.
    """
    if oslo_log:
        from oslo_log import log as oslo_logging
        oslo_logging.register_options(conf)
        return
    from oslo_log import _options
    conf.register_cli_opts(_options.common_cli_opts)
    conf.register_cli_opts(_options.logging_cli_opts)
    conf.register_opts(_options.generic_log_opts)
    conf.register_opts(_options.log_opts)


def wants_oslo_log(conf):
    """Does the parsed ``conf`` send log records anywhere but stderr?"""
    return any(conf[name] for name in DESTINATIONS if name in conf)


def snapshot():
    """The root logger's handlers and the levels :func:`setup` changes,
    for :func:`restore` (``main`` may run many times in one process, as
    in the tests)."""
    return (list(logging.getLogger().handlers),
            {name: logging.getLogger(name).level for name in _LOGGERS})


def restore(saved):
    handlers, levels = saved
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def setup(conf, stderr, version='unknown'):
    """Set up logging from the parsed ``conf``.

    :param conf: a ``ConfigOpts`` parsed with :func:`register_opts`'s
        options (``oslo_log=True`` when :func:`wants_oslo_log`).
    :param stderr: the stream for progress, warnings and errors.
    :param version: enamel's version, for oslo.log's formatters.
    """
    debug = conf.debug
    sql = conf.database.connection_debug
    quiet = conf.quiet and not debug
    root = logging.getLogger()
    if wants_oslo_log(conf):
        from oslo_log import log as oslo_logging
        oslo_logging.setup(conf, 'enamel', version=version)
        for handler in list(root.handlers):
            if getattr(handler, 'stream', None) is sys.stdout:
                root.removeHandler(handler)
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(
        logging.Formatter('%(asctime)s %(levelname)s %(name)s %(message)s')
        if debug else _PlainFormatter('%(message)s'))
    handler.addFilter(_StderrFilter(debug, sql, quiet))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger('enamel').setLevel(
        logging.DEBUG if debug else logging.INFO)
    # --quiet: no progress reports at all (enamel.progress decides on its
    # live bar by this level too).
    logging.getLogger('enamel.progress').setLevel(
        logging.WARNING if quiet else logging.NOTSET)
    # alembic's INFO lines ("Running upgrade ...", one per revision) go
    # to a log file or with --debug; on stderr enamel's own say it. Not
    # made where nothing would take them.
    logging.getLogger('alembic').setLevel(
        logging.INFO if debug or wants_oslo_log(conf) else logging.WARNING)
    # SQLAlchemy logs every statement once its logger is enabled for
    # INFO: only with connection_debug.
    logging.getLogger('sqlalchemy').setLevel(logging.WARNING)
    logging.getLogger('sqlalchemy.engine').setLevel(
        logging.DEBUG if sql >= 100 else logging.INFO if sql >= 50
        else logging.WARNING)


class _PlainFormatter(logging.Formatter):
    """Lines without tracebacks (those are for ``--debug``); a log file's
    handler still formats the record's own."""

    def format(self, record):
        if record.exc_info or record.exc_text or record.stack_info:
            record = logging.makeLogRecord(record.__dict__)
            record.exc_info = record.exc_text = record.stack_info = None
        return super().format(record)


class _StderrFilter(logging.Filter):
    """What reaches stderr: enamel's progress (INFO, not with --quiet),
    warnings and errors from anything but SQLAlchemy's pool; with --debug
    everything; with connection_debug the SQL. A log file gets every
    record the levels let through.

    The pool logs an error with a traceback when it discards a connection
    that a restarted server or pooler cut ("Exception during reset or
    similar"); the command's own error says what that did to the run.
    """

    def __init__(self, debug, sql, quiet):
        super().__init__()
        self.debug = debug
        self.sql = sql
        self.quiet = quiet

    def filter(self, record):
        if self.debug:
            return True
        if self.sql and record.name.startswith('sqlalchemy.engine'):
            return True
        if self.quiet:
            return record.levelno >= logging.WARNING
        if record.name == 'enamel' or record.name.startswith('enamel.'):
            return record.levelno >= logging.INFO
        if record.name.startswith('sqlalchemy.pool'):
            return False
        return record.levelno >= logging.WARNING
