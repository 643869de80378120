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

"""What one ``upgrade`` reads and plans, linear and branched: the counts
of :mod:`tests.upgrade_calls` (HEADS file reads, revision loads,
database state reads, plans, calls of enamel's functions).

Run from the repository root::

    PYTHONPATH=. python tools/upgrade_calls.py [--format json]
"""

import argparse
import json
import sys

from tests import upgrade_calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--format', choices=('text', 'json'),
                        default='text')
    args = parser.parse_args(argv)
    results = upgrade_calls.measure_both()
    if args.format == 'json':
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        for name, counts in results.items():
            print(name + ': ' + ', '.join(
                f'{k} {v}' for k, v in sorted(counts.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
