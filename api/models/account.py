"""Accounts, workspaces (tenants), memberships, setup marker, refresh tokens and invitations."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import UUID, Base, IdMixin, TimestampMixin
from api.models.enums import AccountStatus, TenantRole, TenantStatus


class Account(IdMixin, TimestampMixin, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    email: Mapped[str] = mapped_column(sa.String(255), nullable=False, unique=True)
    password: Mapped[str | None] = mapped_column(sa.String(255))  # Argon2id PHC string
    password_salt: Mapped[str | None] = mapped_column(sa.String(255))  # unused: the PHC string carries its salt
    avatar: Mapped[str | None] = mapped_column(sa.String(255))
    interface_language: Mapped[str | None] = mapped_column(sa.String(255), default="en-US")
    interface_theme: Mapped[str | None] = mapped_column(sa.String(255), default="light")
    timezone: Mapped[str | None] = mapped_column(sa.String(255), default="UTC")
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    last_login_ip: Mapped[str | None] = mapped_column(sa.String(255))
    last_active_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=AccountStatus.ACTIVE)
    initialized_at: Mapped[datetime | None] = mapped_column(sa.DateTime)


class Tenant(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    encrypt_public_key: Mapped[str | None] = mapped_column(sa.Text)
    plan: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="basic")
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, default=TenantStatus.NORMAL)
    custom_config: Mapped[dict | None] = mapped_column(sa.JSON)


class TenantAccountJoin(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenant_account_joins"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "account_id"),
        sa.Index("ix_tenant_account_joins_account_id", "account_id"),
    )

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    current: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=TenantRole.NORMAL)
    invited_by: Mapped[str | None] = mapped_column(UUID)


class DifySetup(Base):
    __tablename__ = "dify_setups"

    version: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    setup_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class RefreshToken(IdMixin, Base):
    """One row per issued refresh token; only its SHA-256 digest is stored."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (sa.Index("ix_refresh_tokens_account_id", "account_id"),)

    account_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class Invitation(IdMixin, Base):
    """A single-use activation token for an invited account (digest only)."""

    __tablename__ = "invitations"
    __table_args__ = (sa.Index("ix_invitations_account_id", "account_id"),)

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    invited_by: Mapped[str | None] = mapped_column(UUID)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
