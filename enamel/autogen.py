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

"""What ``revision --autogenerate`` writes: alembic's autogenerate output,
reviewed before it becomes a file.

:func:`process_revision_directives` is given to alembic by ``env.py``
(see :func:`enamel.environment.context_options`); each step it runs may
rewrite or refuse the revision alembic is about to write.
"""

from enamel import phases


def process_revision_directives(context, revision, directives):
    """alembic's ``process_revision_directives`` hook for enamel's env.

    :param context: the ``MigrationContext``.
    :param revision: the revision argument (tuple of ids).
    :param directives: a list holding one
        ``alembic.operations.ops.MigrationScript``; changed in place.
    """
    # Last: one revision per phase of a rolling upgrade.
    phases.split_directives(context, revision, directives)
