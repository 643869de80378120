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

"""SIGTERM and SIGINT, handled alike, as a deploy sends them.

- The **first** signal, while a revision runs on an engine that cannot
  roll it back (MySQL/MariaDB, which commits each DDL statement) or
  wherever a revision is simply let finish (SQLite), is recorded: the
  revision finishes, its version row commits, and the run stops before the
  next one (:func:`requested`, read by :mod:`enamel.runner` at each
  revision boundary). On PostgreSQL it stops at once: psycopg cancels the
  running statement on the server and the revision's transaction rolls
  back. Outside a revision (waiting for the lock) it stops at once.
- The **second** stops at once, wherever the run is. Any later one is
  ignored, so that the rollback, the lock's release and the report finish.

Either way the exception raised is :class:`Terminated` (SIGTERM) or
``KeyboardInterrupt`` (SIGINT); ``Terminated`` is a ``KeyboardInterrupt``
so that a driver that cancels the server's statement on Ctrl-C (psycopg)
does so for SIGTERM too. The command line turns both into exit codes 143
and 130 with a report of what is committed.
"""

import contextlib
import logging
import signal

LOG = logging.getLogger('enamel')

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised so that transactions roll back and locks release."""


class _State:
    defer = False  # a revision runs that is let finish
    pending = None  # the signal number of a first, deferred signal
    stopping = False  # raised already: cleanup and the report must finish


_state = _State()


def _handle(signum, frame):
    if _state.stopping:
        return  # already stopping at once: let it clean up and report
    if _state.defer and _state.pending is None:
        _state.pending = signum
        LOG.warning('%s: the running revision finishes, then enamel-sync '
                    'stops (send the signal again to stop at once)',
                    signal.Signals(signum).name)
        return
    _state.pending, _state.stopping = signum, True
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def handled():
    """Handle SIGTERM and SIGINT (as above) inside the block; the previous
    handlers are restored after it. Only in the main thread."""
    previous = {s: signal.signal(s, _handle) for s in SIGNALS}
    _state.defer, _state.pending, _state.stopping = False, None, False
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _state.defer, _state.pending, _state.stopping = False, None, False


@contextlib.contextmanager
def revisions_finish(finish=True):
    """Inside the block a first signal lets the running revision finish
    (``finish``), or stops at once (PostgreSQL: ``finish=False``)."""
    before = _state.defer
    _state.defer = finish
    try:
        yield
    finally:
        _state.defer = before


def requested():
    """Why to stop at the next revision boundary ('terminated' or
    'interrupted'), or None."""
    if _state.pending is None:
        return None
    return 'terminated' if _state.pending == signal.SIGTERM else (
        'interrupted')
