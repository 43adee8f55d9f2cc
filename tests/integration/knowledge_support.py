"""Helpers for the knowledge API tests: run the indexing task body in-process (the integration Celery has no
worker), upload files, and build documents through the same services the API uses."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask

from api.extensions.runtime import get_runtime
from api.models.dataset import Document
from api.services import dataset_service, document_ingest_service, file_service, indexing_service
from api.services.document_ingest_service import DocumentOptions

TEXT = ("Openify indexes knowledge.\n\nThe quick brown fox jumps over the lazy dog.\n\n"
        "Retrieval augmented generation answers with context.")
PARAGRAPH_RULE = {"mode": "custom", "rules": {
    "pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True}],
    "segmentation": {"separator": "\\n\\n", "max_tokens": 100, "chunk_overlap": 0}}}


def index_now(app: Flask, db_session: Any, document_id: str) -> str:
    """Run the indexing task body for one document, as a worker would; returns its outcome."""
    with app.app_context():
        return indexing_service.index_document(db_session, runtime=get_runtime(), document_id=document_id,
                                               worker_id=f"test-{uuid.uuid4().hex[:8]}")


def upload(app: Flask, db_session: Any, *, tenant_id: str, account_id: str, name: str = "notes.txt",
           data: bytes = TEXT.encode()) -> str:
    """An upload file of the workspace (as POST /files/upload stores it); returns its id."""
    with app.app_context():
        runtime = get_runtime()
        row = file_service.upload_file(db_session, storage=runtime.storage, settings=runtime.settings,
                                       tenant_id=tenant_id, created_by=account_id, created_by_role="account",
                                       filename=name, mimetype=None, data=data)
    return row.id


def text_document(app: Flask, db_session: Any, *, tenant_id: str, dataset_id: str, name: str = "notes",
                  text: str = TEXT, rule: dict[str, Any] | None = None, technique: str | None = "economy",
                  index: bool = True) -> Document:
    """A document created by text as the owner (through document_ingest_service), indexed unless `index` is False."""
    with app.app_context():
        principal = dataset_service.owner_principal(db_session, tenant_id=tenant_id)
        document, _ = document_ingest_service.create_by_text(
            db_session, principal=principal, runtime=get_runtime(), dataset_id=dataset_id, name=name, text=text,
            options=DocumentOptions(indexing_technique=technique, process_rule=rule or PARAGRAPH_RULE))
    if index:
        assert index_now(app, db_session, document.id) == "completed", document.error
    return document


def dataset_key(console: Any, token: str) -> str:
    """A new knowledge API key of the caller's workspace (owner/admin)."""
    response = console.call("post", "/datasets/api-keys", token=token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]
