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

"""Per-operation lint exceptions: ``# enamel-lint: allow RULE: reason``.

A comment of that shape at the end of a statement's line (any line of a
statement that spans several), or on its own line(s) right above the
statement, excepts ``RULE`` for the operations that statement invokes, and
for nothing else in the revision. On the line of a compound statement (a
``with op.batch_alter_table(...)`` block, a helper's call) it covers every
operation invoked inside it. Any comment that starts ``# enamel-lint`` must
have exactly that shape and name a rule :mod:`enamel.lint` knows; anything
else is an error naming the file and the line (:func:`read`).

The file is read with Python's own tokenizer (a ``#`` inside a string is
not a comment) and its statements with :mod:`ast`; which statement invoked
an operation is known from the line numbers of the revision's frames at
the moment alembic's ``invoke`` records it (:func:`lines_in`).

A ``--sql-files`` revision takes the SQL form in its upgrade ``.sql`` file:
``-- enamel-lint: allow RULE: reason`` at the end of a line of a statement
(after its ``;`` on its last line too), or on its own line(s) right above
the statement, excepts ``RULE`` for that statement only
(:func:`read_sql`; the statements are those the engine's grammar cuts,
:func:`statement_lines` places them in the file). Lines there are
``(file name, line)`` pairs, so that they never meet the revision's own.
"""

import ast
import dataclasses
import difflib
import io
import os
import re
import sys
import tokenize

from enamel import exception

SHAPE = ("'# enamel-lint: allow <rule>: <why it is safe here>' at the end "
         "of the operation's line or on the line above it")
SQL_SHAPE = ("'-- enamel-lint: allow <rule>: <why it is safe here>' at the "
             "end of the statement's line or on the line above it")

# Any comment meant for the lint (a misspelt one included) ...
_DIRECTIVE = re.compile(r'#\s*enamel[-_ ]?lint\b', re.I)
# ... must be exactly this.
_ALLOW = re.compile(r'#\s*enamel-lint:\s*allow\s+(?P<rule>[^\s:]+)\s*:'
                    r'(?P<reason>.*)$')
# The same in a .sql file.
_SQL_DIRECTIVE = re.compile(r'--\s*enamel[-_ ]?lint\b', re.I)
_SQL_ALLOW = re.compile(r'--\s*enamel-lint:\s*allow\s+(?P<rule>[^\s:]+)'
                        r'\s*:(?P<reason>.*)$')


@dataclasses.dataclass
class Allow:
    """One ``# enamel-lint: allow`` comment: the ``line`` it is on, the
    ``rule`` and ``reason``, and the source lines of the statement it
    ``covers`` (empty when no statement follows it)."""

    line: int
    rule: str
    reason: str
    covers: frozenset = frozenset()
    file: str = None  # a .sql file's name; None: the revision's file

    def applies(self, rule, lines):
        """Does it except ``rule`` for an operation invoked from
        ``lines`` (the revision's source lines on the stack)?"""
        return rule == self.rule and bool(self.covers & lines)


def read(path, known):
    """The :class:`Allow` comments of the revision file ``path``.

    :param known: the rule ids the lint reports.
    :returns: a list, in line order; empty for a file that is not Python
        source (a ``.pyc`` without its source).
    :raises exception.ConfigError: a comment that starts ``# enamel-lint``
        but is not of the shape :data:`SHAPE`, names an unknown rule or
        gives no reason; the message names the file and line.
    """
    if not str(path).endswith('.py'):
        return []
    try:
        with open(path, encoding='utf-8') as f:
            source = f.read()
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        tree = ast.parse(source, str(path))
    except (OSError, SyntaxError, tokenize.TokenError, ValueError):
        return []  # alembic loaded it; nothing to read without its source
    code_lines = sorted({t.start[0] for t in tokens if t.type not in (
        tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
        tokenize.DEDENT, tokenize.ENDMARKER)})
    statements = [(n.lineno, n.end_lineno) for n in ast.walk(tree)
                  if isinstance(n, ast.stmt) and not isinstance(
                      n, (ast.FunctionDef, ast.AsyncFunctionDef,
                          ast.ClassDef))]
    found = []
    for token in tokens:
        if token.type != tokenize.COMMENT or not _DIRECTIVE.match(
                token.string):
            continue
        line = token.start[0]
        allow = _parse(token.string.strip(), f'{path}:{line}', known)
        trailing = bool(token.line[:token.start[1]].strip())
        target = line if trailing else next(
            (n for n in code_lines if n > line), None)
        found.append(dataclasses.replace(
            allow, line=line, covers=_statement(statements, target)))
    return found


def read_sql(path, known, statements):
    """The :class:`Allow` comments of a ``--sql-files`` revision's ``.sql``
    file at ``path``; each covers the ``(file name, line)`` pairs of one
    statement.

    :param known: the rule ids the lint reports.
    :param statements: the file's statements, as the engine's grammar cuts
        them (:func:`enamel.sql_files.statements`).
    :raises exception.ConfigError: as :func:`read`, for a comment that
        starts ``-- enamel-lint``.
    """
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    spans = statement_lines(path, statements)
    name = _base_name(path)
    found = []
    for number, text in enumerate(lines, 1):
        at = _SQL_DIRECTIVE.search(text)
        if at is None:
            continue
        comment = text[at.start():].strip()
        allow = _parse(comment, f'{path}:{number}', known, _SQL_ALLOW,
                       SQL_SHAPE)
        trailing = bool(text[:at.start()].strip())
        code = sorted(n for _, n in set().union(*spans)) if spans else []
        target = number if trailing else next(
            (n for n in code if n > number), None)
        covers = next((span for span in spans if (name, target) in span),
                      frozenset())
        found.append(dataclasses.replace(allow, line=number, covers=covers,
                                         file=name))
    return found


def statement_lines(path, statements):
    """For each of ``statements`` (stripped, in order, as
    :func:`enamel.sql_statements.split` gives them) in the file at
    ``path``: the frozenset of ``(file name, line)`` pairs of its code
    lines (its leading comments left out)."""
    with open(path, encoding='utf-8') as f:
        source = f.read()
    name = _base_name(path)
    spans, cursor = [], 0
    for statement in statements:
        start = source.find(statement, cursor)
        if start < 0:
            spans.append(frozenset())
            continue
        cursor = start + len(statement)
        first = source.count('\n', 0, start) + 1
        spans.append(frozenset(
            (name, first + offset)
            for offset, text in enumerate(statement.split('\n'))
            if text.strip() and not text.strip().startswith('--')))
    return spans


def _base_name(path):
    return os.path.basename(path)


def _parse(comment, where, known, pattern=_ALLOW, shape=SHAPE):
    match = pattern.match(comment)
    if not match:
        raise exception.ConfigError(
            f'{where}: {comment!r} is not a lint exception; expected '
            f'{shape}')
    rule, reason = match.group('rule'), match.group('reason').strip()
    if rule not in known:
        close = difflib.get_close_matches(rule, known, 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ''
        raise exception.ConfigError(
            f'{where}: enamel-lint: no such rule {rule!r}{hint}; expected '
            f'{shape}; rules: {", ".join(known)}')
    if not reason:
        raise exception.ConfigError(
            f'{where}: enamel-lint: allow {rule} gives no reason; expected '
            f'{shape}: say why the previous release and the live table '
            'stay safe')
    return Allow(0, rule, reason)


def _statement(statements, line):
    """The lines of the innermost statement (not a ``def``) that holds
    ``line``: a frozenset, empty if none does."""
    if line is None:
        return frozenset()
    holding = [(first, last) for first, last in statements
               if first <= line <= last]
    if not holding:
        return frozenset()
    first, last = min(holding, key=lambda span: span[1] - span[0])
    return frozenset(range(first, last + 1))


def lines_in(filename):
    """The line numbers of every frame on the caller's stack that runs
    code of ``filename``: which statements of a revision are invoking the
    operation being recorded (a frozenset)."""
    lines = set()
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == filename:
            lines.add(frame.f_lineno)
        frame = frame.f_back
    return frozenset(lines)
