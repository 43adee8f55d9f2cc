"""Declarative base, naming convention (stable constraint names for Alembic) and column mixins."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from api.libs.clock import utcnow
from api.libs.uuid7 import uuid7_str

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Ids are UUID strings on the wire; a 36-char string column is portable to SQLite and never
# raises on a malformed id (a bad id simply matches nothing → 404).
UUID = sa.String(36)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=uuid7_str)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow,
                                                 server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow,
                                                 server_default=sa.func.current_timestamp())
