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

"""Packages from every source carry what enamel-sync needs at run time.

pbr puts into a package the files git tracks; a tree without ``.git`` (a
``git archive`` tarball) has only what MANIFEST.in lists. Each test builds
one kind of package from the committed tree (``git archive HEAD``),
installs it into a fresh virtualenv and runs ``upgrade`` and
``revision --version-path`` with the installed console script.

The fresh virtualenv sees the test run's own site-packages (for alembic,
SQLAlchemy, oslo.config and pbr) through a ``.pth`` line, which adds that
directory to ``sys.path`` without running its own ``.pth`` files: the
development install of enamel there stays invisible, and the package under
test is the only enamel.
"""

import glob
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

from tests import base

VERSION = '99.0.0'
RUNTIME_FILES = (
    'alembic_migrations/env.py',
    'alembic_migrations/script.py.mako',
    'alembic_migrations/versions/__init__.py',
    'alembic_migrations/versions/HEADS',
)


class PackagingTest(base.TestCase):

    def run_checked(self, args, cwd=None, env=None, timeout=300):
        process_env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
        process_env.pop('PYTHONPATH', None)
        process_env.update(env or {})
        result = subprocess.run(
            args, cwd=cwd or self.workdir, env=process_env, text=True,
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        self.assertEqual(0, result.returncode, result)
        return result

    def source_tree(self):
        """The committed tree, as ``git archive HEAD`` gives it (no .git)."""
        if not os.path.exists(os.path.join(base.REPO_ROOT, '.git')):
            self.skipTest('not a git checkout: no committed tree to archive')
        tarball = os.path.join(self.workdir, 'source.tar')
        self.run_checked(['git', '-C', base.REPO_ROOT, 'archive',
                          '--format=tar', '--prefix=enamel-sync/',
                          '-o', tarball, 'HEAD'])
        # tar(1), as a user unpacks a release tarball (and Python before
        # 3.11.4 has no safe extraction filter).
        self.run_checked(['tar', '-xf', tarball, '-C', self.workdir])
        return os.path.join(self.workdir, 'enamel-sync')

    def build(self, kind, source):
        """Build ``kind`` ('wheel' or 'sdist') from ``source``; its path."""
        out = os.path.join(self.workdir, 'dist')
        self.run_checked(
            [sys.executable, '-m', 'build', '--no-isolation', f'--{kind}',
             '--outdir', out, source], env={'PBR_VERSION': VERSION})
        pattern = '*.whl' if kind == 'wheel' else '*.tar.gz'
        (path,) = glob.glob(os.path.join(out, pattern))
        return path

    def install(self, target):
        """A fresh virtualenv with ``target`` installed; its bin dir."""
        venv = os.path.join(self.workdir, 'venv')
        self.run_checked([sys.executable, '-m', 'venv', '--without-pip',
                          venv])
        purelib = sysconfig.get_paths(vars={'base': venv,
                                            'platbase': venv})['purelib']
        with open(os.path.join(purelib, 'test-run-site.pth'), 'w') as f:
            f.write(sysconfig.get_paths()['purelib'] + '\n')
        bin_dir = os.path.join(venv, 'bin')
        # This run's pip installs into the new virtualenv; building an
        # sdist or a tree uses the pbr, setuptools and wheel seen there.
        self.run_checked(
            [sys.executable, '-m', 'pip', '--python',
             os.path.join(bin_dir, 'python'), 'install', '-q', '--no-deps',
             '--no-build-isolation', '--no-index', target],
            env={'PBR_VERSION': VERSION})
        return bin_dir

    def assert_runs(self, bin_dir):
        """upgrade, version and revision --version-path from the package,
        in a directory outside the source tree."""
        run_dir = os.path.join(self.workdir, 'run')
        os.mkdir(run_dir)
        sync = os.path.join(bin_dir, 'enamel-sync')
        env = {'HOME': run_dir}
        result = self.run_checked([sync, '--version'], cwd=run_dir, env=env)
        self.assertIn(VERSION, result.stdout + result.stderr)
        self.run_checked([sync, 'upgrade'], cwd=run_dir, env=env)
        version = self.run_checked([sync, 'version'], cwd=run_dir, env=env)
        self.assertRegex(version.stdout, r'^[0-9a-f]{12}\n$')
        versions = os.path.join(run_dir, 'versions')
        os.mkdir(versions)
        result = self.run_checked(
            [sync, 'revision', '-m', 'x', '--version-path', versions],
            cwd=run_dir, env=env)
        (written,) = os.listdir(versions)
        self.assertIn(written, result.stdout)
        with open(os.path.join(versions, written)) as f:
            self.assertIn(f"down_revision = '{version.stdout.strip()}'",
                          f.read())
        # The package, not the source tree, was run.
        where = self.run_checked(
            [os.path.join(bin_dir, 'python'), '-c',
             'import enamel; print(enamel.__file__)'], cwd=run_dir)
        self.assertTrue(where.stdout.startswith(
            os.path.join(self.workdir, 'venv')), where.stdout)

    def test_wheel(self):
        wheel = self.build('wheel', self.source_tree())
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
        for name in RUNTIME_FILES:
            self.assertIn(name, names)
        # setuptools 68 puts it in the dist-info, newer ones in licenses/.
        self.assertTrue(
            [n for n in names if n.startswith(f'enamel_sync-{VERSION}.dist-'
                                              f'info/') and
             n.endswith('/LICENSE')], names)
        self.assert_runs(self.install(wheel))

    def test_sdist(self):
        sdist = self.build('sdist', self.source_tree())
        with tarfile.open(sdist) as tar:
            names = tar.getnames()
        # enamel-sync-<version>, or enamel_sync-<version> with setuptools
        # 69.3 and later.
        top = names[0].split('/')[0]
        self.assertIn(top, (f'enamel-sync-{VERSION}',
                            f'enamel_sync-{VERSION}'))
        for name in RUNTIME_FILES + ('LICENSE', 'requirements.txt'):
            self.assertIn(f'{top}/{name}', names)
        self.assert_runs(self.install(sdist))

    def test_tarball_without_git(self):
        # pip builds the unpacked tarball itself, PBR_VERSION set.
        self.assert_runs(self.install(self.source_tree()))

    def test_tarball_without_version_says_what_to_set(self):
        source = self.source_tree()
        result = subprocess.run(
            [sys.executable, 'setup.py', '--version'], cwd=source,
            env={k: v for k, v in os.environ.items() if k != 'PBR_VERSION'},
            text=True, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=120)
        self.assertNotEqual(0, result.returncode, result)
        self.assertIn('set PBR_VERSION', result.stderr)
