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

"""Known drift, declared: the differences ``check``, ``stamp --verify``
and ``revision --autogenerate`` accept.

A difference is one line of :func:`enamel.state.describe_difference`:
its first word is the kind (alembic's: ``add_column``, ``modify_default``,
``remove_index``…), its second the object (``table`` or
``table.name``). It is accepted by a pattern of ``[database]
accepted_drift`` (or ``[api_database]``): ``KIND:OBJECT`` or ``OBJECT``,
each part a shell-style glob (:func:`fnmatch.fnmatchcase`; ``*`` also
matches dots), or by a hook registered with
:meth:`enamel.migration.Migration.accept_drift`. Only what a pattern or a
hook names is accepted; ``check`` lists it under ``accepted``, and
autogenerate leaves it out of the revision.
"""

import dataclasses
import fnmatch


@dataclasses.dataclass(frozen=True)
class Difference:
    """One difference: ``kind`` (e.g. ``modify_default``), ``target``
    (``table`` or ``table.name``) and ``line`` (the whole line)."""

    kind: str
    target: str
    line: str


def parse(line):
    """The :class:`Difference` of a
    :func:`enamel.state.describe_difference` line (str)."""
    words = line.split()
    kind = words[0] if words else ''
    target = words[1].rstrip(':') if len(words) > 1 else ''
    return Difference(kind, target, line)


class Accepted:
    """What is accepted: ``patterns`` (str list, see the module) and
    ``hooks`` (callables ``hook(difference)`` given a
    :class:`Difference`, returning True to accept it)."""

    def __init__(self, patterns=(), hooks=()):
        self.patterns = tuple(p.strip() for p in patterns if p.strip())
        self.hooks = tuple(hooks)

    def __bool__(self):
        return bool(self.patterns or self.hooks)

    def accepts(self, line):
        """Is the difference ``line`` (str) accepted?"""
        difference = parse(line)
        for pattern in self.patterns:
            kind, _, target = pattern.rpartition(':')
            if fnmatch.fnmatchcase(difference.target, target) and (
                    not kind or fnmatch.fnmatchcase(difference.kind, kind)):
                return True
        return any(hook(difference) for hook in self.hooks)

    def split(self, lines):
        """``lines`` as (kept, accepted), each a list in the given
        order."""
        kept, accepted = [], []
        for line in lines:
            (accepted if self.accepts(line) else kept).append(line)
        return kept, accepted


def for_database(conf, database, hooks=()):
    """The :class:`Accepted` of ``database`` (an
    :class:`enamel.databases.Database`): its group's ``accepted_drift``
    in ``conf`` (None: no pattern) and ``hooks``."""
    patterns = ()
    if conf is not None:
        patterns = database.options(conf).accepted_drift or ()
    return Accepted(patterns, hooks)
