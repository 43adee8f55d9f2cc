"""Rows and runtime for the indexing tests: a workspace with OpenAI credentials pointing at the fake model server,
datasets, process rules, documents (by text or by uploaded file), and the queued task messages in Redis."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask

from api.extensions.runtime import Runtime, get_runtime
from api.libs.clock import utcnow
from api.models.account import Tenant
from api.models.dataset import Dataset, DatasetProcessRule, Document, DocumentSegment
from api.models.file import UploadFile
from api.services import indexing_service
from tests.fakes.rag_stores import InMemoryFullText, InMemoryVectorStore
from tests.integration.seed import store_provider_credentials

EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDINGS_PATH = "/v1/embeddings"
SIX_PARAGRAPHS = "\n\n".join(f"Paragraph {n} talks about topic{n} and nothing else." for n in range(1, 7))
CUSTOM_RULE = {"pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
               "segmentation": {"separator": "\\n\\n", "max_tokens": 100, "chunk_overlap": 0}}
HIERARCHICAL_RULE = {"pre_processing_rules": [], "parent_mode": "paragraph",
                     "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
                     "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}


@dataclass
class Stores:
    vectors: InMemoryVectorStore = field(default_factory=InMemoryVectorStore)
    fulltext: InMemoryFullText = field(default_factory=InMemoryFullText)


@dataclass
class Env:
    session: Any
    runtime: Runtime
    tenant_id: str
    stores: Stores

    def index(self, document_id: str, worker: str | None = None, **overrides: Any) -> str:
        """One task execution: index_document with the in-memory stores and a fresh worker id."""
        return indexing_service.index_document(
            self.session, runtime=overrides.pop("runtime", self.runtime), document_id=document_id,
            worker_id=worker or f"test-{uuid.uuid4().hex[:8]}",
            vector_store=overrides.pop("vectors", self.stores.vectors),
            fulltext=overrides.pop("fulltext", self.stores.fulltext), **overrides)

    def with_settings(self, **changes: Any) -> Runtime:
        return dataclasses.replace(self.runtime, settings=self.runtime.settings.with_overrides(**changes))

    def document(self, document_id: str) -> Document:
        document = self.session.get(Document, document_id, populate_existing=True)
        assert document is not None
        return document

    def segments(self, document_id: str) -> list[DocumentSegment]:
        return list(self.session.scalars(sa.select(DocumentSegment).where(DocumentSegment.document_id == document_id)
                                         .order_by(DocumentSegment.position)
                                         .execution_options(populate_existing=True)))


def make_env(db_session: Any, app: Flask, llm_url: str) -> Env:
    with app.app_context():
        runtime = get_runtime()
    tenant_id = make_tenant(db_session, llm_url=llm_url, app=app)
    return Env(db_session, runtime, tenant_id, Stores())


def make_tenant(db_session: Any, *, llm_url: str, app: Flask) -> str:
    tenant = Tenant(name=f"ws-{uuid.uuid4().hex[:6]}")
    db_session.add(tenant)
    db_session.commit()
    store_provider_credentials(db_session, app, tenant.id, "openai",
                               {"openai_api_key": "sk-test", "openai_api_base": llm_url})
    return tenant.id


def make_dataset(session: Any, tenant_id: str, *, technique: str = "high_quality") -> Dataset:
    dataset = Dataset(tenant_id=tenant_id, name=f"kb-{uuid.uuid4().hex[:8]}", indexing_technique=technique,
                      embedding_model=EMBEDDING_MODEL if technique == "high_quality" else None,
                      embedding_model_provider="openai" if technique == "high_quality" else None)
    session.add(dataset)
    session.commit()
    return dataset


def make_document(session: Any, dataset: Dataset, *, text: str | None = SIX_PARAGRAPHS,
                  rule: tuple[str, dict[str, Any]] | None = ("custom", CUSTOM_RULE), upload: UploadFile | None = None,
                  status: str = "waiting", age_seconds: int = 0) -> Document:
    rule_id = None
    if rule is not None:
        process_rule = DatasetProcessRule(dataset_id=dataset.id, mode=rule[0], rules=rule[1], created_at=utcnow())
        session.add(process_rule)
        session.flush()
        rule_id = process_rule.id
    when = utcnow() - timedelta(seconds=age_seconds)
    info = {"upload_file_id": upload.id} if upload is not None else {"text": text}
    position = 1 + int(session.scalar(sa.select(sa.func.count()).select_from(Document)
                                      .where(Document.dataset_id == dataset.id)) or 0)
    document = Document(tenant_id=dataset.tenant_id, dataset_id=dataset.id, position=position,
                        data_source_type="upload_file" if upload is not None else "text", data_source_info=info,
                        dataset_process_rule_id=rule_id, batch=uuid.uuid4().hex[:14],
                        name=upload.name if upload is not None else "note.txt", created_from="api",
                        created_at=when, updated_at=when, indexing_status=status)
    session.add(document)
    session.commit()
    return document


def make_upload(session: Any, runtime: Runtime, tenant_id: str, name: str, data: bytes) -> UploadFile:
    extension = name.rsplit(".", 1)[-1]
    key = f"upload_files/{tenant_id}/{uuid.uuid4()}.{extension}"
    runtime.storage.save(key, data)
    upload = UploadFile(tenant_id=tenant_id, storage_type="local", key=key, name=name, size=len(data),
                        extension=extension, created_by=str(uuid.uuid4()), created_at=utcnow())
    session.add(upload)
    session.commit()
    return upload


def expire_lease(session: Any, document_id: str) -> None:
    session.execute(sa.update(Document).where(Document.id == document_id)
                    .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()


def queued_documents(client: redis.Redis, among: list[Any], queue: str = "dataset") -> list[tuple[str, list[Any]]]:
    """(task name, args) of the messages Celery left in the Redis list of `queue` for the documents `among` (rows
    or ids; other test processes may share the Redis database), oldest first."""
    ids = {item if isinstance(item, str) else item.id for item in among}
    messages = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        if args and args[0] in ids:
            messages.append((message["headers"]["task"], args))
    return messages
