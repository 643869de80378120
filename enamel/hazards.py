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

"""The engine hazards ``enamel-sync lint`` knows: what each statement
locks, why that hurts a live table, and the safe recipe in enamel's phases.

:data:`RULES` is the catalogue (the developer guide's table is generated
from it); :class:`Servers` says which server versions the lint judges for,
since what an ``ALTER`` costs depends on it (PostgreSQL 11 adds a column
with a non-volatile default without rewriting the table; MariaDB 10.4 drops
a column instantly). The checks themselves are in
:mod:`enamel.lint_postgresql` and :mod:`enamel.lint_mysql`; the sources are
each server's documentation of ``ALTER TABLE`` and its locks (PostgreSQL:
"ALTER TABLE", "Explicit Locking"; MariaDB: "InnoDB Online DDL
Operations"), read alongside squawk's and strong_migrations' catalogues.
"""

import dataclasses

from enamel import exception


@dataclasses.dataclass(frozen=True)
class Rule:
    """One hazard: ``id``, the ``engines`` it applies to, the ``lock`` the
    statement takes, ``why`` it hurts a busy table during a rolling
    upgrade, and the ``recipe`` that avoids it (alembic ops, by phase)."""

    id: str
    engines: tuple
    lock: str
    why: str
    recipe: str


PG = ('postgresql',)
MY = ('mysql',)
ALL = ('sqlite', 'mysql', 'postgresql')

RULES = {r.id: r for r in (
    Rule('not-null-without-default', ALL, '-',
         "the previous release's INSERTs do not name the new column and "
         'fail; PostgreSQL and SQLite refuse the ALTER on a non-empty table',
         'expand: add it nullable or with server_default; an online data '
         'migration fills it; contract: alter_column(nullable=False)'),
    Rule('index-not-concurrent', PG, 'SHARE on the table while the index '
         'builds', 'every INSERT, UPDATE and DELETE waits for the build',
         'with op.get_context().autocommit_block(): op.create_index(..., '
         'postgresql_concurrently=True)'),
    Rule('drop-index-not-concurrent', PG, 'ACCESS EXCLUSIVE on the table',
         'reads and writes queue behind it, and behind any long query '
         'it waits for', 'contract: with op.get_context().autocommit_block()'
         ': op.drop_index(..., postgresql_concurrently=True)'),
    Rule('concurrently-in-transaction', PG, '-',
         'PostgreSQL refuses it inside a transaction block: the upgrade '
         'fails on the live database', 'run it in '
         'op.get_context().autocommit_block() (a --sql-files revision does '
         'this itself)'),
    Rule('constraint-not-valid', PG, 'SHARE ROW EXCLUSIVE on both tables '
         '(foreign key), ACCESS EXCLUSIVE (CHECK), during a full scan',
         'writes (and for a CHECK reads) wait while every row is checked',
         'expand: create_foreign_key/create_check_constraint(..., '
         'postgresql_not_valid=True); then, after a commit (an '
         'autocommit_block or a later revision): op.execute("ALTER TABLE t '
         'VALIDATE CONSTRAINT c"), which takes SHARE UPDATE EXCLUSIVE'),
    Rule('validate-in-same-transaction', PG, 'the lock of the ADD '
         'CONSTRAINT, kept during the VALIDATE scan',
         'NOT VALID gains nothing when VALIDATE runs before the commit',
         'run the VALIDATE in op.get_context().autocommit_block() or a later '
         'revision'),
    Rule('unique-constraint-index', PG, 'ACCESS EXCLUSIVE while the unique '
         'index builds', 'reads and writes wait for the whole build',
         'with op.get_context().autocommit_block(): op.create_index(..., '
         'unique=True, postgresql_concurrently=True); then op.execute("ALTER '
         'TABLE t ADD CONSTRAINT c UNIQUE USING INDEX ix")'),
    Rule('set-not-null', PG, 'ACCESS EXCLUSIVE during a full scan',
         'reads and writes wait while every row is checked',
         'expand: create_check_constraint("c_not_null", "t", "c IS NOT NULL",'
         ' postgresql_not_valid=True), VALIDATE it after a commit; contract: '
         'alter_column(nullable=False) (PostgreSQL 12+ trusts the check and '
         'skips the scan), then drop the check'),
    Rule('table-rewrite', ALL, 'ACCESS EXCLUSIVE (PostgreSQL), or a copy '
         'of the table (MariaDB/MySQL ALGORITHM=COPY, SQLite batch)',
         'the table is rewritten: reads and writes wait for the whole copy',
         'expand: add a new column (nullable, constant default); an online '
         'data migration copies the values; the new release reads it; '
         'contract: drop the old column'),
    Rule('copy-alter', MY, 'ALGORITHM=COPY: LOCK=SHARED, writes blocked '
         'for the whole copy', 'MariaDB/MySQL cannot do it INPLACE or '
         'INSTANT: every write waits while the table is copied',
         'foreign keys: declare them on new tables, or accept the copy in a '
         'maintenance window (lint_exceptions with the reason); types: a new '
         'column and an online data migration'),
    Rule('galera-toi', MY, 'total order isolation: the DDL runs on every '
         'node at the same point of the replication stream',
         'on a Galera cluster every node stops applying writes until a '
         'non-instant ALTER finishes', 'keep ALTERs on busy tables INSTANT '
         '(add/drop/rename a column, defaults); or run them node by node '
         'with wsrep_OSU_method=RSU outside enamel'),
    Rule('rename', ALL, '-', "the previous release's SQL names the old "
         'table or column and fails', 'expand: add the new column; a data '
         'migration copies it; the new release writes both; contract: drop '
         'the old one'),
    Rule('name-too-long', ('mysql', 'postgresql'), '-',
         'PostgreSQL cuts a name longer than 63 bytes short (a NOTICE '
         'only), so the object no longer has the name the models and later '
         'revisions use; MySQL/MariaDB refuse one longer than 64 characters',
         'give the index or constraint a shorter name=...; shorten the '
         'table or column name'),
    Rule('no-primary-key', ALL, '-', 'Galera refuses writes to it under '
         'strict mode and cannot certify its rows; row-based replication '
         'scans it', 'give every table a primary key'),
    Rule('transaction-control', ALL, '-', 'BEGIN/COMMIT/ROLLBACK in a '
         'revision cuts it from the transaction that records it: a failure '
         'leaves half a revision applied and unrecorded',
         'leave transactions to enamel; use autocommit_block() for what must '
         'run outside one'),
    Rule('nested-autocommit-block', ALL, '-', 'alembic refuses an '
         'autocommit_block() inside another when the revision runs (an '
         'AssertionError, after the outer block committed what ran before '
         'it); in a --sql script the inner block\'s end opens a transaction '
         'around the rest of the outer one',
         'one autocommit_block() for everything that runs outside the '
         'transaction; end one before starting the next'),
    Rule('unparsable-sql', ALL, '-', "the engine's own parser rejects "
         'the statement: it fails on that engine',
         'fix the SQL, or run it only on the engines it is for '
         '(op.get_context().dialect.name)'),
)}


@dataclasses.dataclass(frozen=True)
class Servers:
    """The servers the lint judges for.

    ``postgresql``: the oldest PostgreSQL version (a tuple, default 12);
    ``mysql_flavour``: ``'mariadb'`` or ``'mysql'``; ``mysql``: its oldest
    version (default MariaDB 10.6); ``galera``: MariaDB runs as a Galera
    cluster (adds ``galera-toi``).
    """

    postgresql: tuple = (12,)
    mysql_flavour: str = 'mariadb'
    mysql: tuple = (10, 6)
    galera: bool = False

    def describe(self):
        return (f'PostgreSQL {_dotted(self.postgresql)}, '
                f'{"MariaDB" if self.mysql_flavour == "mariadb" else "MySQL"}'
                f' {_dotted(self.mysql)}{" (Galera)" if self.galera else ""}')


def _dotted(version):
    return '.'.join(str(v) for v in version)


def servers(specs=(), galera=False):
    """A :class:`Servers` from ``--server-version`` values.

    :param specs: strings ``postgresql=N[.M]``, ``mariadb=N.M[.P]`` or
        ``mysql=N.M[.P]``.
    :param galera: the MariaDB/MySQL servers form a Galera cluster.
    :raises exception.UsageError: a malformed value.
    """
    values = {}
    for spec in specs or ():
        engine, _, version = spec.partition('=')
        try:
            parsed = tuple(int(p) for p in version.split('.'))
        except ValueError:
            parsed = ()
        if engine not in ('postgresql', 'mariadb', 'mysql') or not parsed:
            raise exception.UsageError(
                f'--server-version {spec!r}: expected postgresql=N, '
                'mariadb=N.N or mysql=N.N (e.g. mariadb=10.11)')
        if engine == 'postgresql':
            values['postgresql'] = parsed
        else:
            values['mysql_flavour'], values['mysql'] = engine, parsed
    return Servers(galera=galera, **values)
