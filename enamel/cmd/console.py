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

"""The ``enamel-sync`` console script and ``python -m enamel``.

The command line (:mod:`enamel.cmd.sync`) is imported inside :func:`main`,
with SIGTERM and SIGINT already handled (:mod:`enamel.interrupt`): a signal
that arrives while Python imports it (about the first fifth of a second;
SQLAlchemy, alembic and oslo.config are large) ends the run with one line
and the signal's exit code, as a signal that arrives later does. Imported
by the console script's wrapper instead, the same SIGINT printed a
traceback of whichever import it hit, and SIGTERM killed the process
without a word.
"""

import sys

from enamel import interrupt


def main():
    """Run ``enamel-sync`` with ``sys.argv``; returns the exit code (an
    int: see the CLI reference; 143 and 130 for SIGTERM and SIGINT)."""
    with interrupt.handled():
        try:
            from enamel.cmd import sync
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, interrupt.Terminated)
            print('enamel-sync: error: '
                  f'{"terminated" if terminated else "interrupted"} while '
                  'starting; nothing was done', file=sys.stderr)
            return 143 if terminated else 130
        return sync.main()
