"""Adding and replacing documents: by text, by uploaded file, by already-uploaded file ids (console).

Every source becomes an UploadFile in storage (text as a `.txt`), so extraction is uniform; the document's
`data_source_info` is `{"upload_file_id": ...}`. A create or update validates everything first (dataset,
indexing technique, embedding model, process rule, doc_form), writes the rows, commits once and only then
dispatches `indexing.index_document` per document (dispatch.enqueue_index_document). A re-indexed document goes
back to `waiting` with a new batch. Documents of one request share a batch id (YYYYmmddHHMMSS + 6 digits).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.rag.entities import ProcessRule
from api.core.rag.errors import RuleError
from api.core.rag.extractors import SUPPORTED_EXTENSIONS, extension_of
from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.models.dataset import Dataset, DatasetProcessRule, Document
from api.models.file import UploadFile
from api.services import dataset_service, dispatch, file_service, indexing_service
from api.services.errors import (
    DocumentIndexingError,
    DocumentNotFoundError,
    InvalidInputError,
    ProviderNotInitializeError,
    UnsupportedMediaTypeError,
)
from api.services.workspace_service import Principal

DOC_FORMS = ("text_model", "qa_model", "hierarchical_model")
INDEXING_ACTIVE = ("parsing", "cleaning", "splitting", "indexing")
NO_EMBEDDING_MODEL = ("No Embedding Model available. Please configure a valid provider in the Settings -> "
                      "Model Provider.")


@dataclass(frozen=True)
class DocumentOptions:
    """How to index new or replaced documents (Dify's KnowledgeConfig, minus the data source)."""

    indexing_technique: str | None = None
    process_rule: dict[str, Any] | None = None
    doc_form: str | None = None
    doc_language: str | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None


@dataclass(frozen=True)
class FileUpload:
    """An uploaded file as the controller received it."""

    filename: str | None
    mimetype: str | None
    data: bytes


def new_batch() -> str:
    """Dify's batch id: local time YYYYmmddHHMMSS followed by a random 6-digit number."""
    return utcnow().strftime("%Y%m%d%H%M%S") + str(100000 + secrets.randbelow(900000))


def _lock_dataset(session: Session, principal: Principal, dataset_id: str) -> Dataset:
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    # serialise document creation per dataset so positions stay unique (a no-op on SQLite)
    session.execute(sa.select(Dataset.id).where(Dataset.id == dataset.id).with_for_update())
    return dataset


def _prepare_dataset(session: Session, dataset: Dataset, options: DocumentOptions) -> None:
    """Fix the dataset's indexing technique, embedding model and retrieval model on first use. Flushes only."""
    if dataset.indexing_technique is None:
        if not options.indexing_technique:
            raise InvalidInputError("indexing_technique is required.", field="indexing_technique")
        dataset.indexing_technique = options.indexing_technique
    if options.retrieval_model is not None:
        retrieval = dataset_service.validate_retrieval_model(options.retrieval_model)
        if dataset.retrieval_model is None:
            dataset.retrieval_model = retrieval
    if dataset.indexing_technique == "high_quality" and not dataset.embedding_model:
        provider, model = dataset_service.normalise_embedding(session, dataset.tenant_id,
                                                              options.embedding_model_provider,
                                                              options.embedding_model)
        if model is None:
            provider, model = dataset_service.default_embedding(session, tenant_id=dataset.tenant_id)
        if model is None:
            raise ProviderNotInitializeError(NO_EMBEDDING_MODEL)
        dataset.embedding_model_provider, dataset.embedding_model = provider, model


def _parse_rule(raw: dict[str, Any]) -> ProcessRule:
    try:
        return ProcessRule.from_dict(raw)
    except RuleError as exc:
        raise InvalidInputError(exc.message, field=exc.field or "process_rule")


def _rule_row(session: Session, dataset: Dataset, raw: dict[str, Any] | None, *, required: bool,
              account_id: str) -> DatasetProcessRule:
    """The process rule for new documents: a new row for `raw`, else the dataset's latest rule, else automatic."""
    if raw is None:
        latest = session.scalar(sa.select(DatasetProcessRule).where(DatasetProcessRule.dataset_id == dataset.id)
                                .order_by(DatasetProcessRule.created_at.desc()).limit(1))
        if latest is not None:
            return latest
        if required:
            raise InvalidInputError("process_rule is required.", field="process_rule")
    rule = _parse_rule(raw) if raw is not None else ProcessRule.automatic()
    row = DatasetProcessRule(dataset_id=dataset.id, mode=rule.mode, rules=rule.to_dict()["rules"],
                             created_by=account_id, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def _doc_form(session: Session, dataset: Dataset, requested: str | None, rule_mode: str) -> str:
    """The doc_form of new documents; sets it on a dataset without documents. Flushes nothing."""
    hierarchical = rule_mode == "hierarchical"
    form = requested or ("hierarchical_model" if hierarchical else None)
    has_documents = session.scalar(sa.select(Document.id).where(Document.dataset_id == dataset.id).limit(1))
    form = form or (dataset.doc_form if has_documents else "text_model")
    if form == "qa_model":
        raise InvalidInputError("doc_form qa_model is not supported; use text_model or hierarchical_model.",
                                field="doc_form")
    if (form == "hierarchical_model") != hierarchical:
        raise InvalidInputError("hierarchical_model goes with a hierarchical process rule, and only with it.",
                                field="doc_form")
    if has_documents and form != dataset.doc_form:
        raise InvalidInputError("doc_form is different from the dataset doc_form.", field="doc_form")
    dataset.doc_form = form
    return form


def _check_rule_and_form(session: Session, dataset: Dataset, options: DocumentOptions, *, required: bool) -> None:
    """Refuse a bad process rule or doc_form before anything is stored."""
    if options.process_rule is not None:
        rule_mode = _parse_rule(options.process_rule).mode
    else:
        rule_mode = session.scalar(sa.select(DatasetProcessRule.mode).where(DatasetProcessRule.dataset_id == dataset.id)
                                   .order_by(DatasetProcessRule.created_at.desc()).limit(1))
        if rule_mode is None and required:
            raise InvalidInputError("process_rule is required.", field="process_rule")
    _doc_form(session, dataset, options.doc_form, rule_mode or "automatic")


def _store_text(session: Session, runtime: Runtime, tenant_id: str, account_id: str, name: str, text: str
                ) -> UploadFile:
    """Keep `text` as a `.txt` upload file (Dify's upload_text), marked used. Flushes only."""
    data = text.encode("utf-8")
    key = f"upload_files/{tenant_id}/{uuid.uuid4()}.txt"
    runtime.storage.save(key, data)
    row = UploadFile(tenant_id=tenant_id, storage_type=runtime.settings.storage_type, key=key, name=name[:200],
                     size=len(data), extension="txt", mime_type="text/plain", created_by_role="account",
                     created_by=account_id, created_at=utcnow(), used=True, used_by=account_id, used_at=utcnow(),
                     hash=hashlib.sha3_256(data).hexdigest())
    session.add(row)
    session.flush()
    return row


def _check_extension(filename: str | None) -> None:
    """Only extensions the pipeline can extract (415 unsupported_file_type otherwise)."""
    if filename and extension_of(filename) not in SUPPORTED_EXTENSIONS:
        raise UnsupportedMediaTypeError(f"File type not allowed: {filename.rsplit('/', 1)[-1][:100]}")


def _store_file(session: Session, runtime: Runtime, principal: Principal, upload: FileUpload) -> UploadFile:
    """Store a document file: only extractable extensions (else 415); size limits as file_service. Commits."""
    _check_extension(upload.filename)
    row = file_service.upload_file(session, storage=runtime.storage, settings=runtime.settings,
                                   tenant_id=principal.tenant_id, created_by=principal.account_id,
                                   created_by_role="account", filename=upload.filename, mimetype=upload.mimetype,
                                   data=upload.data)
    row.used, row.used_by, row.used_at = True, principal.account_id, utcnow()
    return row


def _new_document(session: Session, dataset: Dataset, *, principal: Principal, file: UploadFile, name: str,
                  rule: DatasetProcessRule, doc_form: str, doc_language: str | None, batch: str,
                  created_from: str) -> Document:
    position = (session.scalar(sa.select(sa.func.max(Document.position)).where(Document.dataset_id == dataset.id))
                or 0) + 1
    now = utcnow()
    document = Document(tenant_id=dataset.tenant_id, dataset_id=dataset.id, position=position,
                        data_source_type="upload_file", data_source_info={"upload_file_id": file.id},
                        dataset_process_rule_id=rule.id, batch=batch, name=name[:255], created_from=created_from,
                        created_by=principal.account_id, created_at=now, updated_at=now, indexing_status="waiting",
                        doc_form=doc_form, doc_language=doc_language or "English")
    session.add(document)
    session.flush()
    return document


def _create(session: Session, *, principal: Principal, runtime: Runtime, dataset: Dataset,
            sources: list[tuple[str, UploadFile]], options: DocumentOptions, created_from: str,
            rule_required: bool) -> tuple[list[Document], str]:
    rule = _rule_row(session, dataset, options.process_rule, required=rule_required, account_id=principal.account_id)
    doc_form = _doc_form(session, dataset, options.doc_form, rule.mode)
    batch = new_batch()
    documents = [_new_document(session, dataset, principal=principal, file=file, name=name, rule=rule,
                               doc_form=doc_form, doc_language=options.doc_language, batch=batch,
                               created_from=created_from) for name, file in sources]
    dataset.data_source_type = dataset.data_source_type or "upload_file"
    session.commit()
    for document in documents:
        dispatch.enqueue_index_document(runtime.dispatcher, document.id)
    return documents, batch


def create_by_text(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str, name: str,
                   text: str, options: DocumentOptions, created_from: str = "api") -> tuple[Document, str]:
    """Add one document from text (stored as a `.txt` file); no process rule → the dataset's latest, else
    automatic. Commits, then dispatches indexing. Returns (document, batch).

    Raises: DatasetNotFoundError, PermissionDeniedError, InvalidInputError (indexing_technique missing, bad
    process rule / retrieval model / doc_form), ProviderNotInitializeError (high_quality without an embedding model).
    """
    dataset = _lock_dataset(session, principal, dataset_id)
    _prepare_dataset(session, dataset, options)
    _check_rule_and_form(session, dataset, options, required=False)
    file = _store_text(session, runtime, dataset.tenant_id, principal.account_id, name, text)
    documents, batch = _create(session, principal=principal, runtime=runtime, dataset=dataset, sources=[(name, file)],
                               options=options, created_from=created_from, rule_required=False)
    return documents[0], batch


def create_by_file(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str, upload: FileUpload,
                   options: DocumentOptions, created_from: str = "api") -> tuple[Document, str]:
    """Add one document from an uploaded file; a dataset without any process rule needs one. Commits (the file
    first, as file_service does), then dispatches indexing. Returns (document, batch).

    Raises: as create_by_text, plus UnsupportedMediaTypeError (415), PayloadTooLargeError (413).
    """
    dataset = _lock_dataset(session, principal, dataset_id)
    _check_extension(upload.filename)
    _prepare_dataset(session, dataset, options)
    _check_rule_and_form(session, dataset, options, required=True)  # before the file is stored (that commits)
    file = _store_file(session, runtime, principal, upload)
    dataset = _lock_dataset(session, principal, dataset_id)
    documents, batch = _create(session, principal=principal, runtime=runtime, dataset=dataset,
                               sources=[(file.name, file)], options=options, created_from=created_from,
                               rule_required=True)
    return documents[0], batch


def create_from_files(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                      file_ids: list[str], options: DocumentOptions) -> tuple[Dataset, list[Document], str]:
    """Console: one document per already-uploaded file of the workspace. Commits, then dispatches indexing.

    Raises: as create_by_text, plus InvalidInputError (unknown file id), UnsupportedMediaTypeError.
    """
    dataset = _lock_dataset(session, principal, dataset_id)
    _prepare_dataset(session, dataset, options)
    files = {f.id: f for f in session.scalars(sa.select(UploadFile).where(
        UploadFile.id.in_(file_ids), UploadFile.tenant_id == principal.tenant_id))}
    sources = []
    for file_id in dict.fromkeys(file_ids):
        file = files.get(file_id)
        if file is None:
            raise InvalidInputError(f"File {file_id} not found.", field="data_source")
        if file.extension.lower() not in SUPPORTED_EXTENSIONS:
            raise UnsupportedMediaTypeError()
        file.used, file.used_by, file.used_at = True, principal.account_id, utcnow()
        sources.append((file.name, file))
    documents, batch = _create(session, principal=principal, runtime=runtime, dataset=dataset, sources=sources,
                               options=options, created_from="web", rule_required=False)
    return dataset, documents, batch


def update_document(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str, document_id: str,
                    options: DocumentOptions, name: str | None = None, text: str | None = None,
                    upload: FileUpload | None = None) -> tuple[Document, str]:
    """Replace a document's source (text or file), name and/or process rule and re-index it: with a new source the
    old index entries, segments and file are removed; the document goes back to `waiting` with a new batch.
    Commits, then dispatches indexing. Returns (document, batch).

    Raises: DatasetNotFoundError, DocumentNotFoundError, DocumentIndexingError (indexing in progress),
    InvalidInputError (text without name, bad rule), UnsupportedMediaTypeError, PayloadTooLargeError.
    """
    if text is not None and not name:
        raise InvalidInputError("name is required when text is provided.", field="name")
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    document = session.scalar(sa.select(Document).where(Document.id == document_id,
                                                        Document.dataset_id == dataset.id))
    if document is None:
        raise DocumentNotFoundError()
    if document.indexing_status in INDEXING_ACTIVE:
        raise DocumentIndexingError("Document is being indexed, please try again later.")
    rule = _parse_rule(options.process_rule) if options.process_rule is not None else None
    if rule is not None and (rule.mode == "hierarchical") != (document.doc_form == "hierarchical_model"):
        raise InvalidInputError("The process rule does not fit the document's doc_form.", field="process_rule")
    new_file = _store_file(session, runtime, principal, upload) if upload is not None else None
    if text is not None:
        new_file = _store_text(session, runtime, dataset.tenant_id, principal.account_id, name or document.name, text)
    if new_file is not None:
        # the old source's index entries, segments and file go (commits); the new file is already stored
        indexing_service.remove_document_index(session, runtime=runtime, dataset_id=dataset.id,
                                               document_ids=[document.id])
        document.data_source_info = {"upload_file_id": new_file.id}
    if rule is not None:
        row = DatasetProcessRule(dataset_id=dataset.id, mode=rule.mode, rules=rule.to_dict()["rules"],
                                 created_by=principal.account_id, created_at=utcnow())
        session.add(row)
        session.flush()
        document.dataset_process_rule_id = row.id
    document.name = (name or (new_file.name if upload is not None and new_file else document.name))[:255]
    batch = reset_for_indexing(session, document)
    session.commit()
    dispatch.enqueue_index_document(runtime.dispatcher, document.id)
    return document, batch


def reset_for_indexing(session: Session, document: Document) -> str:
    """Put the document back to `waiting` under a new batch. Flushes only. Its segments stay until the indexing
    run rewrites them (and deletes those the new split no longer produces); retrieval ignores them meanwhile."""
    batch = new_batch()
    document.batch, document.indexing_status, document.error = batch, "waiting", None
    document.processing_started_at = document.parsing_completed_at = document.cleaning_completed_at = None
    document.splitting_completed_at = document.completed_at = document.stopped_at = document.paused_at = None
    document.is_paused, document.lease_owner, document.lease_expires_at, document.attempts = False, None, None, 0
    document.word_count = document.tokens = 0
    document.updated_at = utcnow()
    session.flush()
    return batch
