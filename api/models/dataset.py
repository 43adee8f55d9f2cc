"""Knowledge: datasets, process rules, documents (with an indexing lease), segments, child chunks,
the embedding cache and the keyword index."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import UUID, Base, IdMixin, TimestampMixin


class Dataset(IdMixin, TimestampMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"), sa.Index("ix_datasets_tenant_id_created_at",
                                                                        "tenant_id", "created_at"))

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    provider: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="vendor")
    permission: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="only_me")
    data_source_type: Mapped[str | None] = mapped_column(sa.String(255))
    indexing_technique: Mapped[str | None] = mapped_column(sa.String(255))
    embedding_model: Mapped[str | None] = mapped_column(sa.String(255))
    embedding_model_provider: Mapped[str | None] = mapped_column(sa.String(255))
    retrieval_model: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    doc_form: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="text_model")
    enable_api: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    icon_info: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(UUID)
    updated_by: Mapped[str | None] = mapped_column(UUID)


class DatasetPermission(IdMixin, Base):
    """Members allowed to see a `partial_members` dataset (besides its creator)."""

    __tablename__ = "dataset_permissions"
    __table_args__ = (sa.UniqueConstraint("dataset_id", "account_id"),
                      sa.Index("ix_dataset_permissions_account_id", "account_id"))

    dataset_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    account_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False)
    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    has_permission: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class DatasetProcessRule(IdMixin, Base):
    __tablename__ = "dataset_process_rules"
    __table_args__ = (sa.Index("ix_dataset_process_rules_dataset_id", "dataset_id"),)

    dataset_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    mode: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="automatic")
    rules: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class Document(IdMixin, Base):
    """A source document. `indexing_status` follows Dify's machine; `lease_owner`/`lease_expires_at` are ours:
    the worker that claimed the document renews the lease while it works, and the reaper re-queues or fails
    documents whose lease expired, so none stays in a non-terminal status forever."""

    __tablename__ = "documents"
    __table_args__ = (
        sa.Index("ix_documents_dataset_id_position", "dataset_id", "position"),
        sa.Index("ix_documents_indexing_status_lease", "indexing_status", "lease_expires_at"),
        sa.Index("ix_documents_dataset_id_batch", "dataset_id", "batch"),
    )

    tenant_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)
    dataset_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    data_source_type: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    data_source_info: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    dataset_process_rule_id: Mapped[str | None] = mapped_column(UUID)
    batch: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    created_from: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="web")
    created_by: Mapped[str | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    processing_started_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    parsing_completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    cleaning_completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    splitting_completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    paused_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    is_paused: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    word_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    tokens: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    indexing_latency: Mapped[float | None] = mapped_column(sa.Float)
    indexing_status: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="waiting")
    error: Mapped[str | None] = mapped_column(sa.Text)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    disabled_by: Mapped[str | None] = mapped_column(UUID)
    archived: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    archived_by: Mapped[str | None] = mapped_column(UUID)
    doc_form: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="text_model")
    doc_language: Mapped[str | None] = mapped_column(sa.String(255))
    doc_metadata: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class DocumentSegment(Base):
    """A chunk. Its id is derived from (document, position, content), so a re-run writes the same rows."""

    __tablename__ = "document_segments"
    __table_args__ = (
        sa.Index("ix_document_segments_document_id_position", "document_id", "position"),
        sa.Index("ix_document_segments_dataset_id", "dataset_id"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(UUID, nullable=False)
    dataset_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    document_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    content: Mapped[str] = mapped_column(sa.Text, nullable=False)
    answer: Mapped[str | None] = mapped_column(sa.Text)
    word_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    tokens: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    keywords: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    index_node_id: Mapped[str | None] = mapped_column(sa.String(255))
    index_node_hash: Mapped[str | None] = mapped_column(sa.String(255))
    hit_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    disabled_by: Mapped[str | None] = mapped_column(UUID)
    status: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="waiting")
    created_by: Mapped[str | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(UUID)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    indexing_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    error: Mapped[str | None] = mapped_column(sa.Text)
    stopped_at: Mapped[datetime | None] = mapped_column(sa.DateTime)


class ChildChunk(Base):
    __tablename__ = "child_chunks"
    __table_args__ = (sa.Index("ix_child_chunks_segment_id_position", "segment_id", "position"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(UUID, nullable=False)
    dataset_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    document_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False)
    segment_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("document_segments.id", ondelete="CASCADE"),
                                            nullable=False)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    content: Mapped[str] = mapped_column(sa.Text, nullable=False)
    word_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    index_node_id: Mapped[str | None] = mapped_column(sa.String(255))
    index_node_hash: Mapped[str | None] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="automatic")
    created_by: Mapped[str | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(UUID)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class Embedding(IdMixin, Base):
    """Embedding cache keyed by (provider, model, SHA-256 of the text): unchanged chunks are never re-embedded."""

    __tablename__ = "embeddings"
    __table_args__ = (sa.UniqueConstraint("provider_name", "model_name", "hash"),)

    provider_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    model_name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    embedding: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)  # float32 little-endian
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, nullable=False)


class SegmentKeyword(Base):
    """Economy-mode keyword index: one row per (segment, keyword)."""

    __tablename__ = "segment_keywords"
    __table_args__ = (sa.Index("ix_segment_keywords_dataset_id_keyword", "dataset_id", "keyword"),)

    segment_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("document_segments.id", ondelete="CASCADE"),
                                            primary_key=True)
    keyword: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(UUID, nullable=False)
    document_id: Mapped[str] = mapped_column(UUID, nullable=False)
