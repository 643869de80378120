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

"""Rolling upgrades: the expand and contract phases of the revisions.

Revisions written for rolling upgrades live on two alembic branches,
labelled ``expand`` (additive changes, safe while the previous release
runs) and ``contract`` (destructive changes, once every service runs the
new release). Both branches start at the head the history had when they
were created (for enamel, ``6a1c2e9d4b01``), so a database at that head
moves into the layout with a plain ``upgrade``. A contract revision
``depends_on`` the expand revision it completes; between the two, online
data migrations (:mod:`enamel.data_migrations`) move the rows.

Revisions before the branches (the history written before rolling
upgrades) belong to the expand phase: they run first, as they always did.
A history without the two labels is not *branched*: ``upgrade --expand``
then means ``upgrade heads`` and there is nothing to contract.

The rule comes from OpenStack's expand/contract scheme (neutron, keystone,
glance) expressed with alembic's own branch labels, so that plain alembic
understands the layout too (``alembic upgrade expand@head``).
"""

import dataclasses

from enamel import exception

EXPAND = 'expand'
CONTRACT = 'contract'
PHASES = (EXPAND, CONTRACT)


def has_label(script, label):
    """Does a revision of ``script`` (a ``ScriptDirectory``) carry the
    branch label ``label``?"""
    from alembic.script import revision as alembic_revision
    from alembic import util

    try:
        return script.revision_map.get_revision(label) is not None
    except (alembic_revision.RevisionError, util.CommandError, KeyError):
        return False


def branched(script):
    """Is the history laid out in expand and contract branches?"""
    return has_label(script, EXPAND) and has_label(script, CONTRACT)


def phase_of(revision):
    """``'contract'`` for a revision on the contract branch, else
    ``'expand'`` (also for the history before the branches).

    :param revision: an ``alembic.script.Script``.
    """
    return CONTRACT if CONTRACT in revision.branch_labels else EXPAND


def target(script, phase):
    """The alembic upgrade target of ``phase``: ``expand@head`` or
    ``contract@head`` when the history is branched; otherwise ``heads``
    for expand and None (nothing to do) for contract."""
    if branched(script):
        return f'{phase}@head'
    return 'heads' if phase == EXPAND else None


def applied(script, current):
    """The revisions the database holds: ``current`` and everything
    below it, dependencies included (a set of ids)."""
    if not current:
        return set()
    return {r.revision for r in script.iterate_revisions(
        tuple(current), 'base')}


@dataclasses.dataclass
class Pending:
    """What a rolling upgrade still has to do.

    ``expand`` and ``contract``: the revision ids an upgrade to the heads
    would apply in each phase, in order; ``data_migrations``: the name of
    each open data migration mapped to the rows it has left (0 once done).
    """

    expand: list = dataclasses.field(default_factory=list)
    data_migrations: dict = dataclasses.field(default_factory=dict)
    contract: list = dataclasses.field(default_factory=list)

    @property
    def rows_left(self):
        return sum(self.data_migrations.values())

    def as_dict(self):
        return dataclasses.asdict(self)


def pending(connection, script, current):
    """What is pending for a database at ``current``, per phase.

    :param connection: a ``Connection``, left outside a transaction.
    :param script: the ``ScriptDirectory``.
    :param current: the database's revisions (tuple of ids).
    :returns: a :class:`Pending`.
    :raises exception.DataMigrationFailed: a data migration could not
        count its rows.
    """
    from enamel import alembic_internals
    from enamel import data_migrations

    result = Pending()
    for step in alembic_internals.upgrade_steps(script, 'heads',
                                                tuple(current)):
        revision = step.revision
        getattr(result, phase_of(revision)).append(revision.revision)
    for migration in data_migrations.open_migrations(script, current):
        result.data_migrations[migration.name] = migration.count(connection)
    return result


def unfinished(revision):
    """The names of the data migrations ``revision`` (an
    ``alembic.script.Script``) declares that are still the skeleton of
    ``revision --data-migration``: wrapped in
    :func:`enamel.data_migrations.unfinished`, which marks them."""
    from enamel import data_migrations

    return [function.__name__ for function in getattr(
        revision.module, data_migrations.ATTRIBUTE, ())
        if getattr(function, 'unfinished', False) is True]


def refuse_unfinished(revisions):
    """Refuse to apply a revision whose data migration is unfinished.

    Its author fills in the skeleton and ``upgrade()`` after it was
    written; applied before that, the revision is recorded as done and the
    ``upgrade()`` written later never runs on that database.

    :param revisions: the ``alembic.script.Script`` objects an upgrade
        would apply.
    :raises exception.UnfinishedRevision: naming the first such revision
        and its file.
    """
    for revision in revisions:
        names = unfinished(revision)
        if names:
            raise exception.UnfinishedRevision(
                f'revision {revision.revision} ({revision.path}) has the '
                f'unfinished data migration {", ".join(names)}: fill in its '
                'TODO_ placeholders and its upgrade(), delete its '
                'unfinished() line, then upgrade; nothing was changed')


# -- autogenerate: one revision per phase ----------------------------------

MANUAL_PATTERN = (
    'write it by hand over two releases: expand adds the new form '
    '(a nullable column or a new table), an online data migration copies '
    'the rows, contract removes the old form (see "Writing a rolling '
    'upgrade" in the developer guide)')


def data_migration_asked(context):
    """Did ``revision --data-migration`` ask for a data migration's
    skeleton in the revision being written? (``context``: the
    ``MigrationContext`` of autogenerate.)"""
    attributes = getattr(getattr(context, 'config', None), 'attributes', {})
    return getattr(attributes.get('enamel'), 'data_migration',
                   None) is not None


def split_directives(context, revision, directives):
    """Split an autogenerated revision into an expand and a contract
    revision, each on its branch, when the history is branched (the last
    step of :func:`enamel.autogen.process_revision_directives`).

    Additions (tables, nullable columns or columns with a server default,
    indexes, constraints, NULL allowed) go to expand; removals (drops, NOT
    NULL) to contract, which ``depends_on`` the expand revision. A phase
    with nothing to do writes no file, but for expand when a data
    migration was asked for (:func:`data_migration_asked`): its skeleton
    goes there, and the contract revision then depends on it (a column
    filled before contract makes it NOT NULL, for example). The first
    revision written keeps the id alembic was given (``--rev-id``, or the
    one the data migration's skeleton is written for). A history without
    the branches keeps the single revision alembic wrote.

    :raises exception.UnsafeRevision: an operation that cannot be placed
        safely (a type change, a NOT NULL column without a server default
        on an existing table), with the manual pattern.
    """
    from alembic.operations import ops
    from alembic import util

    script = getattr(context, 'script', None)
    if not directives or script is None or not branched(script):
        return
    migration = directives[0]
    if migration.upgrade_ops is None or migration.upgrade_ops.is_empty():
        return
    created = {o.table_name for o in migration.upgrade_ops.ops
               if isinstance(o, ops.CreateTableOp)}
    parts = {EXPAND: [], CONTRACT: []}
    for operation in migration.upgrade_ops.ops:
        if isinstance(operation, ops.ModifyTableOps):
            by_phase = {EXPAND: [], CONTRACT: []}
            for inner in operation.ops:
                by_phase[_place(inner, created)].append(inner)
            for phase, inner_ops in by_phase.items():
                if inner_ops:
                    parts[phase].append(ops.ModifyTableOps(
                        operation.table_name, inner_ops,
                        schema=operation.schema))
        else:
            parts[_place(operation, created)].append(operation)
    scaffold = data_migration_asked(context)
    new = []
    expand_id = None
    for phase in PHASES:
        if not parts[phase] and not (phase == EXPAND and scaffold):
            continue
        upgrade_ops = ops.UpgradeOps(ops=parts[phase])
        rev_id = util.rev_id() if new else migration.rev_id
        depends_on = None
        if phase == EXPAND:
            expand_id = rev_id
        else:
            depends_on = [expand_id or script.get_revision(
                f'{EXPAND}@head').revision]
        new.append(ops.MigrationScript(
            rev_id, upgrade_ops, upgrade_ops.reverse(),
            message=f'{migration.message} ({phase})'
            if migration.message else phase,
            imports=migration.imports, head=f'{phase}@head',
            version_path=migration.version_path, depends_on=depends_on))
    directives[:] = new


def _place(operation, created):
    """The phase of one autogenerated operation."""
    from alembic.operations import ops

    if isinstance(operation, (ops.DropTableOp, ops.DropColumnOp,
                              ops.DropIndexOp, ops.DropConstraintOp)):
        return CONTRACT
    if isinstance(operation, ops.AddColumnOp):
        column = operation.column
        if (not column.nullable and column.server_default is None
                and operation.table_name not in created):
            raise exception.UnsafeRevision(
                f'cannot place the NOT NULL column '
                f'{operation.table_name}.{column.name} without a server '
                'default: the previous release\'s INSERTs would fail; add '
                'it nullable (expand), fill it with an online data '
                'migration, make it NOT NULL in contract')
        return EXPAND
    if isinstance(operation, ops.AlterColumnOp):
        where = f'{operation.table_name}.{operation.column_name}'
        if operation.modify_type is not None:
            raise exception.UnsafeRevision(
                f'cannot place the type change of {where} safely: '
                f'{MANUAL_PATTERN}')
        if operation.modify_nullable is False:
            return CONTRACT
        return EXPAND
    return EXPAND


def refuse_contract(pending):
    """Refuse the contract phase while anything before it is pending.

    :param pending: what :func:`pending` found.
    :raises exception.ContractRefused: expand revisions are pending, or
        data migrations have rows left.
    """
    if pending.expand:
        raise exception.ContractRefused(
            f'contract refused: {len(pending.expand)} expand '
            f'revision(s) pending ({", ".join(pending.expand)}); '
            'run "enamel-sync upgrade --expand" first; nothing '
            'was changed')
    left = {n: c for n, c in pending.data_migrations.items() if c}
    if left:
        raise exception.ContractRefused(
            'contract refused: data migrations have rows left (' +
            ', '.join(f'{n}: {c}' for n, c in left.items()) +
            '); run "enamel-sync online-data-migrations" until it '
            'exits 0; nothing was changed')
