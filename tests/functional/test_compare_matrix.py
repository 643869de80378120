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

"""Every kind of schema object, created, changed and dropped (issue 23).

One database per engine; each step puts many objects in one model change:
``check`` sees the change (4), ``revision --autogenerate`` writes it, the
revision upgrades, ``check`` is clean (0), it downgrades, it upgrades
again and ``check`` is clean again; every revision it writes lints
clean. What no form lints clean on every engine for a table that
already exists (a CHECK, a computed column, a foreign key on a column
it has) is refused with the recipe to write by hand (issue 24). What
the engine cannot reflect (an IDENTITY on SQLite and MariaDB, comments
on SQLite) is a note in ``check``'s output, said once, never a
difference.
"""

import sqlalchemy as sa

from enamel import exception
from enamel import models
from tests import base
from tests.functional import test_autogenerate

# Create: a new table with one object of each kind, a CHECK and a
# computed column on it.
CREATE = '''

class MatrixItem(Base):
    """The comparison matrix's table."""

    __tablename__ = 'matrix_items'
    __table_args__ = (
        sa.CheckConstraint('size > 0', name='size_positive'),
        sa.UniqueConstraint('code'),
        sa.Index(None, 'size', unique=False),
        sa.Index('ix_matrix_items_partial', 'code',
                 postgresql_where=sa.text('size > 10')),
        {'comment': 'matrix rows', **MYSQL_TABLE_ARGS},
    )

    id: orm.Mapped[int] = orm.mapped_column(
        sa.BigInteger, sa.Identity(start=1), primary_key=True)
    code: orm.Mapped[str] = orm.mapped_column(
        sa.String(32), nullable=False, server_default='none',
        comment='a short code')
    size: orm.Mapped[int] = orm.mapped_column(
        sa.Integer, nullable=False, server_default='1')
    double: orm.Mapped[typing.Optional[int]] = orm.mapped_column(
        sa.Integer, sa.Computed('size * 2'))
    task_id: orm.Mapped[typing.Optional[int]] = orm.mapped_column(
        sa.ForeignKey(
            'tasks.id', ondelete='RESTRICT'))
'''
# Change: each object of the matrix table changed in place, but for
# those REFUSED.
CHANGES = [
    ("sa.UniqueConstraint('code'),", "sa.UniqueConstraint('code', 'size'),"),
    ("sa.Index(None, 'size', unique=False)",
     "sa.Index(None, 'size', unique=True)"),
    ("{'comment': 'matrix rows',", "{'comment': 'the matrix rows',"),
    ("postgresql_where=sa.text('size > 10')),",
     "postgresql_where=sa.text('size > 20'),\n"
     "                 postgresql_include=['size']),"),
    ("server_default='none',\n        comment='a short code'",
     "server_default='nothing',\n        comment='the short code'"),
]
# Changes autogenerate refuses on a table that already exists: no form
# of them lints clean on every engine (a CHECK and a foreign key copy a
# MariaDB table; PostgreSQL rewrites the table for a generated column).
REFUSED = [
    ("sa.CheckConstraint('size > 0', name='size_positive')",
     "sa.CheckConstraint('size > 1', name='size_positive')"),
    ("sa.Computed('size * 2')", "sa.Computed('size * 3')"),
    ("'tasks.id', ondelete='RESTRICT'", "'tasks.id', ondelete='SET NULL'"),
]
# Drop: the objects go, the table stays.
DROPS = [
    ("        sa.CheckConstraint('size > 0', name='size_positive'),\n", ''),
    ("        sa.UniqueConstraint('code', 'size'),\n", ''),
    ("        sa.Index(None, 'size', unique=True),\n", ''),
    ("        sa.Index('ix_matrix_items_partial', 'code',\n"
     "                 postgresql_where=sa.text('size > 20'),\n"
     "                 postgresql_include=['size']),\n", ''),
    ("{'comment': 'the matrix rows', **MYSQL_TABLE_ARGS}",
     'MYSQL_TABLE_ARGS'),
    ("server_default='nothing',\n        comment='the short code')",
     ')'),
    ("    double: orm.Mapped[typing.Optional[int]] = orm.mapped_column(\n"
     "        sa.Integer, sa.Computed('size * 2'))\n", ''),
    ("    task_id: orm.Mapped[typing.Optional[int]] = orm.mapped_column(\n"
     "        sa.ForeignKey(\n"
     "            'tasks.id', ondelete='RESTRICT'))\n", ''),
]


class MatrixTests(test_autogenerate.ScratchModels):

    def round_trip(self, message):
        """Autogenerate, then upgrade / downgrade / upgrade with check
        clean at the heads; the generated source."""
        _path, source = self.generate(message)
        for step in (('upgrade',), ('downgrade', '-1'), ('upgrade',)):
            self.assertSucceeded(self.run_sync(*step))
            if step[0] == 'upgrade':
                report = self.assertChecks(0)
                self.assertEqual([], report['differences'])
        return source

    def notes(self):
        """check's notes, and the text output's note lines once each."""
        report = self.assertChecks(0)
        text = self.run_sync('check').stdout
        for note in report['notes']:
            self.assertEqual(1, text.count(note), text)
        return report['notes']

    def test_every_kind_created_changed_dropped(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.edit_models(append=CREATE)
        drift = self.assertChecks(4)['differences']
        self.assertIn('add_table matrix_items', drift)
        source = self.round_trip('matrix create')
        self.assertIn('sa.Computed(', source)
        self.assertIn("name=op.f('ck_matrix_items_size_positive')",
                      source)
        notes = self.notes()
        if self.BACKEND == 'postgresql':
            self.assertEqual([], notes)
        elif self.BACKEND == 'sqlite':
            self.assertIn('sqlite keeps no comments: those of matrix_items '
                          'are not compared', notes)
        if self.BACKEND != 'postgresql':
            self.assertTrue(any('IDENTITY' in n and 'matrix_items.id' in n
                                for n in notes), notes)

        self.edit_models(*REFUSED)
        drift = self.assertChecks(4)['differences']
        for expected in ('modify_computed matrix_items.double',
                         'add_constraint matrix_items.ck_matrix_items',
                         'add_fk matrix_items.fk_matrix_items_task_id'):
            self.assertTrue(any(d.startswith(expected) for d in drift),
                            (expected, drift))
        before = self.revision_files()
        result = self.run_sync('revision', '-m', 'matrix refused',
                               '--autogenerate')
        self.assertEqual(1, result.code, result)
        self.assertEqual(1, len(result.stderr.splitlines()), result)
        for expected in (
                'the CHECK ck_matrix_items_size_positive on matrix_items',
                'MariaDB/MySQL copy the table to add a CHECK',
                '"A CHECK on an existing table"',
                'the computed column matrix_items.double',
                'PostgreSQL stores every generated column',
                '"A generated column"',
                'the foreign key fk_matrix_items_task_id_tasks on '
                'matrix_items.task_id',
                '"A foreign key on an existing column"'):
            self.assertIn(expected, result.stderr)
        self.assertEqual(before, self.revision_files())
        self.edit_models(*[(new, old) for old, new in REFUSED])

        self.edit_models(*CHANGES)
        drift = self.assertChecks(4)['differences']
        for expected in ('add_index matrix_items.ix_matrix_items_size',
                         'modify_default matrix_items.code') + (
                ('add_index matrix_items.ix_matrix_items_partial',)
                if self.BACKEND == 'postgresql' else ()):
            self.assertTrue(any(d.startswith(expected) for d in drift),
                            (expected, drift))
        self.round_trip('matrix change')

        self.edit_models(*DROPS)
        drift = self.assertChecks(4)['differences']
        for expected in ('remove_column matrix_items.double',
                         'remove_constraint matrix_items.ck_matrix_items',
                         'remove_fk matrix_items.fk_matrix_items_task_id',
                         'remove_index matrix_items.ix_matrix_items_size'):
            self.assertTrue(any(d.startswith(expected) for d in drift),
                            (expected, drift))
        self.round_trip('matrix drop')


base.for_each_backend(MatrixTests, globals())


INDEX_ON_ITEMS = (
    "        sa.Index(None, 'task_id'),\n",
    "        sa.Index(None, 'task_id'),\n"
    "        sa.Index(None, 'uuid'),\n")
NOTE_ON_TASKS = (
    test_autogenerate.ANCHOR,
    '    note: orm.Mapped[typing.Optional[str]] = orm.mapped_column(\n'
    '        sa.String(64))\n' + test_autogenerate.ANCHOR)


class AcceptedDriftTest(test_autogenerate.ScratchModels, base.SQLiteBackend,
                        base.TestCase):
    """Known drift, declared: engine-independent, so one engine."""

    def test_option_lists_accepted_and_autogenerate_leaves_it_out(self):
        self.assertSucceeded(self.run_sync('upgrade'))
        self.edit_models(NOTE_ON_TASKS, INDEX_ON_ITEMS)
        accepting = self.write_config(
            self.url, name='accepting.conf',
            accepted_drift='add_column:tasks.note, nothing:matches.this')
        report = self.assertChecks(4, config_file=accepting)
        self.assertEqual(['add_column tasks.note'], report['accepted'])
        self.assertEqual(
            ['add_index task_items.ix_task_items_uuid'],
            report['differences'])
        # Without the option, the same line is a difference.
        self.assertEqual([], self.assertChecks(4)['accepted'])
        text = self.run_sync('check', config_file=accepting).stdout
        self.assertIn('  accepted: add_column tasks.note\n', text)

        result = self.assertSucceeded(self.run_sync(
            'revision', '-m', 'check only', '--autogenerate',
            config_file=accepting))
        with open(result.stdout.strip()) as f:
            source = f.read()
        self.assertIn('ix_task_items_uuid', source)
        self.assertNotIn('note', source.split('def upgrade')[1])
        self.assertSucceeded(self.run_sync('upgrade', config_file=accepting))
        report = self.assertChecks(0, config_file=accepting)
        self.assertEqual(['add_column tasks.note'], report['accepted'])
        # Only accepted drift left: nothing to write.
        before = self.revision_files()
        result = self.assertSucceeded(self.run_sync(
            'revision', '-m', 'nothing', '--autogenerate',
            config_file=accepting))
        self.assertEqual('', result.stdout)
        self.assertEqual(before, self.revision_files())


class AcceptDriftHookTest(base.SQLiteBackend, base.TestCase):
    """The Python hook, on the bundled models: an index the models do not
    declare, added by hand."""

    def add_index(self):
        with self.engine.begin() as connection:
            connection.execute(sa.text(
                'CREATE INDEX ix_tasks_by_hand ON tasks (action)'))

    def test_hook_accepts_only_what_it_names(self):
        migrate = self.make_migration()
        migrate.upgrade('heads')
        self.add_index()
        self.assertEqual(['remove_index tasks.ix_tasks_by_hand'],
                         migrate.check().differences)
        seen = []

        @migrate.accept_drift
        def by_hand(difference):
            seen.append(difference)
            return (difference.kind, difference.target) == (
                'remove_index', 'tasks.ix_tasks_by_hand')

        result = migrate.check()
        self.assertEqual(
            ('at_head', [], ['remove_index tasks.ix_tasks_by_hand']),
            (result.state, result.differences, result.accepted))
        self.assertEqual('remove_index tasks.ix_tasks_by_hand', seen[0].line)

    def test_stamp_verify_accepts_declared_drift(self):
        models.Base.metadata.create_all(self.engine)
        self.add_index()
        migrate = self.make_migration()
        self.assertRaises(exception.SchemaMismatch, migrate.stamp, 'heads',
                          verify=True)
        migrate.accept_drift(lambda d: d.target == 'tasks.ix_tasks_by_hand')
        migrate.stamp('heads', verify=True)
        self.assertEqual('at_head', migrate.check().state)
