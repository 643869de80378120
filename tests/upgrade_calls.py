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

"""What one ``upgrade`` reads and plans: a count, not a timing.

On SQLite, in a scratch history holding the first bundled revision, a
database at that revision is upgraded by ``Migration(conf).upgrade()``:
once linear (one plain revision ahead), once branched into expand and
contract (the roots and one revision on each, written by ``revision
--expand`` and ``--contract``). Counted around the real functions (they
still run): the HEADS file read (:func:`enamel.heads_file.read`), the
revision files loaded (``ScriptDirectory`` revision maps built), the
database state read (:func:`enamel.state.read`), the plans made
(:class:`enamel.planner.Planner` ``upgrade``), and the calls of enamel's
own functions (with how many of enamel's files they run in).

Printed by ``tools/upgrade_calls.py``; held by
``tests/unit/test_upgrade_calls.py``.
"""

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile

from alembic import script as alembic_script

from enamel import conf as enamel_conf
from enamel import databases
from enamel import environment
from enamel import heads_file
from enamel import migration
from enamel import planner
from enamel import state

ENAMEL_DIR = os.path.dirname(os.path.abspath(migration.__file__))


@contextlib.contextmanager
def _counting(owner, name, counts, key):
    """Count the calls of ``owner.name`` (it still runs)."""
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        counts[key] += 1
        return real(*args, **kwargs)

    setattr(owner, name, counted)
    try:
        yield
    finally:
        setattr(owner, name, real)


@contextlib.contextmanager
def counted():
    """Yields a dict of counts, filled while the block runs."""
    from alembic.script import revision

    counts = dict.fromkeys(('heads_file_reads', 'script_loads',
                            'state_reads', 'plans', 'enamel_calls'), 0)
    files = set()

    def profile(frame, event, arg):
        if event == 'call':
            path = frame.f_code.co_filename
            if path.startswith(ENAMEL_DIR):
                counts['enamel_calls'] += 1
                files.add(path)

    with contextlib.ExitStack() as stack:
        stack.enter_context(_counting(heads_file, 'read', counts,
                                      'heads_file_reads'))
        stack.enter_context(_counting(state, 'read', counts, 'state_reads'))
        stack.enter_context(_counting(planner.Planner, 'upgrade', counts,
                                      'plans'))
        # Each ScriptDirectory reads its revision files once, building
        # its RevisionMap from them.
        stack.enter_context(_counting(revision.RevisionMap, '__init__',
                                      counts, 'script_loads'))
        sys.setprofile(profile)
        try:
            yield counts
        finally:
            sys.setprofile(None)
            counts['enamel_files'] = len(files)


def scratch_database(directory):
    """A :class:`enamel.databases.Database` in ``directory`` whose history
    is the bundled main history's first revision alone: the counts are of
    the same shapes (linear, branched) whatever the bundled history has
    become since (a service developer's new revisions, expand and
    contract branches, merges)."""
    versions = os.path.join(directory, 'versions')
    os.makedirs(versions)
    bundled = alembic_script.ScriptDirectory(
        environment.ENV_DIR,
        version_locations=[databases.MAIN.versions_dir])
    first = bundled.get_revision(sorted(bundled.get_bases())[0])
    shutil.copy2(first.path, versions)
    return dataclasses.replace(databases.MAIN, versions_dir=versions)


def measure(directory, branched, plain=1):
    """The counts of one ``upgrade`` of a database at the first bundled
    revision, behind ``plain`` new revisions (linear) or the expand and
    contract branches (their roots and one revision on each: four)."""
    database = scratch_database(directory)
    conf = enamel_conf.load(default_config_files=[])
    conf.set_override('connection', 'sqlite:///' + os.path.join(
        directory, 'enamel.sqlite'), group='database')
    authoring = migration.Migration(conf, database=database)
    authoring.upgrade()
    if branched:
        authoring.revision_in_phase('expand', 'an expand revision')
        authoring.revision_in_phase('contract', 'a contract revision')
    else:
        for number in range(plain):
            authoring.revision(f'plain revision {number}')
    heads_file.write(database.versions_dir)
    with counted() as counts:
        migration.Migration(conf, database=database).upgrade()
    return counts


def measure_both():
    """{'linear': counts, 'linear of four': counts, 'branched': counts}
    (see :func:`measure`; the branched upgrade runs four revisions)."""
    results = {}
    for name, branched, plain in (('linear', False, 1),
                                  ('linear of four', False, 4),
                                  ('branched', True, 0)):
        with tempfile.TemporaryDirectory() as directory:
            results[name] = measure(directory, branched, plain)
    return results
