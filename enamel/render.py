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

"""How autogenerate writes Python into a revision: the same code for every
engine, wherever the revision is generated.

alembic renders a server default that is an SQL expression as the
*current* dialect compiles it (``sa.text('0')`` for ``sa.false()`` on
SQLite, which PostgreSQL refuses for a boolean; ``sa.text('now()')`` on
PostgreSQL, which SQLite refuses). :func:`render_item` (alembic's
``render_item`` hook, given by
:func:`enamel.environment.context_options`) writes the expression itself
instead, which SQLAlchemy compiles for whichever engine runs the revision.
This module imports alembic: only code that runs alembic imports it.

:class:`CreateEnumOp` and :class:`DropEnumOp` are operations that
:mod:`enamel.autogen` adds for a named ``sa.Enum``: PostgreSQL keeps it as
a type of its own that ``drop_table`` does not remove and ``add_column``
does not create.
"""

from alembic.autogenerate import renderers
from alembic.operations import ops
import sqlalchemy as sa
from sqlalchemy.sql import functions

# SQL functions written as sa.func.<name>() (no arguments): SQLAlchemy
# compiles each for every engine.
PORTABLE_FUNCTIONS = frozenset((
    'now', 'current_timestamp', 'current_date', 'current_time',
    'localtimestamp'))


def render_item(type_, obj, autogen_context):
    """alembic's ``render_item`` hook.

    :param type_: what alembic renders (``'server_default'``, ``'type'``…).
    :param obj: the object.
    :returns: the Python source (str), or False for alembic's own
        rendering.
    """
    if type_ == 'server_default':
        return render_server_default(obj)
    return False


def render_server_default(default):
    """A model's server default as portable Python source, or False when
    alembic's own rendering is already portable (a plain string is
    written as the quoted literal, which every engine accepts) or the
    expression is not one enamel knows to be portable.

    ``sa.false()``/``sa.true()`` stay themselves, ``sa.func.now()`` and
    the other argument-less current-time functions stay function calls,
    and ``sa.text('...')`` keeps its text (the model's author chose it).
    """
    arg = getattr(default, 'arg', None)
    if not isinstance(default, sa.schema.DefaultClause) or isinstance(
            arg, str):
        return False
    if isinstance(arg, sa.sql.elements.False_):
        return 'sa.false()'
    if isinstance(arg, sa.sql.elements.True_):
        return 'sa.true()'
    if isinstance(arg, functions.FunctionElement) and (
            arg.name.lower() in PORTABLE_FUNCTIONS and
            not arg.clauses.clauses):
        return f'sa.func.{arg.name.lower()}()'
    if isinstance(arg, sa.sql.elements.TextClause):
        return f'sa.text({arg.text!r})'
    return False


class CreateEnumOp(ops.MigrateOperation):
    """Create a named enum type where the engine has one (PostgreSQL),
    before ``add_column`` uses it; a no-op elsewhere.

    :param enum: the ``sa.Enum``.
    """

    def __init__(self, enum):
        self.enum = enum

    def reverse(self):
        return DropEnumOp(self.enum)


class DropEnumOp(ops.MigrateOperation):
    """Drop a named enum type, where the engine has one (PostgreSQL), after
    the last table using it is dropped; a no-op elsewhere.

    :param enum: the ``sa.Enum``.
    """

    def __init__(self, enum):
        self.enum = enum

    def reverse(self):
        return CreateEnumOp(self.enum)


def _enum_source(enum):
    values = ', '.join(repr(v) for v in enum.enums)
    return f'sa.Enum({values}, name={enum.name!r})'


@renderers.dispatch_for(CreateEnumOp)
def _render_create_enum(autogen_context, op):
    return (f'{_enum_source(op.enum)}.create(op.get_bind(), '
            'checkfirst=True)')


@renderers.dispatch_for(DropEnumOp)
def _render_drop_enum(autogen_context, op):
    return (f'{_enum_source(op.enum)}.drop(op.get_bind(), '
            'checkfirst=True)')
