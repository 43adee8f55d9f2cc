"""Conversations, messages, feedback and message files (Dify's columns, plus run bookkeeping)."""

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import UUID, Base, IdMixin, TimestampMixin

_PRICE = sa.Numeric(10, 7)


class Conversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.Index("ix_conversations_app_end_user_updated", "app_id", "from_end_user_id", "is_deleted", "updated_at"),
        sa.Index("ix_conversations_app_account", "app_id", "from_account_id"),
    )

    app_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    app_model_config_id: Mapped[str | None] = mapped_column(UUID)
    model_provider: Mapped[str | None] = mapped_column(sa.String(255))
    override_model_configs: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    model_id: Mapped[str | None] = mapped_column(sa.String(255))
    mode: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    summary: Mapped[str | None] = mapped_column(sa.Text)
    inputs: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    introduction: Mapped[str | None] = mapped_column(sa.Text)
    system_instruction: Mapped[str | None] = mapped_column(sa.Text)
    system_instruction_tokens: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="normal")
    invoke_from: Mapped[str | None] = mapped_column(sa.String(255))
    from_source: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    from_end_user_id: Mapped[str | None] = mapped_column(UUID)
    from_account_id: Mapped[str | None] = mapped_column(UUID)
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    read_account_id: Mapped[str | None] = mapped_column(UUID)
    dialogue_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    is_deleted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class Message(IdMixin, TimestampMixin, Base):
    """One turn. `status`: pending → normal | stopped | error (Dify's normal/error plus run states)."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
        sa.Index("ix_messages_status_created_at", "status", "created_at"),
        sa.Index("ix_messages_task_id", "task_id"),
    )

    app_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    model_provider: Mapped[str | None] = mapped_column(sa.String(255))
    model_id: Mapped[str | None] = mapped_column(sa.String(255))
    override_model_configs: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    conversation_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                                                 nullable=False)
    inputs: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    query: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    message: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    message_tokens: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    message_unit_price: Mapped[Decimal] = mapped_column(_PRICE, nullable=False, default=0)
    message_price_unit: Mapped[Decimal] = mapped_column(_PRICE, nullable=False, default=Decimal("0.001"))
    answer: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    answer_tokens: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    answer_unit_price: Mapped[Decimal] = mapped_column(_PRICE, nullable=False, default=0)
    answer_price_unit: Mapped[Decimal] = mapped_column(_PRICE, nullable=False, default=Decimal("0.001"))
    parent_message_id: Mapped[str | None] = mapped_column(UUID)
    provider_response_latency: Mapped[float] = mapped_column(sa.Float, nullable=False, default=0)
    total_price: Mapped[Decimal | None] = mapped_column(_PRICE)
    currency: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="USD")
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="pending")
    error: Mapped[str | None] = mapped_column(sa.Text)
    message_metadata: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    invoke_from: Mapped[str | None] = mapped_column(sa.String(255))
    from_source: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    from_end_user_id: Mapped[str | None] = mapped_column(UUID)
    from_account_id: Mapped[str | None] = mapped_column(UUID)
    agent_based: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    workflow_run_id: Mapped[str | None] = mapped_column(UUID)
    app_mode: Mapped[str | None] = mapped_column(sa.String(255))
    task_id: Mapped[str | None] = mapped_column(UUID)
    app_model_config_id: Mapped[str | None] = mapped_column(UUID)  # the config this turn ran with


class MessageFeedback(IdMixin, TimestampMixin, Base):
    __tablename__ = "message_feedbacks"
    __table_args__ = (sa.Index("ix_message_feedbacks_message_id", "message_id"),)

    app_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False)
    conversation_id: Mapped[str] = mapped_column(UUID, nullable=False)
    message_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    rating: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    content: Mapped[str | None] = mapped_column(sa.Text)
    from_source: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    from_end_user_id: Mapped[str | None] = mapped_column(UUID)
    from_account_id: Mapped[str | None] = mapped_column(UUID)


class MessageFile(IdMixin, Base):
    __tablename__ = "message_files"
    __table_args__ = (sa.Index("ix_message_files_message_id", "message_id"),)

    message_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    transfer_method: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    url: Mapped[str | None] = mapped_column(sa.Text)
    belongs_to: Mapped[str | None] = mapped_column(sa.String(255))
    upload_file_id: Mapped[str | None] = mapped_column(UUID)
    created_by_role: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    created_by: Mapped[str] = mapped_column(UUID, nullable=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
