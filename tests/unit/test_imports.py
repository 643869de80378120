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

"""The house stays low: enamel's modules import each other (at module
level, what runs on import) at most seven levels deep, with no circle;
each module imports on its own, first (no import works only because
another module happened to be imported before it); and no class is
longer than 150 lines (issue 21's aim: small objects with one job each).

An import inside a function is not counted: it runs when that function
does (alembic's own modules are imported that way, only once a command
needs them).
"""

import ast
import os
import subprocess
import sys

import testtools

import enamel

MAX_DEPTH = 7
MAX_CLASS_LINES = 150
ROOT = os.path.dirname(os.path.abspath(enamel.__file__))


def module_imports():
    """{module: set of enamel modules it imports at module level}."""
    found = {}
    for directory, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = os.path.join(directory, name)
            module = 'enamel.' + os.path.relpath(path, ROOT)[:-3].replace(
                os.sep, '.')
            module = module.removesuffix('.__init__')
            with open(path) as f:
                tree = ast.parse(f.read())
            deps = set()
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and (
                        node.module or '').startswith('enamel'):
                    deps |= {f'{node.module}.{a.name}' if node.module ==
                             'enamel' else node.module for a in node.names}
                elif isinstance(node, ast.Import):
                    deps |= {a.name for a in node.names
                             if a.name.startswith('enamel')}
            found[module] = deps
    return found


class ImportDepthTest(testtools.TestCase):

    def longest(self, imports, module, path=()):
        """The longest chain of imports from ``module``; a circle fails
        the test, naming it."""
        if module in path:
            self.fail('import circle: ' + ' -> '.join(path + (module,)))
        best = (module,)
        for dep in sorted(imports.get(module, ())):
            if dep in imports:
                chain = (module,) + self.longest(imports, dep,
                                                 path + (module,))
                best = max(best, chain, key=len)
        return best

    def test_no_circle_and_at_most_seven_levels(self):
        imports = module_imports()
        self.assertIn('enamel.migration', imports)
        for module in sorted(imports):
            chain = self.longest(imports, module)
            self.assertLessEqual(len(chain), MAX_DEPTH, ' -> '.join(chain))


class ClassSizeTest(testtools.TestCase):

    def test_no_class_over_150_lines(self):
        sizes = {}
        for directory, _, files in os.walk(ROOT):
            for name in (n for n in files if n.endswith('.py')):
                path = os.path.join(directory, name)
                with open(path) as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.ClassDef):
                        where = (f'{os.path.relpath(path, ROOT)}:'
                                 f'{node.lineno} {node.name}')
                        sizes[where] = node.end_lineno - node.lineno + 1
        self.assertGreater(len(sizes), 50)
        self.assertEqual({}, {where: lines for where, lines in sizes.items()
                              if lines > MAX_CLASS_LINES})


# Imports each module named on stdin first, with no enamel module loaded
# (third-party modules stay loaded: only enamel's order is under test).
IMPORT_EACH = """
import importlib
import sys
failed = []
for name in sys.stdin.read().split():
    for loaded in [m for m in sys.modules
                   if m == 'enamel' or m.startswith('enamel.')]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f'{name}: {type(exc).__name__}: {exc}')
print('\\n'.join(failed))
"""


class ImportEachTest(testtools.TestCase):

    def test_every_module_imports_first(self):
        modules = sorted(module_imports())
        self.assertIn('enamel.cmd.sync', modules)
        result = subprocess.run(
            [sys.executable, '-c', IMPORT_EACH], input=' '.join(modules),
            capture_output=True, text=True, timeout=300)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual('', result.stdout.strip())
