"""Apps, their model configs and sites, API tokens and service-API end users."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import UUID, Base, IdMixin, TimestampMixin
from api.models.enums import IconType


class App(IdMixin, TimestampMixin, Base):
    __tablename__ = "apps"
    __table_args__ = (sa.Index("ix_apps_tenant_id_created_at", "tenant_id", "created_at"),)

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    mode: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    icon_type: Mapped[str | None] = mapped_column(sa.String(255), default=IconType.EMOJI)
    icon: Mapped[str | None] = mapped_column(sa.String(255))
    icon_background: Mapped[str | None] = mapped_column(sa.String(255))
    app_model_config_id: Mapped[str | None] = mapped_column(UUID)
    workflow_id: Mapped[str | None] = mapped_column(UUID)
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="normal")
    enable_site: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    enable_api: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    api_rpm: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    api_rph: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    max_active_requests: Mapped[int | None] = mapped_column(sa.Integer)
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    is_public: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    is_universal: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    tracing: Mapped[str | None] = mapped_column(sa.Text)
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    created_by: Mapped[str | None] = mapped_column(UUID)
    updated_by: Mapped[str | None] = mapped_column(UUID)


# Feature columns of app_model_configs, in Dify's order; each holds a JSON value.
MODEL_CONFIG_JSON_FIELDS = (
    "suggested_questions",
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "more_like_this",
    "model",
    "user_input_form",
    "agent_mode",
    "sensitive_word_avoidance",
    "retriever_resource",
    "chat_prompt_config",
    "completion_prompt_config",
    "dataset_configs",
    "external_data_tools",
    "file_upload",
    "annotation_reply",
)


class AppModelConfig(IdMixin, TimestampMixin, Base):
    """One immutable row per saved model config; apps.app_model_config_id points at the live one."""

    __tablename__ = "app_model_configs"
    __table_args__ = (sa.Index("ix_app_model_configs_app_id", "app_id"),)

    app_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    provider: Mapped[str | None] = mapped_column(sa.String(255))
    model_id: Mapped[str | None] = mapped_column(sa.String(255))
    configs: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    opening_statement: Mapped[str | None] = mapped_column(sa.Text)
    suggested_questions: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    suggested_questions_after_answer: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    speech_to_text: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    text_to_speech: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    more_like_this: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    model: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    user_input_form: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    dataset_query_variable: Mapped[str | None] = mapped_column(sa.String(255))
    pre_prompt: Mapped[str | None] = mapped_column(sa.Text)
    agent_mode: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    sensitive_word_avoidance: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    retriever_resource: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    prompt_type: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="simple")
    chat_prompt_config: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    completion_prompt_config: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    dataset_configs: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    external_data_tools: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    file_upload: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    annotation_reply: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(UUID)
    updated_by: Mapped[str | None] = mapped_column(UUID)

    def to_dict(self) -> dict[str, Any]:
        """The model-config body exactly as clients post it (reference §9.3)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in MODEL_CONFIG_JSON_FIELDS}
        data.update(
            opening_statement=self.opening_statement,
            dataset_query_variable=self.dataset_query_variable,
            pre_prompt=self.pre_prompt,
            prompt_type=self.prompt_type,
        )
        return data


class Site(IdMixin, TimestampMixin, Base):
    __tablename__ = "sites"
    __table_args__ = (sa.Index("ix_sites_app_id", "app_id"),)

    app_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    icon_type: Mapped[str | None] = mapped_column(sa.String(255))
    icon: Mapped[str | None] = mapped_column(sa.String(255))
    icon_background: Mapped[str | None] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    default_language: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="en-US")
    chat_color_theme: Mapped[str | None] = mapped_column(sa.String(255))
    chat_color_theme_inverted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    copyright: Mapped[str | None] = mapped_column(sa.String(255))
    privacy_policy: Mapped[str | None] = mapped_column(sa.String(255))
    show_workflow_steps: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    custom_disclaimer: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    customize_domain: Mapped[str | None] = mapped_column(sa.String(255))
    customize_token_strategy: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="not_allow")
    prompt_public: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="normal")
    code: Mapped[str] = mapped_column(sa.String(255), nullable=False, unique=True)
    created_by: Mapped[str | None] = mapped_column(UUID)
    updated_by: Mapped[str | None] = mapped_column(UUID)


class ApiToken(IdMixin, Base):
    """An app or dataset API key. Only the SHA-256 digest and a display mask are stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.Index("ix_api_tokens_app_id_type", "app_id", "type"),
        sa.Index("ix_api_tokens_tenant_id_type", "tenant_id", "type"),
    )

    app_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("apps.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    token: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)  # sha256 hex of the key
    token_mask: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class EndUser(IdMixin, TimestampMixin, Base):
    __tablename__ = "end_users"
    __table_args__ = (sa.UniqueConstraint("app_id", "session_id", "type"),)

    tenant_id: Mapped[str] = mapped_column(UUID, nullable=False)
    app_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("apps.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    external_user_id: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str | None] = mapped_column(sa.String(255))
    is_anonymous: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    session_id: Mapped[str] = mapped_column(sa.String(255), nullable=False)
