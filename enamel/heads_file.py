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

"""``versions/HEADS``: the heads of the bundled revisions, readable without
loading them.

With it ``upgrade`` and ``check`` recognise a database at head without
importing a revision file or alembic, which is what most runs on a deploy
find. The file carries a digest of the revision files beside it and of its
own head lines: when either changed since it was written, it is ignored
and the revisions are loaded as usual, so a stale file costs time, never a
revision.

alembic keeps it current through a post-write hook (the Config built by
:func:`enamel.environment.make_config` declares it, and so does
``[tool.alembic]`` in pyproject.toml for plain ``alembic``): after writing
a revision file, alembic runs ``python -m enamel.heads_file <file>``.
"""

import hashlib
import os
import sys

from enamel import databases
from enamel import environment
from enamel import exception

NAME = 'HEADS'
HEADER = ('# The heads of the revisions in this directory and a digest of '
          'them and of\n# the head lines; rewritten by alembic\'s '
          'enamel_heads post-write hook.\n')


def read(versions_dir=None):
    """The heads recorded in ``versions_dir``'s HEADS file.

    :param versions_dir: default: the bundled ``alembic_migrations/
        versions``.
    :returns: a tuple of revision ids, or None when the file is missing or
        its digest does not match the revision files and head lines.
    """
    versions_dir = versions_dir or environment.VERSIONS_DIR
    try:
        with open(os.path.join(versions_dir, NAME)) as f:
            fields = [line.split() for line in f
                      if not line.startswith('#')]
    except OSError:
        return None
    # Other lines (blank, a git conflict's markers) are not ours.
    fields = [f for f in fields if len(f) == 2]
    heads = tuple(v for k, v in fields if k == 'head')
    digests = [v for k, v in fields if k == 'digest']
    if heads and digests == [_digest(versions_dir, heads)]:
        return heads
    return None


def write(versions_dir=None):
    """Load the revisions in ``versions_dir`` (default: the bundled ones)
    and record their heads in its HEADS file.

    :returns: the tuple of heads written.
    :raises alembic.util.CommandError: the revisions do not load.
    """
    from alembic import script as alembic_script

    versions_dir = os.path.abspath(versions_dir or environment.VERSIONS_DIR)
    script = alembic_script.ScriptDirectory(
        os.path.dirname(versions_dir), version_locations=[versions_dir])
    heads = tuple(sorted(script.get_heads()))
    with open(os.path.join(versions_dir, NAME), 'w') as f:
        f.write(HEADER)
        f.writelines(f'head {head}\n' for head in heads)
        f.write(f'digest {_digest(versions_dir, heads)}\n')
    return heads


def _digest(versions_dir, heads):
    digest = hashlib.sha256()
    for head in heads:
        digest.update(f'head\0{head}\0'.encode())
    for name in sorted(os.listdir(versions_dir)):
        if name.endswith('.py'):
            with open(os.path.join(versions_dir, name), 'rb') as f:
                content = f.read()
            digest.update(f'{name}\0{len(content)}\0'.encode() + content)
    return f'sha256:{digest.hexdigest()}'


def main(argv=None):
    """The post-write hook: rewrite the HEADS file next to each revision
    file named in ``argv``, where the directory is a bundled one (any
    database's, see :mod:`enamel.databases`) or
    already has a HEADS file (another ``--version-path`` has none).
    Without arguments (``python -m enamel.heads_file``, after editing
    revision files by hand), rewrite every bundled database's HEADS file.

    :returns: the exit status: 0, or 1 when the revisions do not load
        (the HEADS file is then left as it was, and ignored while stale).
    """
    from alembic.script import revision as alembic_revision
    from alembic import util

    bundled = [os.path.realpath(d.versions_dir) for d in databases.ALL]
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        paths = [os.path.join(d, NAME) for d in bundled]
    for path in paths:
        directory = os.path.dirname(os.path.abspath(path))
        if (os.path.realpath(directory) in bundled
                or os.path.exists(os.path.join(directory, NAME))):
            try:
                write(directory)
            except (alembic_revision.RevisionError, util.CommandError) as exc:
                print(f'enamel_heads: {NAME} not rewritten, the revisions in '
                      f'{directory} do not load: {exception.first_line(exc)}',
                      file=sys.stderr)
                return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
