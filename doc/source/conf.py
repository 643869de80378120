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

project = 'enamel'
copyright = '2026, enamel developers'
extensions = [
    'sphinx.ext.autodoc',
    'oslo_config.sphinxext',
    # The sample configuration, written by oslo-config-generator at build
    # time into _static/ (reference/sample-config).
    'oslo_config.sphinxconfiggen',
    # The release notes (releasenotes/changes/, see releasenotes.rst).
    'reno.sphinxext',
    'openstackdocstheme',
]
exclude_patterns = []
html_theme = 'openstackdocs'
autodoc_member_order = 'bysource'

# oslo_config.sphinxconfiggen: the generator's own configuration file, as
# "tox -e genconfig" uses it.
config_generator_config_file = '../../etc/enamel/enamel-config-generator.conf'
sample_config_basename = '_static/enamel'

# openstackdocstheme: where the source lives ("Report a bug" and edit
# links); enamel has no Launchpad project or openstack.org repository.
openstackdocs_repo_name = 'enamel/enamel'
openstackdocs_use_storyboard = False
openstackdocs_auto_name = False
openstackdocs_bug_project = ''
openstackdocs_bug_tag = ''

# The man page, "sphinx-build -b man" (tox -e docs): enamel-sync(1), from
# the command-line reference.
man_pages = [
    ('reference/cli', 'enamel-sync',
     'own the enamel database schema (alembic migrations)',
     ['enamel developers'], 1),
]
