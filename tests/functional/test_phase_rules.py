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

"""One plan for every way in: the phase rules hold at every entry point.

The developer guide's worked example (expand adds ``tasks.name`` with a
data migration copying ``tasks.action``; contract drops ``tasks.action``)
with rows not copied yet, tried through every door a user has: each
target form of ``upgrade``, ``stamp``, ``--sql`` ranges run in the
engine's own client, the Python API. Each ends with the rows copied, or
with a refusal that names the revision and the rule and changes nothing;
and each refusal's advice, followed, makes progress.
"""

import json
import os
import re
import subprocess
from unittest import mock

import sqlalchemy as sa

from enamel import exception
from enamel import migration
from enamel import phases
from enamel import rolling as enamel_rolling
from tests import base
from tests.functional import test_rolling_upgrade as rolling

ROWS = 5


# The tables the tests' revisions create (the cross-phase and the
# neither-branch revision's).
LABELS = base.free_table_name('phase_rule_labels')
NOTES = base.free_table_name('phase_rule_notes')


def create_table_body(table):
    """The body of a revision that creates ``table`` (and drops it on
    downgrade)."""
    return f'''

def upgrade():
    op.create_table('{table}',
                    sa.Column('id', sa.Integer, primary_key=True))


def downgrade():
    op.drop_table('{table}')
'''


CROSS_PHASE_BODY = create_table_body(LABELS)
NEITHER_BODY = create_table_body(NOTES)


class PhaseRuleSteps(rolling.RollingUpgradeSteps):

    def rows_left(self):
        """Today's head, five rows of the previous release, both
        releases' revisions written, the expand phase applied: the five
        rows are not copied yet. Returns (expand id, contract id)."""
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(ROWS)
        expand = self.release_n()
        contract = self.release_n_plus_1()
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        self.assertIsNone(self.names()[0])
        return expand, contract

    def guide_pair(self, data_migrations):
        """Today's head, five rows of the previous release, the guide's
        expand revision declaring ``data_migrations`` and its contract
        revision, both pending. Returns (expand id, contract id)."""
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(ROWS)
        expand = self.write_revision(
            'expand', 'add tasks.name', rolling.EXPAND_BODY.replace(
                'data_migrations = (copy_action_to_name,)',
                data_migrations), rolling.DATA_MIGRATION_IMPORTS)
        contract = self.write_revision('contract', 'drop tasks.action',
                                       rolling.CONTRACT_BODY,
                                       rolling.EXPAND_IMPORTS)
        return expand, contract

    def failing_pair(self, data_migrations):
        """:meth:`guide_pair` with ``data_migrations`` of which one fails
        (online-data-migrations exits 2 having copied the rows), the
        expand phase applied."""
        expand, contract = self.guide_pair(data_migrations)
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        self.assertEqual(2, self.run_sync('online-data-migrations').code)
        return expand, contract

    def assertUnchanged(self, version):
        """Nothing moved: the same version rows, ``tasks.action`` still
        there with every row, none copied."""
        self.assertEqual(sorted(version), sorted(self.stored_version()))
        self.assertIn('action', self.columns())
        self.assertEqual([None] * ROWS, self.names())

    def assertCopied(self):
        self.assertEqual([f'action-{i}' for i in range(ROWS)],
                         self.names())

    def assertRefused(self, result, rule, revision, code=9):
        self.assertEqual(code, result.code, result)
        self.assertIn(f'(phase rule {rule})', result.stderr)
        self.assertIn(revision, result.stderr)
        self.assertIn('nothing was', result.stderr)
        self.assertNotIn('Traceback', result.stderr)

    def api(self):
        """A Python API ``Migration`` of the scratch revisions (added by
        a configure callback, as the Python API guide shows)."""
        migrate = migration.Migration(self.load_conf())
        self.addCleanup(migrate.engine.dispose)
        self.addCleanup(lambda: migrate.access.read_only_engine().dispose())

        @migrate.configure
        def scratch_revisions(config):
            config.set_main_option('version_locations', self.versions)
            return config
        return migrate

    def advice(self, stderr):
        """The commands a refusal's advice names, in order, as argv
        lists (without the leading ``enamel-sync``)."""
        return [c.split()[1:] for c in re.findall(
            r'"(enamel-sync [^"]+)"', stderr)]


class PhaseRuleTests(PhaseRuleSteps):

    # -- contract with rows left, through every door -----------------------

    def test_every_target_form_is_refused_while_rows_are_left(self):
        expand, contract = self.rows_left()
        version = self.stored_version()
        # The contract revisions an upgrade to ``contract`` applies: its
        # own, and the contract branch's root when release N wrote it.
        script = self.scratch_script()
        steps = len(phases.applied(script, (contract,)) -
                    phases.applied(script, version))
        self.assertEqual(len(self.added('contract')), steps)
        for target in ('contract@head', contract, contract[:6],
                       f'contract@+{steps}'):
            with self.subTest(target=target):
                result = self.run_sync('upgrade', target)
                self.assertRefused(result, 'data-migrations-before-contract',
                                   f'{expand}.{rolling.DATA_MIGRATION}: 5')
                self.assertIn(contract, result.stderr)
                self.assertUnchanged(version)
        for argv in (('upgrade', '--contract'),
                     ('upgrade', '--revision', contract),
                     ('stamp', contract)):
            with self.subTest(argv=argv):
                self.assertRefused(self.run_sync(*argv),
                                   'data-migrations-before-contract',
                                   contract)
                self.assertUnchanged(version)

    def test_the_python_api_is_refused_while_rows_are_left(self):
        expand, contract = self.rows_left()
        version = self.stored_version()
        migrate = self.api()
        for target in (contract, contract[:6], 'contract@head'):
            with self.subTest(target=target):
                error = self.assertRaises(exception.PhaseRefused,
                                          migrate.upgrade, target)
                self.assertEqual(9, error.exit_code)
                self.assertEqual('data-migrations-before-contract',
                                 error.refusals[0].rule)
                self.assertUnchanged(version)
        self.assertRaises(exception.PhaseRefused, migrate.upgrade_contract)
        self.assertRaises(exception.PhaseRefused, migrate.stamp, contract)
        self.assertUnchanged(version)
        # head: the three phases in order, the rows copied first.
        migrate.upgrade('head')
        self.assertCopied()
        self.assertNotIn('action', self.columns())

    def test_a_failed_data_migration_refuses_contract(self):
        _, contract = self.failing_pair(rolling.BROKEN_DATA_MIGRATION)
        version = self.stored_version()
        for target in (contract, 'contract@head'):
            with self.subTest(target=target):
                result = self.run_sync('upgrade', target)
                self.assertEqual(1, result.code, result)
                self.assertIn('could not count', result.stderr)
                self.assertEqual(sorted(version),
                                 sorted(self.stored_version()))
                self.assertIn('action', self.columns())

    def test_a_count_that_fails_names_the_way_on_and_it_goes_on(self):
        # A data migration that cannot count its rows leaves the rule
        # undecided: the refusal says what to do, and the override it
        # names runs the contract revision, saying what it went past.
        expand, contract = self.failing_pair(rolling.BROKEN_DATA_MIGRATION)
        self.assertCopied()
        version = self.stored_version()
        doors = (['upgrade'], ['upgrade', '--contract'],
                 ['upgrade', contract], ['upgrade', 'contract@head'],
                 ['stamp', contract])
        for argv in doors:
            with self.subTest(argv=argv):
                result = self.run_sync(*argv)
                self.assertEqual(1, result.code, result)
                self.assertRegex(result.stderr, f'{expand}.broken \\(?could '
                                 'not count its rows')
                self.assertIn('cannot be decided' if argv[1:] else
                              'the contract phase is not', result.stderr)
                self.assertIn('or, once its rows are known to be migrated, '
                              'add --ignore-phase-rules', result.stderr)
                self.assertEqual([['online-data-migrations']],
                                 self.advice(result.stderr)[:1])
                self.assertNotIn('Traceback', result.stderr)
                self.assertEqual(sorted(version),
                                 sorted(self.stored_version()))
                self.assertIn('action', self.columns())
        # The Python API: the same refusal, then the same override.
        migrate = self.api()
        for call in (migrate.upgrade, migrate.upgrade_contract):
            with self.subTest(api=call.__name__):
                error = self.assertRaises(exception.DataMigrationFailed,
                                          call)
                self.assertIn('add --ignore-phase-rules', str(error))
                self.assertIn('action', self.columns())
        migrate.upgrade_contract(ignore_phase_rules=True)
        self.assertNotIn('action', self.columns())
        self.assertSucceeded(self.run_sync('downgrade', 'contract@-1'))
        for argv in doors[:3]:
            with self.subTest(override=argv):
                result = self.assertSucceeded(self.run_sync(
                    *argv, '--ignore-phase-rules'))
                self.assertRegex(
                    result.stderr, f'phase rule {phases.ROWS_LEFT} '
                    r'overridden \(--ignore-phase-rules\): data '
                    rf'migration(\(s\))? {expand}.broken \(?could not count')
                self.assertEqual(1, result.stderr.count('overridden'))
                self.assertIn(contract, self.stored_version())
                self.assertNotIn('action', self.columns())
                self.assertCopied()
                # Back before the contract revision for the next door.
                self.assertSucceeded(self.run_sync('downgrade',
                                                   'contract@-1'))
                self.assertNotIn(contract, self.stored_version())
                self.assertIn('action', self.columns())

    def test_a_stuck_data_migration_stops_upgrade_with_the_way_on(self):
        # A data migration that runs until done and still has rows left:
        # the plain upgrade stops after its expand phase, naming the fix
        # and the override; the override runs the contract phase.
        self.assertSucceeded(self.run_sync('upgrade'))
        expand = self.write_revision(
            'expand', 'add tasks.name', rolling.EXPAND_BODY.replace(
                'data_migrations = (copy_action_to_name,)',
                rolling.STUCK_DATA_MIGRATION),
            rolling.DATA_MIGRATION_IMPORTS)
        contract = self.write_revision('contract', 'labels',
                                       CROSS_PHASE_BODY,
                                       rolling.EXPAND_IMPORTS)
        result = self.run_sync('upgrade')
        self.assertEqual(1, result.code, result)
        self.assertIn(f'{expand}.stuck (3 rows left); the expand phase is '
                      'applied, the contract phase is not', result.stderr)
        self.assertEqual([['online-data-migrations']],
                         self.advice(result.stderr))
        self.assertIn('until it exits 0, then this command again; or, once '
                      'its rows are known to be migrated, add '
                      '--ignore-phase-rules', result.stderr)
        self.assertIn(expand, self.stored_version())
        self.assertNotIn(contract, self.stored_version())
        result = self.assertSucceeded(self.run_sync(
            'upgrade', '--ignore-phase-rules'))
        self.assertIn(f'phase rule {phases.ROWS_LEFT} overridden '
                      '(--ignore-phase-rules): data migration(s) '
                      f'{expand}.stuck (3 rows left)', result.stderr)
        self.assertEqual(1, result.stderr.count('overridden'))
        self.assertIn(contract, self.stored_version())
        self.assertIn(LABELS, sa.inspect(self.engine).get_table_names())

    def test_a_count_that_raises_a_python_error_is_undecided_too(self):
        # Not only a database error: a function that looks up a column
        # that is gone (KeyError) cannot count its rows either.
        expand, _ = self.failing_pair(PYTHON_ERROR_DATA_MIGRATION)
        result = self.run_sync('upgrade', '--contract')
        self.assertEqual(1, result.code, result)
        self.assertIn(f"{expand}.looks_up could not count its rows: "
                      "'action'", result.stderr)
        self.assertIn('add --ignore-phase-rules', result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        self.assertIn('action', self.columns())
        result = self.assertSucceeded(self.run_sync(
            'upgrade', '--contract', '--ignore-phase-rules'))
        self.assertIn('overridden (--ignore-phase-rules)', result.stderr)
        self.assertNotIn('action', self.columns())
        self.assertCopied()

    def test_a_failure_with_no_contract_pending_is_not_gone_past(self):
        # The override goes past a rule; with no contract revision to
        # apply there is none, and a failed data migration fails the run.
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(ROWS)
        # Both branch roots applied: no contract revision is pending.
        self.write_revision('expand', 'labels', CROSS_PHASE_BODY,
                            rolling.EXPAND_IMPORTS)
        self.assertSucceeded(self.run_sync('upgrade'))
        expand = self.write_revision(
            'expand', 'add tasks.name', rolling.EXPAND_BODY.replace(
                'data_migrations = (copy_action_to_name,)',
                rolling.BROKEN_DATA_MIGRATION),
            rolling.DATA_MIGRATION_IMPORTS)
        for flags in ([], ['--ignore-phase-rules']):
            with self.subTest(flags=flags):
                result = self.run_sync('upgrade', *flags)
                self.assertEqual(1, result.code, result)
                self.assertIn(f'{expand}.broken (could not count its rows',
                              result.stderr)
                self.assertIn('the expand phase is applied: fix the data '
                              'migration', result.stderr)
                self.assertEqual([['online-data-migrations']],
                                 self.advice(result.stderr))
                self.assertNotIn('overridden', result.stderr)
                self.assertNotIn('add --ignore-phase-rules', result.stderr)
        self.assertIn(expand, self.stored_version())
        self.assertCopied()

    def meanwhile(self, after):
        """While the plain upgrade's data migrations run, once they are
        done, ``after()`` runs: the previous release, still serving,
        writes (the contract phase's lock is not held then)."""
        real = enamel_rolling.RollingUpgrades.online_data_migrations

        def data_migrations_then(rolling_upgrades, *args, **kwargs):
            report = real(rolling_upgrades, *args, **kwargs)
            after()
            return report
        return mock.patch.object(
            enamel_rolling.RollingUpgrades, 'online_data_migrations',
            autospec=True, side_effect=data_migrations_then)

    def test_a_refusal_after_the_expand_phase_says_it_is_applied(self):
        # What the contract phase of a plain upgrade finds under its lock
        # may differ from what the data migrations left: rows written
        # meanwhile, or a count that fails now. Its refusal comes after
        # the expand phase and the data migrations ran in the same run,
        # and says so.
        expand, contract = self.guide_pair(FAILS_ONCE_NOTES_EXIST)
        migrate = self.api()
        with self.meanwhile(lambda: self.previous_release_writes(2, ROWS)):
            error = self.assertRaises(exception.PhaseRefused,
                                      migrate.upgrade)
        self.assertEqual(phases.ROWS_LEFT, error.refusals[0].rule)
        self.assertIn('copy_action_to_name: 2', str(error))
        with self.meanwhile(self.notes_table):
            failed = self.assertRaises(exception.DataMigrationFailed,
                                       migrate.upgrade)
        self.assertIn(f'{expand}.checks_notes could not count its rows',
                      str(failed))
        for message in (str(error), str(failed)):
            self.assertIn('the expand phase is applied and the data '
                          'migrations ran, nothing else was changed',
                          message)
            self.assertNotIn('nothing was changed', message)
        self.assertIn(expand, self.stored_version())
        self.assertNotIn(contract, self.stored_version())
        self.assertIn('action', self.columns())
        # The second run's data migrations copied the rows written
        # meanwhile in the first.
        self.assertEqual([f'action-{i}' for i in range(ROWS + 2)],
                         self.names())
        # The way on the advice names: the count fixed, then the run.
        with self.engine.begin() as connection:
            connection.execute(sa.text(f'DROP TABLE {NOTES}'))
        self.assertSucceeded(self.run_sync('online-data-migrations'))
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertIn(contract, self.stored_version())
        self.assertNotIn('action', self.columns())

    def notes_table(self):
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                f'CREATE TABLE {NOTES} (id INTEGER PRIMARY KEY)'))

    def test_done_data_migrations_let_every_door_through(self):
        expand, contract = self.rows_left()
        self.assertSucceeded(self.run_sync('online-data-migrations'))
        self.assertSucceeded(self.run_sync('upgrade', contract[:8]))
        self.assertCopied()
        self.assertNotIn('action', self.columns())
        self.assertEqual(0, self.check()['exit_code'])

    def test_the_override_goes_past_the_rule_and_says_so(self):
        # No rows to move (a new deployment): going past the rule on
        # purpose is safe, and the run says which rule it broke.
        self.assertSucceeded(self.run_sync('upgrade'))
        self.release_n()
        contract = self.release_n_plus_1()
        self.assertRefused(self.run_sync('upgrade', contract),
                           'expand-before-contract', contract)
        result = self.assertSucceeded(self.run_sync(
            'upgrade', contract, '--ignore-phase-rules'))
        self.assertIn('phase rule expand-before-contract overridden '
                      '(--ignore-phase-rules)', result.stderr)
        self.assertNotIn('action', self.columns())
        # With rows left, the override runs contract, which then fails on
        # the rows never copied: the override is the user's to own.
        self.assertIn('--ignore-phase-rules', self.run_sync(
            'upgrade', '--help').stdout)

    def test_contract_in_the_same_run_as_its_expand_is_refused(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.previous_release_writes(ROWS)
        self.release_n()
        contract = self.release_n_plus_1()
        version = self.stored_version()
        result = self.run_sync('upgrade', contract)
        self.assertRefused(result, 'expand-before-contract', contract)
        self.assertEqual(version, self.stored_version())
        self.assertNotIn('name', self.columns())
        # The advice, followed: --expand, online-data-migrations, again.
        for argv in self.advice(result.stderr):
            self.assertSucceeded(self.run_sync(*argv))
        self.assertSucceeded(self.run_sync('upgrade', contract))
        self.assertCopied()
        self.assertNotIn('action', self.columns())

    # -- offline scripts ---------------------------------------------------

    def test_sql_range_into_contract_is_refused_and_the_advice_works(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        old_head = self.one_version_row()
        self.previous_release_writes(ROWS)
        self.release_n()
        self.release_n_plus_1()
        result = self.run_sync('upgrade', '--sql', f'{old_head}:heads')
        self.assertRefused(result, 'offline-contract-after-data-migrations',
                           'contract', code=1)
        self.assertEqual('', result.stdout)
        self.assertEqual([old_head], self.stored_version())
        commands = self.advice(result.stderr)
        self.assertEqual(3, len(commands), result.stderr)
        expand_sql, odm, contract_sql = commands
        # The expand part, run by the engine's own client.
        script = self.assertSucceeded(self.run_sync(*expand_sql)).stdout
        self.assertNotIn('enamel-sync: this script applies', script)
        self.run_natively(script)
        self.assertIn('name', self.columns())
        self.assertEqual(7, self.check()['exit_code'])
        self.assertSucceeded(self.run_sync(*odm))
        if self.engine.dialect.name == 'sqlite':
            # alembic cannot write SQLite's batch ALTER (a table copy)
            # without reading the live table: the contract part runs
            # online there.
            result = self.run_sync(*contract_sql)
            self.assertEqual(1, result.code, result)
            self.assertIn('cannot be written as SQL', result.stderr)
            contract_sql = [a for a in contract_sql if a != '--sql']
            contract_sql[-1] = contract_sql[-1].split(':')[1]
            self.assertSucceeded(self.run_sync(*contract_sql))
            self.assertCopied()
            return
        script = self.assertSucceeded(self.run_sync(*contract_sql)).stdout
        self.assertTrue(script.startswith(
            '-- enamel-sync: this script applies the contract revision(s)'),
            script[:200])
        self.run_natively(script)
        self.assertCopied()
        self.assertNotIn('action', self.columns())
        self.assertEqual(0, self.check()['exit_code'])

    def one_version_row(self):
        """The one revision the database is at, where an ``--sql`` range
        starts (alembic's ``start:end`` takes one). Where today's heads
        are several (an expand head that no contract revision depends on
        yet), a contract revision that depends on it joins them first, as
        autogenerate's split does."""
        if len(self.stored_version()) > 1:
            self.assertSucceeded(self.run_sync(
                'revision', '--contract', '-m', 'join the heads'))
            self.assertSucceeded(self.run_sync('upgrade'))
        version, = self.stored_version()
        return version

    def run_natively(self, script):
        """Run an SQL script in the engine's own client."""
        url = self.engine.url
        if url.get_backend_name() == 'sqlite':
            argv = ['sqlite3', '-bail', url.database]
        elif url.get_backend_name() == 'postgresql':
            argv = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h',
                    url.host or '127.0.0.1', '-U', url.username,
                    url.database]
        else:
            argv = ['mariadb', '-h', url.host or '127.0.0.1', '-u',
                    url.username, f'-p{url.password}', url.database]
        done = subprocess.run(argv, input=script, text=True,
                              capture_output=True, timeout=120,
                              env=dict(os.environ,
                                       PGPASSWORD=url.password or ''))
        self.assertEqual(0, done.returncode, done.stderr + script)

    # -- dependencies across phases ----------------------------------------

    def test_an_expand_that_needs_a_contract_is_refused_then_advised(self):
        expand, contract = self.rows_left()
        needs = self.write_revision('expand', 'add labels',
                                    CROSS_PHASE_BODY, rolling.EXPAND_IMPORTS)
        self.depend(needs, contract)
        version = self.stored_version()
        for argv in (('upgrade', '--expand'), ('upgrade',),
                     ('upgrade', needs)):
            with self.subTest(argv=argv):
                result = self.run_sync(*argv)
                self.assertRefused(result, 'cross-phase-dependency', needs)
                self.assertIn(contract, result.stderr)
                self.assertUnchanged(version)
        result = self.run_sync('upgrade', '--expand')
        for argv in self.advice(result.stderr):
            self.assertSucceeded(self.run_sync(*argv))
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        self.assertIn(LABELS, sa.inspect(self.engine).get_table_names())
        self.assertCopied()
        report = self.check()
        self.assertEqual([], report['pending'])
        self.assertEqual({}, report['phases']['data_migrations'])

    def test_a_new_database_upgrades_past_a_cross_phase_dependency(self):
        # No release serves from a new database: a history whose expand
        # revisions depend on contract ones (neutron's) upgrades in one
        # run, online and as a script, as plain alembic does.
        self.release_n()
        contract = self.release_n_plus_1()
        needs = self.write_revision('expand', 'add labels',
                                    CROSS_PHASE_BODY, rolling.EXPAND_IMPORTS)
        self.depend(needs, contract)
        if self.engine.dialect.name != 'sqlite':
            # (SQLite's batch ALTER of the contract revision needs a live
            # table: alembic cannot print it.)
            script = self.assertSucceeded(self.run_sync('upgrade', '--sql'))
            self.assertRegex(script.stdout, rf'CREATE TABLE [`"]?{LABELS}\b')
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertIn(LABELS, sa.inspect(self.engine).get_table_names())
        self.assertNotIn('action', self.columns())
        self.assertEqual([], self.check()['pending'])

    def depend(self, revision_id, on):
        path = self.revision_path(revision_id)
        with open(path) as f:
            source = f.read()
        source = re.sub(r'^depends_on = .*$', f'depends_on = {on!r}',
                        source, flags=re.M)
        with open(path, 'w') as f:
            f.write(source)

    # -- revisions on neither branch ---------------------------------------

    def test_a_revision_on_neither_branch_is_named_everywhere(self):
        self.start_branches()
        neither = self.write_neither()
        for argv in (('upgrade',), ('upgrade', '--expand'),
                     ('upgrade', '--contract'), ('upgrade', neither)):
            with self.subTest(argv=argv):
                result = self.run_sync(*argv)
                self.assertRefused(result, 'neither-branch', neither)
                self.assertIn('set down_revision', result.stderr)
                self.assertNotIn(NOTES,
                                 sa.inspect(self.engine).get_table_names())
        check = self.run_sync('check')
        self.assertEqual(3, check.code, check)
        self.assertIn(f'revision {neither}', check.stdout)
        self.assertIn('set down_revision', check.stdout)
        lint = self.run_sync('lint')
        self.assertIn(f'{neither} (neither) neither-branch', lint.stdout)
        revision = self.run_sync('revision', '--expand', '-m', 'more')
        self.assertIn(f'revision {neither}', revision.stderr)
        # The advice, followed: its down_revision becomes the expand head.
        result = self.run_sync('upgrade', '--expand')
        head = re.search(r"down_revision = '(\w+)' \(the expand head\)",
                         result.stderr.replace("\\'", "'"))
        self.assertIsNotNone(head, result.stderr)
        self.move(neither, head.group(1))
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertIn(NOTES, sa.inspect(self.engine).get_table_names())

    def test_a_revision_added_by_a_configure_callback(self):
        self.start_branches()
        neither = self.write_neither()
        migrate = self.api()
        error = self.assertRaises(exception.PhaseRefused, migrate.upgrade)
        self.assertEqual('neither-branch', error.refusals[0].rule)
        self.assertEqual(neither, error.refusals[0].revision)
        self.assertNotIn(NOTES, sa.inspect(self.engine).get_table_names())

    # -- two developers' heads on one branch --------------------------------

    def test_unmerged_expand_heads_run_and_merge_on_their_branch(self):
        # A script for today's history: on SQLite, none where one of its
        # revisions alters a table in batch (a table copy alembic cannot
        # print without reading the live table).
        todays_script = self.run_sync('upgrade', '--sql')
        self.start_branches()
        root = self.current_heads()['expand']
        first = self.write_revision('expand', 'labels', CROSS_PHASE_BODY,
                                    rolling.EXPAND_IMPORTS)
        second = self.write_on(root, 'notes', NEITHER_BODY)
        contract_head = self.current_heads()['contract']
        check = self.run_sync('check')
        self.assertEqual(3, check.code, check)
        self.assertIn(first, check.stdout)
        self.assertIn(second, check.stdout)
        # A script for a new database reaches every head, and so does the
        # expand phase's script (a tuple of the branch's heads).
        for argv in (('upgrade', '--sql'), ('upgrade', '--sql', '--expand')):
            script = self.run_sync(*argv)
            if script.code:
                # On SQLite, refused for a revision of today's history
                # that alters a table in batch (one the expand phase's
                # script may not reach).
                self.assertEqual('sqlite', self.engine.dialect.name)
                self.assertEqual(1, script.code, script)
                refused = re.search(
                    r'revision (\w+) cannot be written as SQL',
                    script.stderr)
                self.assertIsNotNone(refused, script)
                self.assertIn(refused.group(0), todays_script.stderr)
            else:
                self.assertSucceeded(script)
                self.assertRegex(script.stdout,
                                 rf'CREATE TABLE [`"]?{LABELS}\b')
                self.assertRegex(script.stdout,
                                 rf'CREATE TABLE [`"]?{NOTES}\b')
        # A merge of both branches' heads is refused, nothing written.
        before = sorted(os.listdir(self.versions))
        result = self.run_sync('merge', contract_head, first, '-m', 'm')
        self.assertEqual(2, result.code, result)
        self.assertIn('would join the branches', result.stderr)
        self.assertEqual(before, sorted(os.listdir(self.versions)))
        # The expand phase applies both heads.
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        tables = sa.inspect(self.engine).get_table_names()
        self.assertIn(LABELS, tables)
        self.assertIn(NOTES, tables)
        # merge heads merges the expand heads only; one head per branch.
        merged = self.assertSucceeded(self.run_sync(
            'merge', 'heads', '-m', 'merge the expand heads'))
        with open(merged.stdout.strip()) as f:
            self.assertRegex(f.read(), r"down_revision = \('(%s|%s)', "
                             r"'(%s|%s)'\)" % (first, second, first, second))
        heads = self.current_heads()
        self.assertEqual(contract_head, heads['contract'])
        self.assertSucceeded(self.run_sync('upgrade'))
        self.assertEqual([], self.check()['pending'])

    def test_a_merge_of_both_branches_is_named_not_circled(self):
        self.start_branches()
        heads = self.current_heads()
        joined = self.write_on(heads['expand'], 'notes', NEITHER_BODY)
        self.move(joined, (heads['expand'], heads['contract']))
        version = self.stored_version()
        for argv in (('upgrade',), ('upgrade', '--expand'),
                     ('upgrade', '--contract'), ('upgrade', 'heads')):
            with self.subTest(argv=argv):
                result = self.run_sync(*argv)
                self.assertRefused(result, 'neither-branch', joined)
                self.assertIn('on both the expand and the contract branch',
                              result.stderr)
                self.assertIn('merge heads', result.stderr)
                self.assertEqual(sorted(version),
                                 sorted(self.stored_version()))
        check = self.run_sync('check')
        self.assertEqual(3, check.code, check)
        self.assertIn(f'revision {joined}', check.stdout)
        # The advice, followed: the merge goes; nothing is left to merge.
        os.remove(self.revision_path(joined))
        self.assertSucceeded(self.run_sync('upgrade'))
        result = self.run_sync('merge', 'heads', '-m', 'm')
        self.assertEqual(2, result.code, result)
        self.assertIn('nothing to merge', result.stderr)

    def current_heads(self):
        """{'expand': id, 'contract': id} of the scratch history."""
        result = self.assertSucceeded(self.run_sync('heads'))
        found = {}
        for line in result.stdout.splitlines():
            for phase in ('expand', 'contract'):
                if f'({phase})' in line:
                    found[phase] = line.split()[0]
        return found

    def write_on(self, down_revision, message, body):
        """A revision on ``down_revision`` (with ``--splice``: two
        developers each wrote one on the same head); its id."""
        result = self.assertSucceeded(self.run_sync(
            'revision', '-m', message, '--head', down_revision,
            '--splice'))
        path = result.stdout.splitlines()[-1]
        with open(path) as f:
            head, _ = f.read().split('\n\ndef upgrade():', 1)
        with open(path, 'w') as f:
            f.write(head.replace('"""\n\n', '"""\n\n' +
                                 rolling.EXPAND_IMPORTS, 1) + body)
        return re.search(r"^revision = '(\w+)'", head, re.M).group(1)

    def write_neither(self):
        """A revision written by hand at the branch point, on neither
        branch; its id."""
        result = self.assertSucceeded(self.run_sync(
            'revision', '-m', 'notes', '--head', 'expand@head'))
        path = result.stdout.splitlines()[-1]
        with open(path) as f:
            source = f.read()
        revision = re.search(r"^revision = '(\w+)'", source, re.M).group(1)
        branch_point = self.scratch_script().get_revision(
            'expand').down_revision
        self.move(revision, branch_point, path)
        with open(path) as f:
            head, _ = f.read().split('\n\ndef upgrade():', 1)
        with open(path, 'w') as f:
            f.write(head.replace('"""\n\n', '"""\n\n' +
                                 rolling.EXPAND_IMPORTS, 1) + NEITHER_BODY)
        return revision

    def move(self, revision_id, down_revision, path=None):
        path = path or self.revision_path(revision_id)
        with open(path) as f:
            source = f.read()
        source = re.sub(r'^down_revision = .*$',
                        f'down_revision = {down_revision!r}', source,
                        flags=re.M)
        with open(path, 'w') as f:
            f.write(source)


# Listed first, as rolling.BROKEN_DATA_MIGRATION: a Python error, not a
# database's (a column looked up by name that is gone).
PYTHON_ERROR_DATA_MIGRATION = '''

def looks_up(connection, limit):
    raise KeyError('action')


data_migrations = (looks_up, copy_action_to_name)'''


# Counts nothing left until the notes table exists, then cannot count.
FAILS_ONCE_NOTES_EXIST = f'''

def checks_notes(connection, limit):
    if sa.inspect(connection).has_table({NOTES!r}):
        raise KeyError('notes')
    return 0, 0


data_migrations = (checks_notes, copy_action_to_name)'''


API_STUCK_BODY = """

def upgrade():
    pass


def downgrade():
    pass


def stuck(connection, limit):
    return 0, 3


data_migrations = (stuck,)
"""


class SeveralDatabasesTest(rolling.RollingUpgradeSteps, base.SQLiteBackend,
                           base.TestCase):

    def setUp(self):
        super().setUp()
        api = os.path.join(self.workdir, 'api.sqlite')
        self.config_file = os.path.join(self.workdir, 'two.conf')
        with open(self.config_file, 'w') as f:
            f.write(f'[database]\nconnection = {self.url}\n'
                    f'[api_database]\nconnection = sqlite:///{api}\n')

    def broken_expand(self):
        """Main at today's head, then the guide's expand revision with a
        data migration that fails."""
        self.assertSucceeded(self.run_sync('upgrade'))
        self.write_revision(
            'expand', 'add tasks.name', rolling.EXPAND_BODY.replace(
                'data_migrations = (copy_action_to_name,)',
                rolling.BROKEN_DATA_MIGRATION),
            rolling.DATA_MIGRATION_IMPORTS)

    def test_data_migration_codes_combine_among_themselves(self):
        # main: a data migration that fails (2); api, a history without
        # branches: one that always has rows left (1).
        self.broken_expand()
        path = self.assertSucceeded(self.run_sync(
            'revision', '--database', 'api', '-m', 'stuck')).stdout.strip()
        with open(path) as f:
            head, _ = f.read().split('\n\ndef upgrade():', 1)
        with open(path, 'w') as f:
            f.write(head + API_STUCK_BODY)
        self.assertSucceeded(self.run_sync('upgrade', '--expand'))
        result = self.run_sync('online-data-migrations', '--format', 'json')
        # Failed (2) before rows left (1): never ranked with the generic
        # codes, where 1 (error) would come first.
        self.assertEqual(2, result.code, result)
        report = json.loads(result.stdout)['databases']
        self.assertEqual(2, report['main']['exit_code'])
        self.assertEqual(1, report['api']['exit_code'])
        self.assertEqual(set(report['main']), set(report['api']))
        # check: every database the same keys; the unbranched api
        # history never speaks of phases.
        result = self.run_sync('check', '--format', 'json')
        checks = json.loads(result.stdout)['databases']
        self.assertEqual(set(checks['main']), set(checks['api']))
        self.assertIsNone(checks['api']['phases'])
        text = self.run_sync('check')
        api_lines = [line for line in text.stdout.splitlines()
                     if line.startswith('[api]')]
        self.assertTrue(api_lines, text)
        for line in api_lines:
            self.assertNotIn('expand', line)
            self.assertNotIn('contract', line)

    def test_the_way_past_a_data_migration_names_its_database(self):
        # With two databases, the advice of one names it: followed, the
        # override goes past main's rule only, the api database waits.
        self.broken_expand()
        contract = self.write_revision('contract', 'drop tasks.action',
                                       rolling.CONTRACT_BODY,
                                       rolling.EXPAND_IMPORTS)
        api_revision = self.assertSucceeded(self.run_sync(
            'revision', '--database', 'api', '-m', 'api step')).stdout
        api_revision = os.path.basename(api_revision.strip()).split('_')[0]
        result = self.run_sync('upgrade')
        self.assertEqual(1, result.code, result)
        self.assertIn('[main] ', result.stderr)
        self.assertIn('add --ignore-phase-rules --database main',
                      result.stderr)
        self.assertIn('"enamel-sync online-data-migrations --database '
                      'main" until it exits 0, then this command again',
                      result.stderr)
        self.assertSucceeded(self.run_sync(
            'upgrade', '--ignore-phase-rules', '--database', 'main'))
        self.assertIn(contract, self.stored_version())
        self.assertNotIn(api_revision, self.api_version())
        result = self.assertSucceeded(self.run_sync('upgrade'))
        self.assertNotIn('overridden', result.stderr)
        self.assertEqual([api_revision], self.api_version())

    def api_version(self):
        engine = sa.create_engine(
            'sqlite:///' + os.path.join(self.workdir, 'api.sqlite'))
        self.addCleanup(engine.dispose)
        with engine.connect() as connection:
            return connection.execute(sa.text(
                'SELECT version_num FROM alembic_version_api')
            ).scalars().all()


base.for_each_backend(PhaseRuleTests, globals())
