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

"""The lint's MariaDB/MySQL verdicts agree with the server's own.

Each case is one alembic operation on a table with rows. The lint says
INSTANT, INPLACE or COPY (:func:`enamel.lint_mysql.algorithm`, for the
version of the server under test); the operation's SQL, as alembic writes
it for MySQL, is then run with ``ALGORITHM=INSTANT`` and with
``ALGORITHM=INPLACE, LOCK=NONE``, which the server refuses when it cannot
do the change that way. INSTANT: the server accepts ``ALGORITHM=INSTANT``;
INPLACE: it refuses that and accepts ``INPLACE, LOCK=NONE``; COPY: it
refuses both. The same SQL read as a ``--sql-files`` statement gets the
same verdict, but for ``MODIFY``/``CHANGE``: SQL text does not give the
column's old definition, so the lint cannot tell a free change from a copy
(then COPY).
"""

import re

from alembic.operations import ops
import sqlalchemy as sa

from enamel import hazards
from enamel import lint
from enamel import lint_mysql
from tests import base

SETUP = (
    'CREATE TABLE u (id INT PRIMARY KEY)',
    'CREATE TABLE t (id INT PRIMARY KEY, a INT NULL, '
    'b INT NOT NULL DEFAULT 0, v VARCHAR(36) NULL, y VARCHAR(100) NULL, '
    'n INT NULL, r INT NULL, KEY ix_a (a), '
    'CONSTRAINT fk_r FOREIGN KEY (r) REFERENCES u (id))',
    'INSERT INTO u (id) VALUES (1), (2)',
    "INSERT INTO t (id, a, v, y, n) VALUES (1, 1, 'x1', 'y', 1), "
    "(2, 2, 'x2', 'y', 2)",
)


def _alter(column, **kw):
    return ops.AlterColumnOp('t', column, **kw)


CASES = {
    'add nullable column': ops.AddColumnOp(
        't', sa.Column('c', sa.Integer(), nullable=True)),
    'add column with a default': ops.AddColumnOp(
        't', sa.Column('c', sa.Integer(), nullable=False,
                       server_default='5')),
    'add stored generated column': ops.AddColumnOp(
        't', sa.Column('g', sa.Integer(),
                       sa.Computed('a + 1', persisted=True))),
    'drop column': ops.DropColumnOp('t', 'b'),
    'rename column': _alter('a', modify_name='a2',
                            existing_type=sa.Integer(),
                            existing_nullable=True),
    'widen varchar within 255 bytes': _alter(
        'v', modify_type=sa.String(63), existing_type=sa.String(36)),
    'widen varchar across 255 bytes': _alter(
        'v', modify_type=sa.String(64), existing_type=sa.String(36)),
    'widen varchar above 255 bytes': _alter(
        'y', modify_type=sa.String(200), existing_type=sa.String(100)),
    'shrink varchar': _alter('v', modify_type=sa.String(30),
                             existing_type=sa.String(36)),
    'varchar to text': _alter('v', modify_type=sa.Text(),
                              existing_type=sa.String(36)),
    'int to bigint': _alter('a', modify_type=sa.BigInteger(),
                            existing_type=sa.Integer()),
    'set not null': _alter('n', modify_nullable=False, existing_nullable=True,
                           existing_type=sa.Integer()),
    'drop not null': _alter('b', modify_nullable=True, existing_nullable=False,
                            existing_type=sa.Integer(),
                            existing_server_default='0'),
    'change a server default': _alter('a', modify_server_default='3',
                                      existing_type=sa.Integer()),
    'create index': ops.CreateIndexOp('ix_v', 't', ['v']),
    'create unique index': ops.CreateIndexOp('ux_v', 't', ['v'],
                                             unique=True),
    'add unique constraint': ops.CreateUniqueConstraintOp(
        'uq_v', 't', ['v']),
    'drop index': ops.DropIndexOp('ix_a', 't'),
    'add foreign key': ops.CreateForeignKeyOp('fk_a', 't', 'u', ['a'],
                                              ['id']),
    'drop foreign key': ops.DropConstraintOp('fk_r', 't',
                                             type_='foreignkey'),
    'add check constraint': ops.CreateCheckConstraintOp(
        'ck_a', 't', 'a > 0'),
}


class LintAgreesWithMariaDB(base.MySQLBackend, base.TestCase):

    def servers(self):
        with self.engine.connect() as connection:
            version = connection.execute(sa.text('SELECT VERSION()')).scalar()
        numbers = tuple(int(n) for n in re.findall(r'\d+', version)[:3])
        return hazards.Servers(
            mysql_flavour='mariadb' if 'mariadb' in version.lower()
            else 'mysql', mysql=numbers)

    def accepts(self, statements, clause, session=()):
        """Does the server run ``statements`` with ``clause`` on a fresh
        copy of the tables (after the ``session`` statements, e.g.
        ``SET``)?"""
        with self.engine.begin() as connection:
            connection.execute(sa.text('SET foreign_key_checks = 0'))
            connection.execute(sa.text('DROP TABLE IF EXISTS t, t2, u'))
            connection.execute(sa.text('SET foreign_key_checks = 1'))
            for statement in SETUP:
                connection.execute(sa.text(statement))
        try:
            with self.engine.begin() as connection:
                for statement in session:
                    connection.execute(sa.text(statement))
                for statement in statements:
                    connection.execute(sa.text(_with(statement, clause)))
        except sa.exc.DBAPIError as exc:
            # 1845/1846: "ALGORITHM=... is not supported for this
            # operation"; anything else is a broken case.
            self.assertIn(exc.orig.args[0], (1845, 1846), exc)
            return False
        return True

    def test_each_verdict_matches_the_server(self):
        servers = self.servers()
        disagreements = []
        for name, op in CASES.items():
            changes = lint_mysql.from_op(op)
            verdict = _worst(lint_mysql.algorithm(c, servers)[0]
                             for c in changes)
            sql = ''.join(lint._compile(op, 'mysql'))
            statements = [s.strip() for s in sql.split(';') if s.strip()]
            self.assertTrue(statements, name)
            instant = self.accepts(statements, 'ALGORITHM=INSTANT')
            online = self.accepts(statements, 'ALGORITHM=INPLACE, LOCK=NONE')
            server = ('INSTANT' if instant else 'INPLACE' if online
                      else 'COPY')
            if server != verdict:
                disagreements.append(f'{name}: lint {verdict}, '
                                     f'server {server} ({sql.strip()})')
            findings = {rule for rule, _ in lint_mysql.check(changes,
                                                             servers)}
            self.assertEqual(verdict == 'COPY', 'copy-alter' in findings,
                             name)
            from_sql = _worst(lint_mysql.algorithm(c, servers)[0]
                              for c in lint_mysql.from_sql(sql))
            expected = 'COPY' if re.search(r' (MODIFY|CHANGE) ', sql) \
                else verdict
            self.assertEqual(expected, from_sql, f'{name} as SQL: {sql}')
        self.assertEqual([], disagreements, servers.describe())

    def test_a_foreign_key_without_checks_is_inplace_on_a_new_column(self):
        # What autogenerate writes for a foreign key on a column it adds
        # (render.ForeignKeyChecksOp): the server builds it INPLACE with
        # foreign_key_checks off, and refuses INPLACE with them on; the
        # lint accepts it only where no row holds a value to check.
        servers = self.servers()
        fk = ops.CreateForeignKeyOp('fk_a', 't', 'u', ['a'], ['id'])
        sql = ''.join(lint._compile(fk, 'mysql')).strip().rstrip(';')
        off = ('SET foreign_key_checks = 0',)
        self.assertTrue(self.accepts([sql], 'ALGORITHM=INPLACE, LOCK=NONE',
                                     session=off))
        self.assertFalse(self.accepts([sql], 'ALGORITHM=INPLACE, LOCK=NONE'))
        new_column = lint_mysql.from_op(ops.AddColumnOp(
            't', sa.Column('a', sa.Integer(), nullable=True)))
        unchecked = (lint_mysql.from_sql(off[0]) + lint_mysql.from_op(fk) +
                     lint_mysql.from_sql('SET foreign_key_checks = 1'))
        self.assertEqual([], list(lint_mysql.check(new_column + unchecked,
                                                   servers)))
        existing = list(lint_mysql.check(unchecked, servers))
        self.assertEqual(['copy-alter'], [rule for rule, _ in existing])
        self.assertIn('never checks the rows already in t', existing[0][1])


def _worst(names):
    order = ('INSTANT', 'INPLACE', 'COPY')
    return max(names, key=order.index, default='INSTANT')


def _with(statement, clause):
    """``statement`` as an ``ALTER TABLE`` asking for ``clause`` (the
    ``CREATE``/``DROP INDEX`` forms do not take every ``ALGORITHM``)."""
    created = re.match(r'CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (\(.*\))$',
                       statement, re.S)
    dropped = re.match(r'DROP INDEX (\S+) ON (\S+)$', statement)
    if created:
        unique, name, table, columns = created.groups()
        statement = (f'ALTER TABLE {table} ADD {unique or ""}INDEX {name} '
                     f'{columns}')
    elif dropped:
        statement = (f'ALTER TABLE {dropped.group(2)} DROP INDEX '
                     f'{dropped.group(1)}')
    return f'{statement}, {clause}'


class LintAgreesWithGalera(base.GaleraBackend, base.TestCase):
    """On the Galera cluster: a table without a primary key, which the
    lint reports (``no-primary-key``), is refused by the cluster
    (``wsrep_mode=REQUIRED_PRIMARY_KEY``), and one with a key is not; DDL
    replicates in total order (``wsrep_OSU_method=TOI``), which is why
    ``--galera`` reports the ALTERs that are not metadata-only."""

    def variable(self, name):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(
                f"SHOW VARIABLES LIKE '{name}'")).one()[1]

    def test_no_primary_key_and_total_order(self):
        keyless = ops.CreateTableOp('notes', [sa.Column('body', sa.Text())])
        keyed = ops.CreateTableOp('notes', [
            sa.Column('id', sa.Integer(), primary_key=True),
            sa.Column('body', sa.Text())])
        for op, refused in ((keyless, True), (keyed, False)):
            rules = {rule for rule, _ in lint.check(
                [op], 'expand', 'mysql', hazards.Servers(galera=True))}
            self.assertEqual(refused, 'no-primary-key' in rules)
            sql = ''.join(lint._compile(op, 'mysql')).strip().rstrip(';')
            try:
                with self.engine.begin() as connection:
                    connection.execute(sa.text(sql))
                    connection.execute(sa.text('DROP TABLE notes'))
            except sa.exc.DBAPIError as exc:
                self.assertTrue(refused, exc)
                # 4165: "Galera replication not supported" (with the warning
                # that the table has no primary key); 1173: the same refusal
                # where innodb_force_primary_key is set instead.
                self.assertIn(exc.orig.args[0], (4165, 1173), exc)
            else:
                self.assertFalse(refused, sql)
        self.assertIn('REQUIRED_PRIMARY_KEY', self.variable('wsrep_mode'))
        self.assertEqual('TOI', self.variable('wsrep_OSU_method'))
        rules = {rule for rule, _ in lint.check(
            [ops.CreateIndexOp('ix_notes_body', 'tasks', ['action'])],
            'expand', 'mysql', hazards.Servers(galera=True))}
        self.assertEqual({'galera-toi'}, rules)
