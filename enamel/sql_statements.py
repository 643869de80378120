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

"""SQL text cut into statements by each engine's own grammar.

PostgreSQL: ``pglast`` (libpg_query, the server's own scanner and parser:
``$$`` bodies, quoted identifiers and comments stay whole); MariaDB/MySQL:
``sqlglot``'s MySQL tokenizer; SQLite: the stdlib's
``sqlite3.complete_statement`` (SQLite's own test for the end of a
statement, so a trigger's ``BEGIN ... END`` stays whole). The parsers come
with the engines' extras (``enamel-sync[postgresql]``,
``enamel-sync[mysql]``); without one, :func:`parser` raises
:class:`enamel.exception.ConfigError` naming the package to install.
"""

import importlib
import sqlite3

from enamel import exception

PARSERS = {'postgresql': ('pglast', 'enamel-sync[postgresql]'),
           'mysql': ('sqlglot', 'enamel-sync[mysql]')}
# The "lint" extra brings both, for linting without the drivers.
LINT_EXTRA = 'enamel-sync[lint]'


def parser(dialect):
    """The parser module of ``dialect`` (``pglast`` or ``sqlglot``).

    :raises exception.ConfigError: it is not installed (one line naming
        the package and the extra that brings it).
    """
    module, extra = PARSERS[dialect]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise exception.ConfigError(
            f'reading {dialect} SQL needs the {module} package: '
            f'pip install "{extra}" (or "{LINT_EXTRA}", or {module})'
        ) from None


def split(sql, dialect):
    """The statements of ``sql`` for ``dialect``, in order, each without
    its terminating ``;``; comments between statements stay with the
    statement that follows, empty statements are left out.

    :param sql: SQL text (str).
    :param dialect: ``'postgresql'``, ``'mysql'`` or ``'sqlite'``.
    :returns: a list of str. Text the engine's scanner cannot read (an
        unterminated quote or comment) is one statement, whole: the server
        refuses it (and PostgreSQL's lint reports ``unparsable-sql``).
    :raises exception.ConfigError: the dialect's parser is missing.
    """
    try:
        if dialect == 'postgresql':
            pieces = parser(dialect).split(sql, with_parser=False)
        elif dialect == 'mysql':
            pieces = _split_mysql(sql)
        else:
            pieces = _split_sqlite(sql)
        return [p.strip() for p in pieces if _has_code(p, dialect)]
    except _scan_errors(dialect):
        return [sql.strip()] if sql.strip() else []


def _scan_errors(dialect):
    """The exceptions ``dialect``'s scanner raises on text it cannot
    cut into tokens."""
    if dialect == 'postgresql':
        return parser(dialect).parser.ParseError
    if dialect == 'mysql':
        return parser(dialect).errors.TokenError
    return ()


def _split_mysql(sql):
    parser('mysql')
    from sqlglot import tokens

    pieces, start = [], 0
    for token in _mysql_tokens(sql):
        if token.token_type == tokens.TokenType.SEMICOLON:
            pieces.append(sql[start:token.start])
            start = token.end + 1
    pieces.append(sql[start:])
    return pieces


def _split_sqlite(sql):
    pieces, start = [], 0
    for at, char in enumerate(sql):
        if char == ';' and sqlite3.complete_statement(sql[start:at + 1]):
            pieces.append(sql[start:at])
            start = at + 1
    pieces.append(sql[start:])
    return pieces


def _has_code(piece, dialect):
    """Is there more than comments and blanks in ``piece``?"""
    text = piece.strip()
    if not text:
        return False
    if dialect == 'sqlite':
        # A lone comment is "complete" only with a statement after it.
        return sqlite3.complete_statement(text + '\n;') and any(
            line.strip() and not line.strip().startswith('--')
            for line in text.splitlines())
    if dialect == 'postgresql':
        return bool(parser(dialect).parser.scan(text))
    return bool(_mysql_tokens(text))


def _mysql_tokens(sql):
    return parser('mysql').Dialect.get_or_raise('mysql').tokenize(sql)


def outside_transaction(statement, dialect):
    """Why ``statement`` cannot run inside a transaction block, or None.

    PostgreSQL refuses ``CREATE``/``DROP INDEX CONCURRENTLY``, ``REINDEX
    ... CONCURRENTLY``, ``VACUUM``, ``CREATE``/``DROP DATABASE`` and
    ``ALTER SYSTEM`` there ("cannot run inside a transaction block", its
    documentation of each command). The other engines: None (MySQL commits
    each DDL statement itself; SQLite runs these inside one).

    :raises exception.ConfigError: pglast is missing.
    """
    if dialect != 'postgresql':
        return None
    pglast = parser(dialect)
    try:
        nodes = [raw.stmt for raw in pglast.parse_sql(statement)]
    except pglast.parser.ParseError:
        return None
    for node in nodes:
        name = type(node).__name__
        if name in ('IndexStmt', 'DropStmt') and getattr(
                node, 'concurrent', False):
            return f'{_verb(node)} CONCURRENTLY'
        if name == 'ReindexStmt' and any(
                getattr(p, 'defname', None) == 'concurrently'
                for p in node.params or ()):
            return 'REINDEX CONCURRENTLY'
        if name in ('VacuumStmt', 'CreatedbStmt', 'DropdbStmt',
                    'AlterSystemStmt'):
            return {'VacuumStmt': 'VACUUM', 'CreatedbStmt':
                    'CREATE DATABASE', 'DropdbStmt': 'DROP DATABASE',
                    'AlterSystemStmt': 'ALTER SYSTEM'}[name]
    return None


def _verb(node):
    return 'CREATE INDEX' if type(node).__name__ == 'IndexStmt' else \
        'DROP INDEX'
