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

"""The models of enamel's API database (see :mod:`enamel.databases`).

They have their own ``MetaData``, with the same naming convention as the
main models, and are created and changed only by the revisions under
``alembic_migrations/api_versions/``.
"""

import typing

import sqlalchemy as sa
from sqlalchemy import orm

from enamel import db
from enamel import models


class Base(orm.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=db.NAMING_CONVENTION)


class Quota(models.TimestampMixin, Base):
    """How much of a resource a project may use."""

    __tablename__ = 'quotas'
    __table_args__ = (
        sa.UniqueConstraint('project_id', 'resource'),
        models.MYSQL_TABLE_ARGS,
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(255), nullable=False)
    resource: orm.Mapped[str] = orm.mapped_column(
        sa.String(255), nullable=False)
    hard_limit: orm.Mapped[typing.Optional[int]] = orm.mapped_column(
        sa.Integer)
