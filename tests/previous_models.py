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

"""The previous release's models: a snapshot kept when a release is cut.

The rolling-upgrade tests (``tests/functional/test_rolling_upgrade.py``)
run these against the expanded schema to prove that the previous
release's services keep reading and writing while ``upgrade --expand``
and the online data migrations run. When a release is cut, copy
``enamel/models.py`` here (with its own ``Base``, so that both sets of
models can be loaded in one process) and keep it until the next cut.

Snapshot of: the first release, whose schema is the one the history's
first revision creates (no test names that revision's id: they read it
from the script directory, ``tests.base.first_revision``).
"""


import datetime
import typing

import sqlalchemy as sa
from sqlalchemy import orm

from enamel import db

MYSQL_TABLE_ARGS = {
    'mysql_engine': 'InnoDB',
    'mysql_charset': 'utf8mb4',
    'mysql_collate': 'utf8mb4_unicode_ci',
}


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Base(orm.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=db.NAMING_CONVENTION)


class TimestampMixin:
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        sa.DateTime, nullable=False, default=_utcnow)
    updated_at: orm.Mapped[typing.Optional[datetime.datetime]] = (
        orm.mapped_column(sa.DateTime, nullable=True, onupdate=_utcnow))


class Task(TimestampMixin, Base):
    """A unit of orchestration work requested by a user."""

    __tablename__ = 'tasks'
    __table_args__ = (
        sa.UniqueConstraint('uuid'),
        sa.Index(None, 'project_id'),
        sa.Index(None, 'request_id'),
        sa.Index(None, 'state'),
        MYSQL_TABLE_ARGS,
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), nullable=False)
    action: orm.Mapped[str] = orm.mapped_column(
        sa.String(255), nullable=False)
    state: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), nullable=False, default='pending')
    request_id: orm.Mapped[typing.Optional[str]] = orm.mapped_column(
        sa.String(255))
    user_id: orm.Mapped[typing.Optional[str]] = orm.mapped_column(
        sa.String(255))
    project_id: orm.Mapped[typing.Optional[str]] = orm.mapped_column(
        sa.String(255))
    # JSON-encoded by the service; Text keeps the type identical on every
    # engine (MariaDB's JSON is an alias of LONGTEXT with a CHECK).
    parameters: orm.Mapped[typing.Optional[str]] = orm.mapped_column(sa.Text)
    ended_at: orm.Mapped[typing.Optional[datetime.datetime]] = (
        orm.mapped_column(sa.DateTime))

    items: orm.Mapped[typing.List['TaskItem']] = orm.relationship(
        back_populates='task', cascade='all, delete-orphan',
        passive_deletes=True)


class TaskItem(TimestampMixin, Base):
    """One step of a task."""

    __tablename__ = 'task_items'
    __table_args__ = (
        sa.UniqueConstraint('uuid'),
        sa.Index(None, 'task_id'),
        MYSQL_TABLE_ARGS,
    )

    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), nullable=False)
    action: orm.Mapped[str] = orm.mapped_column(
        sa.String(255), nullable=False)
    state: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), nullable=False, default='pending')
    task_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey('tasks.id', ondelete='CASCADE'), nullable=False)

    task: orm.Mapped[Task] = orm.relationship(back_populates='items')
