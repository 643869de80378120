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

"""Online data migrations on SQLite next to writing services: the pauses
between a run's batches (:class:`Pacer`)."""

import time


class Pacer:
    """Pauses between the batches of a run on SQLite, so that the
    services' writes get their turn.

    SQLite has one writer at a time and no queue: a connection that finds
    the database locked sleeps in its busy handler and tries again, and
    the default handler (``sqlite3_busy_timeout``, which Python's sqlite3
    module sets) sleeps up to 100 ms between tries (``sqliteDefaultBusy
    Callback`` in SQLite's ``main.c``). A run that begins its next batch
    as soon as the last one commits leaves the database free for
    microseconds, and a service's write waits for the whole run (seen in
    ``tools/rolling_benchmark.py``: a 99th-percentile wait of 2.4 s).

    So the run leaves the database free for a :data:`WINDOW` longer than
    the handler's longest sleep, in which every waiting writer tries at
    least once: after every :data:`WORK` seconds of batches while others
    write, after every :data:`ALONE` seconds while they seem not to; while
    others keep committing, the window is extended, up to :data:`WINDOWS`
    in a row. After the other batches it sleeps a small part of the
    batch's time (:data:`PAUSE`), in which a writer that has just started
    waiting (its first tries come within milliseconds) may get in. Whether
    others write is read from ``PRAGMA data_version``, which changes when
    another connection has committed (SQLite's documentation of the
    pragma), first when the run starts, so that services that write
    while the run counts its rows are known to be there at its first
    batch. Alone, a run pays about a fiftieth of its time; next to
    writing services it takes less than half of the database's time; on
    the servers, which lock rows, it never pauses.
    """

    PAUSE = 0.02         # of the batch's duration, after every batch
    WINDOW = 0.11        # seconds free; SQLite's handler sleeps <= 100 ms
    WINDOWS = 4          # in a row at most, while others keep committing
    WORK = 0.1           # seconds of batches between windows: others write
    ALONE = 2.0          # ... they seem not to
    CONTENDED = 1.0      # seconds others count as writing after a commit

    def __init__(self, enabled):
        self.enabled = enabled
        self.version = None
        self.started = None
        self.worked = 0.0
        self.others_wrote = float('-inf')   # monotonic seconds

    def start(self, connection):
        """At the start of a run (``connection`` outside a transaction)."""
        if self.enabled:
            self._others_committed(self._version(connection))

    def began(self, connection):
        """Inside a batch's transaction, before its work."""
        if self.enabled:
            self.started = time.monotonic()
            self._others_committed(connection.exec_driver_sql(
                'PRAGMA data_version').scalar())

    def committed(self, connection):
        """After a batch committed (``connection`` outside a
        transaction): pause, or leave a window."""
        if not self.enabled:
            return
        now = time.monotonic()
        held = now - self.started
        self.worked += held
        others = now - self.others_wrote < self.CONTENDED
        if self.worked < (self.WORK if others else self.ALONE):
            time.sleep(held * self.PAUSE)
            return
        self.worked = 0.0
        for _ in range(self.WINDOWS):
            time.sleep(self.WINDOW)
            if not self._others_committed(self._version(connection)):
                break

    @staticmethod
    def _version(connection):
        """``PRAGMA data_version`` outside any transaction, on the driver's
        connection (a transaction of enamel's engine takes the write
        lock)."""
        return connection.connection.driver_connection.execute(
            'PRAGMA data_version').fetchone()[0]

    def _others_committed(self, version):
        """Has another connection committed since the last reading?"""
        changed = self.version is not None and version != self.version
        self.version = version
        if changed:
            self.others_wrote = time.monotonic()
        return changed
