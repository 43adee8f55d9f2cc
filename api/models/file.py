"""Uploaded files (content lives in the storage port; the row holds its key and metadata)."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import UUID, Base, IdMixin


class UploadFile(IdMixin, Base):
    __tablename__ = "upload_files"
    __table_args__ = (sa.Index("ix_upload_files_tenant_id", "tenant_id"),)

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    storage_type: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    key: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    extension: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    mime_type: Mapped[str | None] = mapped_column(sa.String(255))
    created_by_role: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="account")
    created_by: Mapped[str] = mapped_column(UUID, nullable=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    used: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    used_by: Mapped[str | None] = mapped_column(UUID)
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    hash: Mapped[str | None] = mapped_column(sa.String(255))
    source_url: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
