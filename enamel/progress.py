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

"""Progress of long work, on stderr: rows done, estimated total, rate and
time left; for a long revision, how long it has run.

A :class:`Progress` follows one online data migration. Every
:data:`INTERVAL` seconds it logs one line on the ``enamel.progress``
logger (stderr, and the log file when one is configured)::

    Data migration 1a2b.copy_action_to_name: 120000 of ~500000 rows (24%),
    1850 rows/s, about 3m25s left

On a terminal (stderr a TTY) with tqdm installed (``pip install
enamel-sync[progress]``), a live bar takes the place of those lines. With
``--quiet`` (the logger silenced) there is neither. The total is an
estimate: rows done plus the rows the migration last counted as left,
which a service writing meanwhile can change.

A revision has no rows to count: while one runs longer than
:data:`INTERVAL`, :class:`Heartbeat` says every interval which one it is
and for how long it has run (a ``CREATE INDEX`` on a large table is
otherwise minutes of silence)::

    Revision 91fb61076b1a (add task priority) still running after 40s
"""

import logging
import sys
import threading
import time

LOG = logging.getLogger(__name__)

# Seconds between two progress lines.
INTERVAL = 10.0


class Progress:
    """Rows done by one piece of work, reported at a steady interval.

    :param name: what is reported on (a data migration's full name).
    :param left: rows left when it starts (None: not counted).
    :param interval: seconds between two lines (float; default
        :data:`INTERVAL`).
    :param clock: a monotonic clock in seconds (for tests).
    :param bar: show a tqdm bar instead of lines; None: when stderr is a
        terminal, tqdm is installed and the logger is enabled.
    """

    def __init__(self, name, left, interval=None, clock=time.monotonic,
                 bar=None):
        self.name = name
        self.done = 0
        self.left = left
        self.interval = INTERVAL if interval is None else interval
        self._clock = clock
        self._start = self._last = clock()
        self._bar = _bar(name, left) if (
            bar if bar is not None else _bar_wanted()) else None

    @property
    def seconds(self):
        """Seconds since the start (float)."""
        return self._clock() - self._start

    @property
    def rate(self):
        """Rows per second so far (float; 0.0 before the first row)."""
        seconds = self.seconds
        return self.done / seconds if seconds > 0 else 0.0

    @property
    def total(self):
        """Rows done plus rows left (int), or None while not counted."""
        return None if self.left is None else self.done + self.left

    @property
    def eta(self):
        """Seconds left at the current rate (float), or None when unknown
        (nothing counted, or no row done yet)."""
        if self.left is None or not self.rate:
            return None
        return self.left / self.rate

    def update(self, done, left):
        """Record the rows ``done`` so far and the rows ``left`` (None:
        not counted this time: the last count, less what was done since,
        stays the estimate); report if the interval has passed."""
        if left is None and self.left is not None:
            left = max(self.left - (done - self.done), 0)
        self.done, self.left = done, left
        if self._bar is not None:
            if self.total is not None and self._bar.total != self.total:
                self._bar.total = self.total
            self._bar.n = done
            self._bar.refresh()
            return
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            LOG.info('%s', self.describe())

    def close(self, done=None, left=None):
        """Stop reporting, after recording the final ``done`` and ``left``
        if given (no line: the caller reports the end); a
        :meth:`figures` dict of the whole run."""
        if done is not None:
            self.done, self.left = done, left
        if self._bar is not None:
            self._bar.n = self.done
            self._bar.close()
            self._bar = None
        return self.figures()

    def figures(self):
        """``rows_done``, ``rows_total`` (estimated, None if not counted),
        ``seconds``, ``rows_per_second`` and ``eta_seconds`` (None if
        unknown), rounded for reports."""
        eta = self.eta
        return {'rows_done': self.done, 'rows_total': self.total,
                'seconds': round(self.seconds, 3),
                'rows_per_second': round(self.rate, 1),
                'eta_seconds': None if eta is None else round(eta, 1)}

    def describe(self):
        """One line: ``NAME: D of ~T rows (P%), R rows/s, about E left``."""
        total = self.total
        if total:
            done = (f'{self.done} of ~{total} rows '
                    f'({100 * self.done // total}%)')
        else:
            done = f'{self.done} rows'
        eta = self.eta
        left = '' if eta is None else f', about {_duration(eta)} left'
        return (f'Data migration {self.name}: {done}, '
                f'{self.rate:.0f} rows/s{left}')


def _duration(seconds):
    """``3m25s``, ``1h02m``, ``9s``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'
    if seconds >= 60:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds}s'


def _bar_wanted():
    """A live bar: stderr is a terminal and the progress lines would be
    shown (not ``--quiet``)."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and LOG.isEnabledFor(logging.INFO)


def _bar(name, left):
    """A tqdm bar on stderr, or None when tqdm is not installed (an
    optional dependency: the ``progress`` extra)."""
    try:
        import tqdm
    except ImportError:
        return None
    return tqdm.tqdm(total=left, desc=name, unit='rows', file=sys.stderr,
                     dynamic_ncols=True, leave=True)


class Heartbeat:
    """A context manager: while it is open, every ``interval`` seconds,
    log which revision runs and for how long (from a thread that only
    logs; it touches no connection).

    :param running: a callable returning ``(revision id, message,
        monotonic start time)`` of the step running now, or None.
    :param interval: seconds between two lines (default :data:`INTERVAL`).
    """

    def __init__(self, running, interval=None):
        self._running = running
        self.interval = INTERVAL if interval is None else interval
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if LOG.isEnabledFor(logging.INFO):
            self._thread = threading.Thread(
                target=self._beat, name='enamel-progress', daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False

    def _beat(self):
        while not self._stop.wait(self.interval):
            running = self._running()
            if running is None:
                continue
            revision, message, started = running
            elapsed = time.monotonic() - started
            if elapsed >= self.interval:
                LOG.info('Revision %s (%s) still running after %s',
                         revision, message, _duration(elapsed))
