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

"""Every enamel-sync command against a real database on every engine."""

import json
import os
import re
import stat

import sqlalchemy as sa

from enamel import heads_file
from enamel import migration
from enamel import models
from enamel import phases as phases_module
from tests import base

CHECK_KEYS = {'state', 'current', 'heads', 'pending', 'differences',
              'phases', 'error', 'notes', 'accepted', 'exit_code'}
SCRIPT_KEYS = {'revision', 'down_revisions', 'branch_labels', 'message',
               'is_head', 'is_current'}


def script():
    """The bundled script directory (main database)."""
    return base.bundled_script()


def heads():
    """The bundled heads, sorted (two in the rolling-upgrade layout)."""
    return sorted(script().get_heads())


def revisions():
    """Every bundled revision id, newest first, as history lists them."""
    return [r.revision for r in script().walk_revisions()]


def first():
    """The revision on base, what ``upgrade +1`` reaches."""
    return base.first_revision(script())


def upgraded():
    """The revisions the version table holds once every bundled revision
    is applied, sorted: the one head; in the rolling-upgrade layout the
    contract branch's head, and the expand branch's head too unless the
    contract head depends on it. Read from the script directory, so that
    a new revision keeps the tests green."""
    return base.upgraded_version(base.bundled_script())


def head():
    """The one revision the version table holds once every bundled
    revision is applied (the one head, or in the rolling-upgrade layout
    the contract branch's head when it depends on the expand branch's),
    for the tests that need one; :func:`upgraded` holds on any history.
    Read from the script directory, so that a new revision keeps the
    tests green."""
    (revision,) = upgraded()
    return revision


def listed(text, prefix, end='\n'):
    """The revision ids a line of ``text`` lists after ``prefix`` (up to
    ``end``, comma separated, in the database's order), sorted."""
    found = re.search(re.escape(prefix) + '([^' + re.escape(end) + ']*)',
                      text)
    return sorted(found.group(1).split(', ')) if found else None


class CommandTests:

    def version(self):
        return self.assertSucceeded(self.sync('version')).stdout.split()

    def execute(self, statement):
        with self.engine.begin() as connection:
            connection.execute(sa.text(statement))

    def set_unknown_version(self, revision='f00d'):
        """The version table holds ``revision`` alone (one row, however
        many the history's heads made)."""
        with self.engine.begin() as connection:
            connection.execute(sa.text('DELETE FROM alembic_version'))
            connection.execute(sa.text(
                'INSERT INTO alembic_version (version_num) VALUES (:r)'),
                dict(r=revision))

    def check(self, *args):
        result = self.sync('check', '--format', 'json', *args)
        report = json.loads(result.stdout)
        self.assertEqual(CHECK_KEYS, set(report))
        self.assertEqual(result.code, report['exit_code'])
        return report

    # -- upgrade / downgrade ----------------------------------------------

    def test_upgrade_creates_schema_and_version_prints_head(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.assertEqual(
            {'alembic_version'} | set(models.Base.metadata.tables),
            self.tables())
        result = self.assertSucceeded(self.sync('version'))
        self.assertEqual(upgraded(), sorted(result.stdout.splitlines()))
        check = self.sync('check')
        self.assertEqual(0, check.code, check)

    def test_debug_shows_alembic_running_each_revision(self):
        result = self.assertSucceeded(self.sync('--debug', 'upgrade'))
        self.assertIn(f'Running upgrade  -> {first()}', result.stderr)
        for revision in revisions():
            self.assertIn(f'Upgraded to {revision}', result.stderr)

    def test_upgrade_again_changes_nothing(self):
        self.assertSucceeded(self.sync('upgrade'))
        result = self.assertSucceeded(self.sync('upgrade'))
        self.assertEqual(upgraded(), listed(
            result.stderr, 'Nothing to do: the database is at '))
        self.assertNotIn('Upgraded', result.stderr)
        self.assertEqual(upgraded(), sorted(self.version()))

    def test_upgrade_and_downgrade_relative(self):
        self.assertSucceeded(self.sync('upgrade', '+1'))
        self.assertEqual([first()], self.version())
        result = self.assertSucceeded(self.sync('downgrade', '-1'))
        self.assertIn(f'Downgraded {first()}', result.stderr)
        self.assertEqual([], self.version())
        self.assertEqual({'alembic_version'}, self.tables())

    def test_downgrade_defaults_to_minus_one(self):
        self.assertSucceeded(self.sync('upgrade', first()))
        self.assertSucceeded(self.sync('downgrade'))
        self.assertEqual([], self.version())

    def test_downgrade_to_base_with_revision_option(self):
        self.assertSucceeded(self.sync('upgrade', '--revision', 'heads'))
        self.assertSucceeded(self.sync('downgrade', '--revision', 'base'))
        self.assertEqual([], self.version())
        self.assertEqual({'alembic_version'}, self.tables())

    def test_downgrade_below_base_is_usage_error(self):
        # Exit 2 as any relative revision that goes past base; the message
        # says where the database is instead of alembic's "Relative
        # revision -1 didn't produce 1 migrations".
        for argv in (['downgrade'], ['downgrade', '-1']):
            result = self.sync(*argv)
            self.assertEqual(2, result.code, result)
            self.assertEqual(
                'enamel-sync: error: downgrade -1: the database is at base '
                '(it has no version): there is nothing to downgrade\n',
                result.stderr)
        self.assertEqual([], self.version())

    def test_upgrade_accepts_tag(self):
        self.assertSucceeded(self.sync('upgrade', '--tag', 'deploy-42'))
        self.assertEqual(upgraded(), sorted(self.version()))

    # -- stamp ------------------------------------------------------------

    def test_stamp_moves_the_version_only(self):
        result = self.assertSucceeded(self.sync('stamp', 'heads'))
        self.assertEqual(upgraded(), listed(result.stderr, 'Stamped '))
        self.assertEqual(upgraded(), sorted(self.version()))
        self.assertEqual({'alembic_version'}, self.tables())
        self.assertSucceeded(self.sync('stamp', '--revision', 'base',
                                       '--tag', 'rollback'))
        self.assertEqual([], self.version())

    def test_stamp_purge_replaces_an_unknown_revision(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.set_unknown_version()
        refused = self.sync('stamp', 'heads')
        self.assertEqual(5, refused.code, refused)
        result = self.assertSucceeded(
            self.sync('stamp', '--purge', 'heads'))
        self.assertEqual(upgraded(), listed(result.stderr, 'Stamped '))
        self.assertEqual(upgraded(), sorted(self.version()))

    # -- reading the version and the history ------------------------------

    def test_version_formats(self):
        self.assertEqual('', self.assertSucceeded(
            self.sync('version')).stdout)
        self.assertEqual({'current': []}, json.loads(
            self.sync('version', '--format', 'json').stdout))
        self.assertSucceeded(self.sync('upgrade'))
        current = json.loads(
            self.sync('version', '--format', 'json').stdout)
        self.assertEqual(['current'], list(current))
        self.assertEqual(upgraded(), sorted(current['current']))
        verbose = self.assertSucceeded(self.sync('version', '--verbose'))
        self.assertEqual(
            sorted(f'{r} {script().get_revision(r).doc}' for r in upgraded()),
            sorted(verbose.stdout.splitlines()))

    def test_current(self):
        self.assertSucceeded(self.sync('upgrade'))
        result = self.assertSucceeded(self.sync('current'))
        for revision in upgraded():
            self.assertIn(f'{revision} ', result.stdout)
        self.assertIn('(head)', result.stdout)
        result = self.assertSucceeded(self.sync('current', '--verbose'))
        self.assertIn('Current revision(s) for', result.stdout)
        for revision in upgraded():
            self.assertIn(f'Rev: {revision} ', result.stdout)
        if self.engine.url.password:
            self.assertNotIn(f':{self.engine.url.password}@', result.stdout)

    def test_history(self):
        result = self.assertSucceeded(self.sync('history'))
        lines = result.stdout.splitlines()
        # One line per revision, newest first, as alembic lists them.
        self.assertEqual(revisions(), [
            line.split(' -> ')[1].split()[0].rstrip(',') for line in lines])
        self.assertTrue(lines[-1].startswith(f'<base> -> {first()}'),
                        lines)
        ranged = self.assertSucceeded(
            self.sync('history', '--rev-range', 'base:heads'))
        self.assertEqual(result.stdout, ranged.stdout)
        verbose = self.assertSucceeded(self.sync('history', '--verbose'))
        for revision in revisions():
            self.assertIn(f'Revision ID: {revision}', verbose.stdout)

    def test_history_indicate_current(self):
        before = self.assertSucceeded(
            self.sync('history', '--indicate-current'))
        self.assertNotIn('(current)', before.stdout)
        self.assertSucceeded(self.sync('upgrade'))
        after = self.assertSucceeded(
            self.sync('history', '--indicate-current'))
        marked = [line.split(' -> ')[1].split()[0].rstrip(',')
                  for line in after.stdout.splitlines()
                  if line.endswith(' (current)')]
        self.assertEqual(upgraded(), sorted(marked), after.stdout)

    def test_history_json(self):
        self.assertSucceeded(self.sync('upgrade'))
        result = self.assertSucceeded(
            self.sync('history', '-i', '--format', 'json'))
        report = json.loads(result.stdout)
        self.assertEqual(revisions(), [r['revision'] for r in report])
        self.assertEqual({
            'revision': first(), 'down_revisions': [],
            'branch_labels': sorted(script().get_revision(
                first()).branch_labels),
            'message': 'create tasks and task items',
            'is_head': first() in heads(),
            'is_current': first() in upgraded()}, report[-1])
        self.assertEqual(upgraded(), sorted(
            r['revision'] for r in report if r['is_current']))
        self.assertEqual(
            heads(), sorted(r['revision'] for r in report if r['is_head']))

    def test_history_bad_range_is_usage_error(self):
        result = self.sync('history', '--rev-range', 'head')
        self.assertEqual(2, result.code, result)
        self.assertIn('A:B', result.stderr)

    def test_heads(self):
        result = self.assertSucceeded(self.sync('heads'))
        self.assertEqual(heads(), sorted(
            line.split()[0] for line in result.stdout.splitlines()))
        self.assertIn('(head)', result.stdout)
        verbose = self.assertSucceeded(self.sync('heads', '--verbose'))
        for revision in heads():
            self.assertIn(f'Rev: {revision} ', verbose.stdout)
            # Its parent, or what a merge head merges (alembic's words).
            parents = script().get_revision(revision).down_revision
            if isinstance(parents, tuple):
                self.assertIn(f'Merges: {", ".join(parents)}\n',
                              verbose.stdout)
            else:
                self.assertIn(f'Parent: {parents or "<base>"}\n',
                              verbose.stdout)
        report = json.loads(self.assertSucceeded(
            self.sync('heads', '--format', 'json')).stdout)
        self.assertEqual(heads(), sorted(h['revision'] for h in report))
        self.assertEqual(SCRIPT_KEYS, set(report[0]))

    def test_branches_without_branch_points_prints_nothing(self):
        result = self.assertSucceeded(self.sync('branches', '--verbose'))
        # A branch point has several revisions revising it (the
        # rolling-upgrade layout's roots revise one).
        points = [r.revision for r in script().walk_revisions()
                  if r.is_branch_point]
        if not points:
            self.assertEqual('', result.stdout)
        for revision in points:
            self.assertIn(f'Rev: {revision} (branchpoint)', result.stdout)

    def test_show(self):
        result = self.assertSucceeded(self.sync('show', first()))
        self.assertIn(f'Rev: {first()}', result.stdout)
        self.assertIn('create tasks and task items', result.stdout)
        same = self.assertSucceeded(self.sync('show', '--revision', first()))
        self.assertEqual(result.stdout, same.stdout)
        result = self.assertSucceeded(self.sync('show', 'heads'))
        # alembic's "heads" leaves out a head another head depends_on.
        for revision in (r.revision for r in script().get_revisions('heads')):
            self.assertIn(f'Rev: {revision} ', result.stdout)
        unknown = self.sync('show', 'f00d')
        self.assertEqual(2, unknown.code, unknown)
        self.assertIn('f00d', unknown.stderr)

    def test_edit_opens_the_revision_in_editor(self):
        record = os.path.join(self.workdir, 'edited')
        editor = os.path.join(self.workdir, 'editor.sh')
        with open(editor, 'w') as f:
            f.write(f'#!/bin/sh\necho "$1" > {record}\n')
        os.chmod(editor, stat.S_IRWXU)
        self.useFixture(base.fixtures.EnvironmentVariable('EDITOR', editor))
        self.assertSucceeded(self.sync('edit', heads()[0]))
        with open(record) as f:
            edited = f.read().strip()
        expected = migration.Migration(None).script.get_revision(
            heads()[0]).path
        self.assertEqual(expected, edited)

    def test_edit_with_an_editor_not_found_or_failing_is_an_error(self):
        # A tester's report: alembic quietly ran sensible-editor (vim on
        # a non-terminal) for an EDITOR it could not find, and a failing
        # editor was a usage error (exit 2).
        cases = [
            ('nonexistent-editor-h26',
             'EDITOR=nonexistent-editor-h26: no such editor'),
            ('/bin/false', 'the editor failed: '),
        ]
        for editor, expected in cases:
            with base.fixtures.EnvironmentVariable('EDITOR', editor):
                result = self.sync('edit', heads()[0])
            self.assertEqual(1, result.code, result)
            self.assertEqual(1, len(result.stderr.splitlines()), result)
            self.assertTrue(result.stderr.startswith(
                f'enamel-sync: error: {expected}'), result)

    # -- check ------------------------------------------------------------

    def test_check_empty_database_is_pending(self):
        report = self.check()
        self.assertEqual(3, report['exit_code'])
        self.assertEqual('upgrade_pending', report['state'])
        self.assertEqual([], report['current'])
        self.assertEqual(heads(), sorted(report['heads']))
        self.assertEqual(sorted(revisions()), sorted(report['pending']))

    def test_check_at_head(self):
        self.assertSucceeded(self.sync('upgrade'))
        report = self.check()
        phases = report.pop('phases')
        report['current'] = sorted(report['current'])
        if phases_module.branched(script()):
            # Nothing pending in any phase.
            self.assertFalse(any(phases.values()), phases)
        else:
            # A history without expand and contract branches never
            # speaks of phases.
            self.assertIsNone(phases)
        self.assertEqual(
            {'state': 'at_head', 'current': upgraded(),
             'heads': report['heads'],
             'pending': [], 'differences': [], 'exit_code': 0,
             'error': None, 'notes': [], 'accepted': []}, report)
        text = self.sync('check')
        self.assertEqual(0, text.code, text)
        self.assertEqual(upgraded(), listed(text.stdout, 'at head ', ';'))
        self.assertEqual(heads(), sorted(report['heads']))

    def test_check_drift(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.execute('ALTER TABLE tasks ADD COLUMN extra INTEGER')
        report = self.check()
        self.assertEqual(4, report['exit_code'])
        self.assertEqual('schema_drift', report['state'])
        self.assertEqual(1, len(report['differences']), report)
        self.assertIn('remove_column', report['differences'][0])
        self.assertIn('extra', report['differences'][0])
        text = self.sync('check')
        self.assertEqual(4, text.code, text)
        self.assertIn('extra', text.stdout)

    def test_check_unknown_revision(self):
        self.assertSucceeded(self.sync('upgrade'))
        self.set_unknown_version()
        report = self.check()
        self.assertEqual(5, report['exit_code'])
        self.assertEqual('unknown_revision', report['state'])
        self.assertEqual(['f00d'], report['current'])

    def test_check_unversioned(self):
        models.Base.metadata.create_all(self.engine)
        report = self.check()
        self.assertEqual(6, report['exit_code'])
        self.assertEqual('unversioned', report['state'])
        self.assertEqual([], report['current'])

    # -- schema dump ------------------------------------------------------

    def test_schema_dump_rebuilds_the_schema(self):
        self.assertSucceeded(self.sync('upgrade'))
        dump = self.assertSucceeded(self.sync('schema-dump')).stdout
        for table in ('tasks', 'task_items'):
            self.assertIn(f'CREATE TABLE {table}', dump)
        # enamel's bookkeeping is not part of the schema: stamp makes it.
        self.assertNotIn('alembic_version', dump)
        # Rebuilt from the dump alone, the schema is the models' schema.
        self.assertSucceeded(self.sync('downgrade', 'base'))
        self.execute('DROP TABLE alembic_version')
        self.assertEqual(set(), self.tables())
        with self.engine.begin() as connection:
            for statement in dump.split(';\n\n'):
                if statement.strip():
                    connection.exec_driver_sql(statement)
        self.assertEqual(6, self.check()['exit_code'])
        self.assertSucceeded(self.sync('stamp', '--verify', 'heads'))
        self.assertEqual(0, self.check()['exit_code'])

    # -- several heads: merge and branches (scratch copy of the env) ------

    def test_branches_and_merge(self):
        # Two revisions spliced onto where a plain new revision goes (the
        # one head, or the expand branch's head in the rolling-upgrade
        # layout), read from the script directory: any history.
        env = self.scratch_environment('enamel')  # with its models
        tip = base.tip(script())
        self.assertSucceeded(self.sync_process('upgrade', env=env))
        for rev_id in ('b1a2', 'b2a2'):
            self.assertSucceeded(self.sync_process(
                'revision', '-m', f'branch {rev_id}', '--rev-id', rev_id,
                '--head', tip, '--splice', env=env))
        listed = json.loads(self.sync_process(
            'heads', '--format', 'json', env=env).stdout)
        # In the rolling-upgrade layout the contract head stays a head.
        others = set(heads()) - {tip}
        self.assertEqual({'b1a2', 'b2a2'} | others,
                         {h['revision'] for h in listed})
        branches = self.assertSucceeded(
            self.sync_process('branches', env=env))
        self.assertRegex(branches.stdout,
                         rf'(?m)^{tip} .*\(branchpoint\)( \(mergepoint\))?$')
        versions = os.path.join(env['PYTHONPATH'], 'alembic_migrations',
                                'versions')
        self.assertEqual({'b1a2', 'b2a2'} | others,
                         set(heads_file.read(versions)))
        self.assertSucceeded(self.sync_process('upgrade', 'heads', env=env))
        self.assertEqual({'b1a2', 'b2a2'} | others, set(
            self.sync_process('version', env=env).stdout.split()))
        result = self.sync_process('upgrade', 'head', env=env)
        if others:
            # In expand and contract branches "head" means every head.
            self.assertSucceeded(result)
            self.assertIn('Nothing to do', result.stderr)
        else:
            # Otherwise it stays ambiguous with two heads, even at both.
            self.assertEqual(2, result.code, result)
            self.assertIn('Multiple heads', result.stderr)
        merged = self.assertSucceeded(self.sync_process(
            'merge', 'b1a2', 'b2a2', '-m', 'join', '--rev-id', 'c3a2',
            env=env))
        self.assertTrue(merged.stdout.strip().endswith('c3a2_join.py'))
        self.assertEqual({'c3a2'} | others,
                         set(heads_file.read(versions)))
        self.assertSucceeded(self.sync_process('upgrade', 'heads', env=env))
        self.assertEqual({'c3a2'} | others, set(self.sync_process(
            'version', env=env).stdout.split()))
        check = self.sync_process('check', env=env)
        self.assertEqual(0, check.code, check)

    def test_branch_label_and_depends_on(self):
        # A plugin's branch, labelled, whose second revision depends on
        # where a plain new revision goes (the one head; the expand head
        # in the rolling-upgrade layout), read from the script directory.
        # Without the expand and contract branches the plugin's branch
        # starts from base, a history of its own; with them a plugin
        # revision sits on a branch (the phase rules refuse one from
        # base), here the contract head, where the dependency on the
        # expand head is the usual one.
        env = self.scratch_environment()
        tip = base.tip(script())
        branched = phases_module.branched(script())
        root = 'contract@head' if branched else 'base'
        below = script().get_revision(root).revision if branched else None
        self.assertSucceeded(self.sync_process(
            'revision', '-m', 'plugin base', '--rev-id', 'd1a1',
            '--head', root, '--branch-label', 'plugin', env=env))
        self.assertSucceeded(self.sync_process(
            'revision', '-m', 'plugin needs core', '--rev-id', 'd2a2',
            '--head', 'plugin@head', '--depends-on', tip, env=env))
        shown = self.assertSucceeded(self.sync_process('show', 'd2a2',
                                                       env=env))
        self.assertIn(tip, shown.stdout)  # listed as a dependency
        listed = json.loads(self.sync_process(
            'heads', '--format', 'json', env=env).stdout)
        by_id = {h['revision']: h for h in listed}
        self.assertEqual(set(heads()) - {below} | {'d2a2'}, set(by_id))
        self.assertEqual({'plugin', 'contract'} if branched else {'plugin'},
                         set(by_id['d2a2']['branch_labels']))
        # Upgrading the plugin branch alone pulls in what it depends on;
        # alembic then keeps one version row, the dependent's.
        upgrade = self.assertSucceeded(self.sync_process(
            'upgrade', 'plugin@head', env=env))
        for revision in (tip, 'd1a1', 'd2a2'):
            self.assertIn(f'Upgraded to {revision}', upgrade.stderr)
        self.assertEqual(['d2a2'], self.sync_process(
            'version', env=env).stdout.split())
        # Down the plugin's two revisions, relative to its head (on the
        # contract branch, alembic gives the label to every revision down
        # to the branch point: plugin@base is not the plugin's base
        # there).
        self.assertSucceeded(self.sync_process('downgrade', 'plugin@-2',
                                               env=env))
        self.assertEqual(base.upgraded_version(script()), sorted(
            self.sync_process('version', env=env).stdout.split()))


base.for_each_backend(CommandTests, globals())


class ConsoleScriptTest(base.SQLiteBackend, base.TestCase):

    def test_installed_console_script_runs_the_commands(self):
        upgrade = self.assertSucceeded(self.sync_process('upgrade'))
        self.assertEqual('', upgrade.stdout)
        for revision in upgraded():
            self.assertIn(f'Upgraded to {revision}', upgrade.stderr)
        version = self.assertSucceeded(self.sync_process('version'))
        self.assertEqual(upgraded(), sorted(version.stdout.splitlines()))
        check = self.sync_process('check', '--format', 'json')
        self.assertEqual(0, check.code, check)
        self.assertEqual('at_head', json.loads(check.stdout)['state'])
        bad = self.sync_process('upgrade', 'f00d')
        self.assertEqual(2, bad.code, bad)
        self.assertEqual(1, len(bad.stderr.splitlines()), bad)


class ApiTests:
    """The Python API that the commands are a thin layer over."""

    def migrate(self):
        from enamel import conf as enamel_conf
        conf = enamel_conf.load(['--config-file', self.config_file],
                                default_config_files=[])
        return migration.Migration(conf)

    def test_upgrade_at_service_start_up(self):
        migrate = self.migrate()
        # Read before the upgrade creates anything (an SQLite file too).
        self.assertEqual([], migrate.version())
        migrate.upgrade()
        self.assertEqual(upgraded(), sorted(migrate.version()))
        result = migrate.check()
        self.assertEqual((0, 'at_head'), (result.exit_code, result.state))
        migrate.downgrade('base')
        self.assertEqual([], migrate.version())
        migrate.stamp('heads')
        self.assertEqual(upgraded(), sorted(migrate.version()))

    def test_configure_callback_adds_a_version_location(self):
        extra = os.path.join(self.workdir, 'plugin_versions')
        os.mkdir(extra)
        # On one of the revisions an upgrade ends at.
        on = upgraded()[0]
        with open(os.path.join(extra, 'e1e1_plugin.py'), 'w') as f:
            f.write(f'revision = "e1e1"\ndown_revision = "{on}"\n'
                    'branch_labels = None\ndepends_on = None\n\n\n'
                    'def upgrade():\n    pass\n\n\n'
                    'def downgrade():\n    pass\n')
        migrate = self.migrate()

        @migrate.configure
        def plugin_revisions(config):
            locations = config.get_main_option('version_locations')
            config.set_main_option('version_locations',
                                   locations + os.pathsep + extra)
            return config

        # e1e1 follows it; another bundled head (expand's, in the
        # rolling-upgrade layout) stays a head.
        self.assertEqual(sorted(set(heads()) - {on} | {'e1e1'}),
                         sorted(s.revision for s in migrate.heads()))
        migrate.upgrade()
        self.assertEqual(sorted(set(upgraded()) - {on} | {'e1e1'}),
                         sorted(migrate.version()))


base.for_each_backend(ApiTests, globals())
