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

import os
import sys

import setuptools

_HERE = os.path.dirname(os.path.abspath(__file__))

# pbr takes the version from git tags, or from PKG-INFO in an sdist; a
# tree with neither (a "git archive" tarball) needs PBR_VERSION, and pbr's
# own error does not say so.
if not (os.environ.get('PBR_VERSION') or
        os.path.exists(os.path.join(_HERE, '.git')) or
        os.path.exists(os.path.join(_HERE, 'PKG-INFO'))):
    sys.exit('enamel-sync: this source tree has no .git directory and no '
             'PKG-INFO, so its version is unknown: set PBR_VERSION, for '
             'example PBR_VERSION=1.0.0 pip install .')

setuptools.setup(
    setup_requires=['pbr>=6.0.0'],
    pbr=True)
