"""Tags for apps and datasets, and their bindings (reference §4.13)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import UUID, Base, IdMixin


class Tag(IdMixin, Base):
    __tablename__ = "tags"
    __table_args__ = (sa.Index("ix_tags_tenant_id_type", "tenant_id", "type"),)

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # "app" | "knowledge"
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    created_by: Mapped[str | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class TagBinding(IdMixin, Base):
    __tablename__ = "tag_bindings"
    __table_args__ = (sa.UniqueConstraint("tag_id", "target_id"), sa.Index("ix_tag_bindings_target_id", "target_id"))

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    tag_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tags.id", ondelete="CASCADE"), nullable=False)
    target_id: Mapped[str] = mapped_column(UUID, nullable=False)
    created_by: Mapped[str | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
