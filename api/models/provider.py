"""Model-provider credentials (encrypted at rest) and workspace default models."""


import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import UUID, Base, IdMixin, TimestampMixin


class ProviderCredential(IdMixin, TimestampMixin, Base):
    """Provider-level credentials (e.g. an OpenAI key) of a workspace; `encrypted_config` is Fernet-encrypted JSON."""

    __tablename__ = "provider_credentials"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "provider_name"),)

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    provider_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    credential_name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="API KEY 1")
    encrypted_config: Mapped[str] = mapped_column(sa.Text, nullable=False)
    is_valid: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)


class ProviderModelCredential(IdMixin, TimestampMixin, Base):
    """Per-model credentials (openai_api_compatible, azure_openai, ollama) of a workspace."""

    __tablename__ = "provider_model_credentials"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "provider_name", "model_name", "model_type"),)

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    provider_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    model_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    model_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    credential_name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="API KEY 1")
    encrypted_config: Mapped[str] = mapped_column(sa.Text, nullable=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)


class TenantDefaultModel(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenant_default_models"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "model_type"),)

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    provider_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    model_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    model_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)


