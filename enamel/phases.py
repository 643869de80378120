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
import logging

from enamel import data_migrations
from enamel import exception
from enamel import ops

LOG = logging.getLogger(__name__)

EXPAND = 'expand'
CONTRACT = 'contract'
PHASES = (EXPAND, CONTRACT)
# The phase of every revision of a history without the two branches, and
# of a revision in a branched history that is on neither branch.
PLAIN = 'plain'
NEITHER = 'neither'


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
    ``'expand'``. The branch labels alone say it; :meth:`Layout.phase_of`
    also tells a revision on neither branch apart.

    :param revision: an ``alembic.script.Script``.
    """
    return CONTRACT if CONTRACT in revision.branch_labels else EXPAND


def every_head(revision):
    """An ``upgrade --sql`` target of a branched history with ``head``
    (the default) read as ``heads``: a plain upgrade's phases end at every
    head, and alembic's ``head`` refuses the two branches' heads as
    ambiguous. ``A:head`` becomes ``A:heads``; other targets (a tuple of
    a phase's several heads among them) are kept."""
    if not isinstance(revision, str):
        return revision
    start, colon, end = revision.rpartition(':')
    return f'{start}{colon}heads' if end == 'head' else revision


def every_head_from(revision):
    """A ``downgrade --sql`` range of a branched history with ``head`` as
    its start read as ``heads``, as :func:`every_head` reads an upgrade's
    end: the script an upgrade to every head printed is undone from every
    head. ``head:A`` becomes ``heads:A``; other ranges are kept."""
    start, colon, end = revision.partition(':')
    return f'heads{colon}{end}' if colon and start == 'head' else revision


def branch_heads(script, phase):
    """The ids of the heads that carry ``phase``'s label (a tuple, in
    alembic's order of ``heads``)."""
    return tuple(h for h in script.get_heads()
                 if phase in script.get_revision(h).branch_labels)


def applied(script, current):
    """The revisions the database holds (see
    :func:`enamel.data_migrations.applied`)."""
    return data_migrations.applied(script, current)


class Layout:
    """Where each revision of a history stands.

    :param script: the ``ScriptDirectory``.
    """

    def __init__(self, script):
        self.script = script
        self.branched = branched(script)
        self._before = None
        self._heads = {}

    def phase_of(self, revision):
        """The phase of ``revision`` (an ``alembic.script.Script``):
        ``plain`` in a history without the branches; else ``contract`` on
        the contract branch, ``expand`` on the expand branch or before
        the branches (the history written before rolling upgrades runs
        first, as it always did), ``neither`` otherwise (written with its
        ``down_revision`` at or before the branch point, or a history of
        its own that a configure callback added)."""
        if not self.branched:
            return PLAIN
        labels = revision.branch_labels
        if CONTRACT in labels and EXPAND in labels:
            return NEITHER  # a merge of the two branches, or above one
        if CONTRACT in labels:
            return CONTRACT
        if EXPAND in labels:
            return EXPAND
        if revision.revision in self.before_branches():
            return EXPAND
        return NEITHER

    def before_branches(self):
        """The ids of the revisions below the branches' roots (both revise
        the same head; the contract root also depends on the expand
        root)."""
        if self._before is None:
            root = self.script.get_revision(EXPAND).revision
            self._before = applied(self.script, (root,)) - {root}
        return self._before

    def heads(self, phase):
        """The ids of ``phase``'s heads (one, unless the branch has
        several not merged yet), read once."""
        if phase not in self._heads:
            self._heads[phase] = branch_heads(self.script, phase)
        return self._heads[phase]

    def target(self, phase):
        """The alembic upgrade target of ``phase``: ``expand@head`` or
        ``contract@head`` when the history is branched, or the branch's
        heads (a tuple of ids) when it has several, not merged yet
        (alembic's ``expand@head`` would refuse them as ambiguous; the
        phase applies all of its revisions, as ``upgrade heads`` does);
        otherwise ``heads`` for expand and None (nothing to do) for
        contract."""
        if not self.branched:
            return 'heads' if phase == EXPAND else None
        heads = self.heads(phase)
        return f'{phase}@head' if len(heads) == 1 else heads


# -- the phase rules --------------------------------------------------------

UNFINISHED = 'unfinished-data-migration'
NEITHER_BRANCH = 'neither-branch'
CROSS_PHASE = 'cross-phase-dependency'
EXPAND_FIRST = 'expand-before-contract'
ROWS_LEFT = 'data-migrations-before-contract'
OFFLINE_SPLIT = 'offline-contract-after-data-migrations'
# rule -> what it protects (the CLI reference lists the same)
RULES = {
    UNFINISHED: 'a revision whose data migration is still a skeleton is '
                'never applied (its upgrade() would never run once '
                'written)',
    NEITHER_BRANCH: 'in a branched history every revision to apply is on '
                    'the expand or the contract branch',
    CROSS_PHASE: 'the expand phase never runs a contract revision, even '
                 'one an expand revision depends on',
    EXPAND_FIRST: 'a contract revision never runs in the same run as the '
                  'expand revisions it needs (their data migrations run '
                  'in between)',
    ROWS_LEFT: 'a contract revision runs (or is stamped) only once no '
               'open data migration has rows left',
    OFFLINE_SPLIT: 'a --sql script never runs contract revisions after '
                   'data migrations that may have rows left',
}


@dataclasses.dataclass(frozen=True)
class Refusal:
    """One rule a plan breaks: the ``rule``, the ``revision`` (id) it is
    about, the ``reason`` and the ``advice`` (what to run instead)."""

    rule: str
    revision: str
    reason: str
    advice: str

    def __str__(self):
        return f'{self.reason} (phase rule {self.rule}); {self.advice}'


def judge(planner, plan, pending=None, rows_left=None, phase_run=False,
          database_option='', applied=None):
    """The phase rules a plan breaks, before anything runs.

    One set of rules for every command (see :data:`RULES`); each is
    checked where it can be: the database's data migrations only online.

    :param planner: the :class:`enamel.planner.Planner` of the history.
    :param plan: the :class:`enamel.planner.Plan` to judge.
    :param pending: the plan to the heads from the same state (with
        ``phase_run``).
    :param rows_left: ``{data migration name: rows left}`` of the open
        data migrations (online, when ``plan`` has contract steps).
    :param phase_run: ``upgrade --expand``, ``--contract`` or a plain
        ``upgrade``: revisions on neither branch anywhere in ``pending``
        are refused, not only those in ``plan``.
    :param database_option: `` --database NAME`` for the advice's
        commands, or ``''`` for the main database.
    :param applied: what this run did already (before a plain
        upgrade's contract phase: the expand phase and the data
        migrations), for the advice's last words; None: nothing
        (``nothing was changed``).
    :returns: a list of :class:`Refusal`, the first rule first; empty
        when the plan is accepted.
    """
    refusals = [_unfinished(s.revision) for s in plan.steps
                if plan.command != 'stamp' and s.unfinished]
    if not planner.layout.branched:
        return refusals
    cmd = _Commands(database_option, applied)
    neither = [s for s in plan.steps if s.phase == NEITHER]
    if phase_run and pending is not None:
        neither += [s for s in pending.steps if s.phase == NEITHER
                    and s not in neither]
    refusals += [neither_refusal(planner, s) for s in neither]
    # A new database (no version row; state.guard refuses one that has
    # tables) serves no release and holds no rows: the order of the
    # phases protects nothing there, and a history whose expand revisions
    # depend on contract ones (neutron's) upgrades in alembic's order, as
    # its own tool does. Data migrations still run before the contract
    # phase of a plain upgrade, and rows left still refuse it.
    serving = plan.command == 'upgrade' and bool(plan.current)
    if serving:
        refusals += _cross_phase(planner, plan, cmd)
    contract = [s for s in plan.steps if s.phase == CONTRACT]
    if not contract:
        return refusals
    first = contract[-1].id
    if plan.offline:
        refusals += _offline_split(planner, plan, first, cmd)
        return refusals
    if serving:
        refusals += _expand_first(planner, plan, contract, cmd)
    left = {n: c for n, c in (rows_left or {}).items() if c}
    if left:
        refusals.append(Refusal(
            ROWS_LEFT, first,
            'contract refused: data migrations have rows left (' +
            ', '.join(f'{n}: {c}' for n, c in left.items()) +
            f'), and the {plan.command} would apply the contract '
            f'revision(s) {", ".join(plan.ids(CONTRACT))}',
            f'run "{cmd.odm}" until it exits 0, then this command again; '
            f'{cmd.unchanged}'))
    return refusals


def _expand_first(planner, plan, contract, cmd):
    """Contract steps after expand steps they need, in one plan: the
    expand revisions' data migrations would not have run between."""
    needed = []
    for step in contract:
        needed += [n.id for n in plan.needs(step)
                   if n.phase == EXPAND and n.id not in needed]
    if not needed:
        return []
    ids = ', '.join(s.id for s in contract)
    return [Refusal(
        EXPAND_FIRST, contract[-1].id,
        f'contract refused: {len(needed)} expand revision(s) pending '
        f'({", ".join(needed)}), which the contract revision(s) {ids} '
        'need applied in an earlier run',
        f'run "{cmd.upgrade("--expand")}" first, then "{cmd.odm}" until '
        f'it exits 0; {cmd.unchanged}')]


def enforce(refusals, ignore=False, offline=False):
    """Raise for the first refusal, or, with ``ignore``, log each as a
    warning and let the run go on.

    :param refusals: what :func:`judge` found.
    :param ignore: ``--ignore-phase-rules``: go past every rule but
        :data:`UNFINISHED`, saying so.
    :param offline: a ``--sql`` script (exit 1 instead of 9).
    :raises exception.UnfinishedRevision: a skeleton would be applied.
    :raises exception.PhaseRefused: a rule refused the plan (exit 9).
    :raises exception.OfflineRefused: a rule refused a ``--sql`` script
        (exit 1).
    """
    for refusal in refusals:
        if refusal.rule == UNFINISHED:
            raise exception.UnfinishedRevision(refusal.reason)
    if not refusals:
        return
    if ignore:
        for refusal in refusals:
            overridden(refusal.rule, refusal.reason)
        return
    more = (f' ({len(refusals) - 1} more refusal(s) after this one)'
            if len(refusals) > 1 else '')
    error = exception.OfflineRefused if offline else (
        exception.ContractRefused if refusals[0].rule in (
            EXPAND_FIRST, ROWS_LEFT) else exception.PhaseRefused)
    raise error(str(refusals[0]) + more, refusals)


def overridden(rule, reason):
    """Say (a warning) that ``--ignore-phase-rules`` went past ``rule``
    (one of :data:`RULES`), for ``reason``."""
    LOG.warning('phase rule %s overridden (--ignore-phase-rules): %s',
                rule, reason)


def unchanged(applied=None):
    """The last words of a refusal: ``nothing was changed``, or, after
    ``applied`` (what the run applied before it was refused), that
    nothing else was."""
    return (f'{applied}, nothing else was changed' if applied
            else 'nothing was changed')


def past_data_migrations(database_option='', again='this command again'):
    """The way on when data migrations stop the contract phase: they
    failed, cannot count their rows (:data:`ROWS_LEFT` is undecided), or
    still have rows left after running until done. A fixed data
    migration, or the override once their rows are known to be migrated.

    :param database_option: as :func:`judge`'s.
    :param again: the command to run once they are done, or None when no
        contract revision waits for them (no rule to go past: no
        override named).
    """
    cmd = _Commands(database_option)
    if again is None:
        return f'fix the data migration and run "{cmd.odm}" until it exits 0'
    return (f'fix the data migration, run "{cmd.odm}" until it exits 0, '
            f'then {again}; or, once its rows are known to be migrated, '
            f'add --ignore-phase-rules{cmd.option}')


class _Commands:
    """The command lines the advice names, and its last words: what the
    refused run left as it was (see :func:`judge`'s ``applied``)."""

    def __init__(self, database_option, applied=None):
        self.option = database_option
        self.odm = f'enamel-sync online-data-migrations{database_option}'
        self.unchanged = unchanged(applied)

    def upgrade(self, *args):
        return ' '.join(('enamel-sync upgrade' + self.option,) + args)


def _unfinished(revision):
    names = data_migrations.unfinished_in(revision)
    return Refusal(
        UNFINISHED, revision.revision,
        f'revision {revision.revision} ({revision.path}) has the '
        f'unfinished data migration {", ".join(names)}: fill in its TODO_ '
        'placeholders and its upgrade(), delete its unfinished() line, '
        'then upgrade; nothing was changed', '')


def neither_refusal(planner, step):
    revision = step.revision
    down = revision.down_revision
    down = ', '.join(down) if isinstance(down, (list, tuple)) else down
    if EXPAND in revision.branch_labels:  # and CONTRACT: see phase_of
        return Refusal(
            NEITHER_BRANCH, step.id,
            f'revision {step.id} ({revision.path}) is on both the expand '
            'and the contract branch: it merges the two, or revises such '
            f'a merge (its down_revision is {down})',
            'the branches must stay apart: delete the merge and merge '
            'each branch\'s heads on its own ("enamel-sync merge heads -m '
            'MSG" does), put any revision written on top of it on a '
            'branch, then run the command again; nothing was changed')

    def one_of(phase):
        heads = planner.layout.heads(phase)
        return ' or '.join(f"'{h}'" for h in heads) + (
            f' (the {phase} head)' if len(heads) == 1 else
            f' (one of the {phase} heads)')
    return Refusal(
        NEITHER_BRANCH, step.id,
        f'revision {step.id} ({revision.path}) is on neither the expand '
        f'nor the contract branch (its down_revision is {down or "None"})',
        f'put it on a branch: in its file set down_revision = '
        f'{one_of(EXPAND)} if it only adds, or {one_of(CONTRACT)} '
        'if it removes, then run the command again; nothing was changed')


def _cross_phase(planner, plan, cmd):
    refusals = []
    for step in plan.steps:
        if step.phase != EXPAND:
            continue
        needed = [n.id for n in plan.needs(step)
                  if n.phase == CONTRACT]
        if not needed:
            continue
        first = planner.ancestry.heads_of(
            s.id for s in plan.steps if s.phase == EXPAND and not any(
                n.phase == CONTRACT for n in plan.needs(s)))
        contract = planner.ancestry.heads_of(needed)
        if plan.offline:
            advice = _offline_steps(plan, first, contract, cmd)
        else:
            advice = '; '.join(
                [f'run "{cmd.upgrade(r)}"' for r in first] +
                [f'run "{cmd.odm}" until it exits 0'] +
                [f'run "{cmd.upgrade(r)}" (its contract step)'
                 for r in contract] +
                [f'then run this command again; {cmd.unchanged}'])
        refusals.append(Refusal(
            CROSS_PHASE, step.id,
            f'expand revision {step.id} depends on contract revision(s) '
            f'{", ".join(needed)}, which are pending: the expand phase '
            'does not run contract revisions', advice))
    return refusals


def _offline_split(planner, plan, first, cmd):
    start = plan.current[0] if plan.current else None
    if start is None:  # from base: a new database, no rows to move
        return []
    expand = [s for s in plan.steps if s.phase == EXPAND]
    open_now = [m.name for m in planner.ancestry.open_migrations(
        plan.current)]
    declared = [n for s in expand for n in s.data_migrations]
    if not expand or not (open_now or declared):
        return []
    heads = planner.ancestry.heads_of(s.id for s in expand)
    return [Refusal(
        OFFLINE_SPLIT, first,
        f'the range runs contract revision {first} after data migrations '
        f'that may have rows left ({", ".join(open_now + declared)})',
        _offline_steps(plan, heads, [plan.target], cmd))]


def _offline_steps(plan, first, then, cmd):
    start = plan.current[0] if plan.current else 'base'
    middle = first[-1] if first else start
    parts = ['print the expand part now: '
             f'"{cmd.upgrade("--sql", f"{start}:{r}")}"' for r in first]
    parts.append(f'run it, then "{cmd.odm}" until it exits 0')
    parts += [f'then print the rest: '
              f'"{cmd.upgrade("--sql", f"{middle}:{r}")}"' for r in then]
    return '; '.join(parts) + '; nothing was written'


def contract_comment(plan):
    """The leading SQL comment of a ``--sql`` script that applies
    contract revisions to an existing database (None otherwise)."""
    if not plan.current or not plan.has(CONTRACT):
        return None
    return ('-- enamel-sync: this script applies the contract revision(s) '
            f'{", ".join(plan.ids(CONTRACT))}: run it only once every '
            'service runs the new release and "enamel-sync '
            'online-data-migrations" reports nothing left (exit 0)\n')


@dataclasses.dataclass
class Pending:
    """What a rolling upgrade still has to do.

    ``expand`` and ``contract``: the revision ids an upgrade to the heads
    would apply in each phase, in order; ``data_migrations``: the name of
    each open data migration mapped to the rows it has left (0 once done);
    ``neither``: pending revisions on neither branch (see
    :meth:`Layout.phase_of`), which an upgrade refuses.
    """

    expand: list = dataclasses.field(default_factory=list)
    data_migrations: dict = dataclasses.field(default_factory=dict)
    contract: list = dataclasses.field(default_factory=list)
    neither: list = dataclasses.field(default_factory=list)

    @property
    def rows_left(self):
        return sum(self.data_migrations.values())

    def as_dict(self):
        return dataclasses.asdict(self)


def pending(connection, plan):
    """What is pending for a database, per phase.

    :param connection: a ``Connection``, left outside a transaction.
    :param plan: the :class:`enamel.planner.Plan` to the heads from the
        database's revisions (:meth:`enamel.planner.Planner.pending`).
    :returns: a :class:`Pending`.
    :raises exception.DataMigrationFailed: a data migration could not
        count its rows.
    """
    result = Pending()
    for step in plan.steps:
        phase = EXPAND if step.phase == PLAIN else step.phase
        getattr(result, phase).append(step.id)
    result.data_migrations = rows_left(
        connection, data_migrations.open_migrations(plan.layout.script,
                                                    plan.current))
    return result


def rows_left(connection, migrations):
    """``{name: rows left}`` of ``migrations`` (the data migrations open
    at some revisions, :func:`enamel.data_migrations.open_migrations`).

    :raises exception.DataMigrationFailed: one could not count its rows.
    """
    return {m.name: m.count(connection) for m in migrations}


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
            depends_on = contract_revisions_touching(
                script, _tables_of(parts[phase])) or None
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


# The ``op`` calls whose first argument is the table they change.
_TABLE_CALLS = frozenset((
    'add_column', 'alter_column', 'drop_column', 'batch_alter_table',
    'create_index', 'drop_index', 'create_unique_constraint',
    'create_check_constraint', 'drop_constraint', 'create_table',
    'drop_table', 'rename_table', 'create_primary_key'))


def _tables_of(operations):
    """The tables autogenerated ``operations`` change."""
    from alembic.operations import ops as alembic_ops

    tables = set()
    for operation in operations:
        for name in ('table_name', 'source_table'):
            value = getattr(operation, name, None)
            if isinstance(value, str):
                tables.add(value)
        if isinstance(operation, alembic_ops.ModifyTableOps):
            tables |= _tables_of(operation.ops)
    return tables


def _tables_changed_by(path):
    """The tables a revision file changes, by its ``op`` calls whose
    first argument is a string (the file is parsed, not run)."""
    import ast

    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError):
        return set()
    tables = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and node.args and
                isinstance(node.func, ast.Attribute) and
                node.func.attr in _TABLE_CALLS and
                isinstance(node.args[0], ast.Constant) and
                isinstance(node.args[0].value, str)):
            tables.add(node.args[0].value)
        for keyword in getattr(node, 'keywords', None) or ():
            if keyword.arg in ('table_name', 'source_table') and (
                    isinstance(keyword.value, ast.Constant)):
                tables.add(keyword.value.value)
    return tables


def contract_revisions_touching(script, tables):
    """The contract revision an expand revision changing ``tables`` must
    come after: the latest one on the contract branch that changed any of
    them (a list of its id, or []).

    Without it, an expand revision that undoes what a contract revision
    did (a column made NOT NULL by contract, nullable again) runs before
    that contract revision on a new database (expand first), which then
    applies the contract change again: a new database and an upgraded one
    would differ. With it, alembic runs the contract revision first; the
    phase rules (``cross-phase-dependency``) refuse
    ``upgrade --expand`` while that contract revision is pending, naming
    it. The contract branch is one line, so its latest such revision
    brings the earlier ones.

    :param script: the ``ScriptDirectory`` (branched).
    :param tables: table names (a set of str).
    """
    if not tables:
        return []
    for revision in script.iterate_revisions(f'{CONTRACT}@head', 'base'):
        if phase_of(revision) != CONTRACT:
            break
        if _tables_changed_by(revision.path) & tables:
            return [revision.revision]
    return []


def refuse_unplaceable(context, directives):
    """In a branched history, refuse an autogenerated revision with an
    operation that no phase can hold (:data:`enamel.ops.UNPLACEABLE`),
    before autogenerate's other steps rewrite it: a recreated column
    (:class:`enamel.comparators.RecreateColumnOp`) becomes a drop and an
    add, which :func:`split_directives` would part between the phases.

    :raises exception.UnsafeRevision: as :func:`split_directives`.
    """
    from alembic.operations import ops

    script = getattr(context, 'script', None)
    if not directives or script is None or not branched(script):
        return
    for migration in directives:
        for container in migration.upgrade_ops_list:
            created = {o.table_name for o in container.ops
                       if isinstance(o, ops.CreateTableOp)}
            for operation in container.ops:
                inner = (operation.ops
                         if isinstance(operation, ops.ModifyTableOps)
                         else [operation])
                for o in inner:
                    _place(o, created)


def _place(operation, created):
    """The phase of one autogenerated operation
    (:func:`enamel.ops.classify`)."""
    kind = ops.classify(operation, created)
    if kind.kind == ops.NEEDS_DEFAULT:
        raise exception.UnsafeRevision(
            f'cannot place the NOT NULL column {kind.where} without a '
            'server default: the previous release\'s INSERTs would fail; '
            'add it nullable (expand), fill it with an online data '
            'migration, make it NOT NULL in contract')
    if kind.kind == ops.REWRITES:
        raise exception.UnsafeRevision(
            f'cannot place the type change of {kind.where} safely: '
            f'{MANUAL_PATTERN}')
    if kind.kind == ops.RECREATES:
        raise exception.UnsafeRevision(
            f'cannot place the change of computed column {kind.where} '
            f'safely ({kind.why}): {MANUAL_PATTERN}')
    return CONTRACT if kind.contract_only else EXPAND
