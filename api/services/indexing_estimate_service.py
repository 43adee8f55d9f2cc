"""How documents would be processed: the process rule to start from, and indexing estimates.

An estimate really runs extract → clean → split (core.rag.estimate) on the files, one at a time, with the same
extractors and process rule the indexing pipeline uses, and embeds nothing: it reads rows and stored files and
writes nothing. Files are looked up in the caller's workspace only (another workspace's file is 404), and so are
datasets and documents (through dataset_service / document_service).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.rag.entities import MAX_TOKENS, ProcessRule, SourceDocument
from api.core.rag.errors import ExtractionError, RuleError, UnsupportedFileTypeError
from api.core.rag.estimate import PREVIEW_LIMIT, IndexingEstimate, estimate
from api.core.rag.extractors import SUPPORTED_EXTENSIONS, extract
from api.extensions.runtime import Runtime
from api.models.dataset import DatasetProcessRule, Document
from api.models.file import UploadFile
from api.services import dataset_service, document_service
from api.services.errors import (
    DocumentAlreadyFinishedError,
    DocumentNotFoundError,
    IndexingEstimateError,
    InvalidInputError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from api.services.workspace_service import Principal

FINISHED = ("completed", "error")
# Dify's DocumentService.DEFAULT_RULES: what the console's "custom" settings start from.
DEFAULT_RULE: dict[str, Any] = {
    "mode": "custom",
    "rules": {"pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True},
                                       {"id": "remove_urls_emails", "enabled": False}],
              "segmentation": {"delimiter": "\n", "max_tokens": 1024, "chunk_overlap": 50}},
}
LIMITS = {"indexing_max_segmentation_tokens_length": MAX_TOKENS}


def process_rule_setting(session: Session, *, principal: Principal, document_id: str | None) -> dict[str, Any]:
    """`{"mode", "rules", "limits"}`: Dify's default rule, or with `document_id` the latest process rule of that
    document's dataset (the default when the dataset has none).

    Raises: DocumentNotFoundError (unknown or another workspace's document), PermissionDeniedError (a private
    dataset of another member).
    """
    mode, rules = DEFAULT_RULE["mode"], DEFAULT_RULE["rules"]
    if document_id:
        dataset_id = session.scalar(sa.select(Document.dataset_id).where(Document.id == document_id[:64],
                                                                         Document.tenant_id == principal.tenant_id))
        if dataset_id is None:
            raise DocumentNotFoundError()
        dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id)
        latest = session.scalar(sa.select(DatasetProcessRule).where(DatasetProcessRule.dataset_id == dataset.id)
                                .order_by(DatasetProcessRule.created_at.desc()).limit(1))
        if latest is not None:
            mode, rules = latest.mode, _rules_dict(latest.rules)
    return {"mode": mode, "rules": rules, "limits": dict(LIMITS)}


def _rules_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _rule(raw: dict[str, Any], doc_form: str) -> ProcessRule:
    """The process rule, checked against the doc_form as document creation checks it."""
    try:
        rule = ProcessRule.from_dict(raw)
    except RuleError as exc:
        raise InvalidInputError(exc.message, field=exc.field or "process_rule")
    if doc_form == "qa_model":
        raise InvalidInputError("doc_form qa_model is not supported; use text_model or hierarchical_model.",
                                field="doc_form")
    if (doc_form == "hierarchical_model") != (rule.mode == "hierarchical"):
        raise InvalidInputError("hierarchical_model goes with a hierarchical process rule, and only with it.",
                                field="doc_form")
    return rule


def _read(runtime: Runtime, upload: UploadFile) -> list[SourceDocument]:
    """The documents extracted from a stored upload file."""
    suffix = f".{upload.extension}".lower()
    name = upload.name if upload.name.lower().endswith(suffix) else f"{upload.name}{suffix}"
    try:
        data = runtime.storage.load(upload.key)
    except FileNotFoundError:
        raise NotFoundError("File not found.")
    try:
        return extract(name, data)
    except (ExtractionError, UnsupportedFileTypeError) as exc:
        raise IndexingEstimateError(f"Knowledge indexing estimate failed: {exc.message}")


def _lazily(runtime: Runtime, uploads: list[UploadFile]) -> Iterator[list[SourceDocument]]:
    for upload in uploads:
        yield _read(runtime, upload)


def estimate_files(session: Session, *, principal: Principal, runtime: Runtime, file_ids: list[str],
                   process_rule: dict[str, Any], doc_form: str = "text_model",
                   dataset_id: str | None = None) -> IndexingEstimate:
    """Console `POST /datasets/indexing-estimate`: segments the uploaded files would give under `process_rule`.

    Raises: NotFoundError "File not found." (an id unknown or of another workspace, or its bytes gone),
    DatasetNotFoundError / PermissionDeniedError (`dataset_id` given and not readable), InvalidInputError (bad
    rule, doc_form), UnsupportedMediaTypeError (an extension the pipeline cannot read), IndexingEstimateError (a
    file that cannot be extracted).
    """
    if dataset_id:
        dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id)
    rule = _rule(process_rule, doc_form)
    ids = list(dict.fromkeys(file_ids))
    found = {f.id: f for f in session.scalars(sa.select(UploadFile).where(
        UploadFile.id.in_(ids), UploadFile.tenant_id == principal.tenant_id))}
    if not ids or len(found) != len(ids):
        raise NotFoundError("File not found.")
    uploads = [found[i] for i in ids]
    if any(u.extension.lower() not in SUPPORTED_EXTENSIONS for u in uploads):
        raise UnsupportedMediaTypeError()
    session.commit()  # no transaction stays open while files are read and split
    return estimate(_lazily(runtime, uploads), rule)


def _document_sources(session: Session, runtime: Runtime, document: Document) -> list[SourceDocument]:
    info = document.data_source_info if isinstance(document.data_source_info, dict) else {}
    if isinstance(info.get("text"), str):
        return [SourceDocument(info["text"])]
    upload = session.get(UploadFile, str(info.get("upload_file_id") or ""))
    if upload is None or upload.tenant_id != document.tenant_id:
        raise NotFoundError("File not found.")
    return _read(runtime, upload)


def _document_rule(session: Session, document: Document) -> ProcessRule:
    row = document_service.process_rule_of(session, document)
    raw = {"mode": row.mode, "rules": _rules_dict(row.rules)} if row is not None else {"mode": "automatic"}
    return _rule(raw, document.doc_form)


def _estimate_documents(session: Session, runtime: Runtime, documents: list[Document]) -> IndexingEstimate:
    if any(d.indexing_status in FINISHED for d in documents):
        raise DocumentAlreadyFinishedError()
    work = [(d, _document_rule(session, d)) for d in documents]
    total = IndexingEstimate()
    for document, rule in work:
        part = estimate([_document_sources(session, runtime, document)], rule,
                        preview_limit=max(0, PREVIEW_LIMIT - len(total.preview)))
        total.total_segments += part.total_segments
        total.preview.extend(part.preview)
    return total


def estimate_document(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                      document_id: str) -> IndexingEstimate:
    """The estimate of a document that has not finished indexing, by its own process rule and doc_form.

    Raises: DatasetNotFoundError, DocumentNotFoundError, PermissionDeniedError, DocumentAlreadyFinishedError
    (completed or error), NotFoundError "File not found.", IndexingEstimateError.
    """
    _, document = document_service.get_document(session, principal=principal, dataset_id=dataset_id,
                                                 document_id=document_id)
    return _estimate_documents(session, runtime, [document])


def estimate_batch(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                   batch: str) -> IndexingEstimate:
    """The estimate of every document of a batch (none may have finished), each by its own process rule.

    Raises: as estimate_document; DocumentNotFoundError "Documents not found." for an unknown batch.
    """
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id)
    documents = list(session.scalars(sa.select(Document).where(Document.dataset_id == dataset.id,
                                                               Document.batch == batch[:255])
                                     .order_by(Document.position)))
    if not documents:
        raise DocumentNotFoundError("Documents not found.")
    return _estimate_documents(session, runtime, documents)
