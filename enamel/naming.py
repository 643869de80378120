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

"""enamel's naming convention: the one its models' ``MetaData`` carries,
declared by its databases (:mod:`enamel.databases`) for the revisions
they run. Imports nothing, so that both the databases and
:mod:`enamel.db` name it without importing each other.
"""

# Every constraint and index gets a deterministic name, so that migrations
# can drop or alter it by name on every engine (SQLite batch mode cannot
# drop an unnamed constraint). enamel's models' metadata carries it, and
# so does the metadata that running revisions get (alembic's ``op`` names
# constraints with it): main and api declare it, so that running
# revisions needs no model import.
NAMING_CONVENTION = {
    'ix': 'ix_%(table_name)s_%(column_0_N_name)s',
    'uq': 'uq_%(table_name)s_%(column_0_N_name)s',
    'ck': 'ck_%(table_name)s_%(constraint_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}
