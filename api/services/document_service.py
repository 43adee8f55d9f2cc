"""Documents of a dataset: list, read, rename, delete, enable/disable/archive, retry, pause/resume, indexing
progress, download.

Adding and replacing documents lives in document_ingest_service. Every lookup goes through the dataset
(dataset_service.get_dataset: tenant and visibility checks), so another workspace's document is 404.
A document that is being indexed cannot be deleted (DocumentIndexingError); deleting removes its index
entries (indexing_service.remove_document_index), segments and original file.
`display_status` is Dify's derived status: queuing, paused, indexing, error, available, disabled, archived.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.libs.pagination import Page
from api.libs.zipstream import stream_zip, unique_names
from api.models.dataset import Dataset, DatasetProcessRule, Document, DocumentSegment
from api.models.file import UploadFile
from api.services import dataset_service, dispatch, document_ingest_service, indexing_service
from api.services.errors import (
    ArchivedDocumentImmutableError,
    DocumentAlreadyFinishedError,
    DocumentIndexingError,
    DocumentNotFoundError,
    InvalidActionError,
    InvalidInputError,
    StoredFileNotFoundError,
)
from api.services.workspace_service import Principal

INDEXING_ACTIVE = document_ingest_service.INDEXING_ACTIVE
PAUSABLE = ("waiting", *INDEXING_ACTIVE)  # Dify pauses any document that has not finished
ACTIONS = ("enable", "disable", "archive", "un_archive")
DISPLAY_STATUSES = ("queuing", "paused", "indexing", "error", "available", "disabled", "archived")
STATUS_ALIASES = {"active": "available", "enabled": "available"}


@dataclass(frozen=True)
class SegmentCounts:
    completed: int = 0
    total: int = 0
    hit_count: int = 0


def display_status(document: Document) -> str:
    """Dify's display status derived from indexing_status, is_paused, enabled and archived."""
    status = document.indexing_status
    if status == "waiting":
        return "queuing"
    if status not in ("completed", "error") and document.is_paused:
        return "paused"
    if status in INDEXING_ACTIVE:
        return "indexing"
    if status == "error":
        return "error"
    if document.archived:
        return "archived"
    return "available" if document.enabled else "disabled"


def _display_filter(status: str) -> sa.ColumnElement[bool]:
    completed = Document.indexing_status == "completed"
    return {
        "queuing": Document.indexing_status == "waiting",
        "paused": sa.and_(Document.is_paused.is_(True), Document.indexing_status.in_(INDEXING_ACTIVE)),
        "indexing": sa.and_(Document.is_paused.is_(False), Document.indexing_status.in_(INDEXING_ACTIVE)),
        "error": Document.indexing_status == "error",
        "available": sa.and_(completed, Document.enabled.is_(True), Document.archived.is_(False)),
        "disabled": sa.and_(completed, Document.enabled.is_(False), Document.archived.is_(False)),
        "archived": sa.and_(completed, Document.archived.is_(True)),
    }[STATUS_ALIASES.get(status, status)]


def list_documents(session: Session, *, principal: Principal, dataset_id: str, page: int, limit: int,
                   keyword: str | None = None, status: str | None = None) -> tuple[Dataset, Page]:
    """A page of the dataset's documents, newest first (created_at, then position, descending), filtered by
    name and display status. Raises DatasetNotFoundError, PermissionDeniedError."""
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id)
    cond = [Document.dataset_id == dataset.id]
    if keyword:
        escaped = keyword[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond.append(Document.name.ilike(f"%{escaped}%", escape="\\"))
    if status:
        cond.append(_display_filter(status))
    total = session.scalar(sa.select(sa.func.count(Document.id)).where(*cond)) or 0
    items = session.scalars(sa.select(Document).where(*cond).order_by(
        Document.created_at.desc(), Document.position.desc()).offset((page - 1) * limit).limit(limit)).all()
    return dataset, Page(items=list(items), total=total, page=page, limit=limit)


def get_document(session: Session, *, principal: Principal, dataset_id: str, document_id: str,
                 write: bool = False) -> tuple[Dataset, Document]:
    """(dataset, document). Raises DatasetNotFoundError, DocumentNotFoundError, PermissionDeniedError."""
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id, write=write)
    document = session.scalar(sa.select(Document).where(Document.id == document_id,
                                                        Document.dataset_id == dataset.id))
    if document is None:
        raise DocumentNotFoundError()
    return dataset, document


def segment_counts(session: Session, document_ids: list[str]) -> dict[str, SegmentCounts]:
    """Completed and total segments per document (total excludes `re_segment`; completed have completed_at), and
    the document's hit count (the sum over its segments)."""
    if not document_ids:
        return {}
    rows = session.execute(sa.select(
        DocumentSegment.document_id, sa.func.count(DocumentSegment.id),
        sa.func.sum(sa.case((DocumentSegment.completed_at.is_not(None), 1), else_=0)),
        sa.func.sum(DocumentSegment.hit_count))
        .where(DocumentSegment.document_id.in_(document_ids), DocumentSegment.status != "re_segment")
        .group_by(DocumentSegment.document_id)).all()
    counts = {i: SegmentCounts() for i in document_ids}
    counts.update({doc_id: SegmentCounts(int(done or 0), int(total), int(hits or 0))
                   for doc_id, total, done, hits in rows})
    return counts


def upload_files(session: Session, documents: list[Document]) -> dict[str, UploadFile]:
    """The original upload file of each document, keyed by file id."""
    ids = [i for i in ((d.data_source_info or {}).get("upload_file_id") for d in documents) if i]
    if not ids:
        return {}
    return {f.id: f for f in session.scalars(sa.select(UploadFile).where(UploadFile.id.in_(ids)))}


def process_rule_of(session: Session, document: Document) -> DatasetProcessRule | None:
    """The process rule the document was indexed with, or None if it names none. Reads only."""
    if not document.dataset_process_rule_id:
        return None
    return session.get(DatasetProcessRule, document.dataset_process_rule_id)


def batch_status(session: Session, *, principal: Principal, dataset_id: str, batch: str
                 ) -> list[tuple[Document, SegmentCounts]]:
    """Progress of every document of a batch. Raises DocumentNotFoundError ("Documents not found.")."""
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id)
    documents = list(session.scalars(sa.select(Document).where(Document.dataset_id == dataset.id,
                                                               Document.batch == batch[:255])
                                     .order_by(Document.position)))
    if not documents:
        raise DocumentNotFoundError("Documents not found.")
    counts = segment_counts(session, [d.id for d in documents])
    return [(d, counts[d.id]) for d in documents]


def document_status(session: Session, *, principal: Principal, dataset_id: str, document_id: str
                    ) -> tuple[Document, SegmentCounts]:
    """Progress of one document."""
    _, document = get_document(session, principal=principal, dataset_id=dataset_id, document_id=document_id)
    return document, segment_counts(session, [document.id])[document.id]


def delete_documents(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                     document_ids: list[str], refuse_archived: bool = False) -> None:
    """Delete documents with their index entries, segments and original files (dataset editors). Commits.

    Raises: DatasetNotFoundError, DocumentNotFoundError (any id unknown: nothing is deleted),
    DocumentIndexingError (one is being indexed), ArchivedDocumentImmutableError (refuse_archived).
    """
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    ids = list(dict.fromkeys(document_ids))
    documents = list(session.scalars(sa.select(Document).where(Document.id.in_(ids),
                                                               Document.dataset_id == dataset.id)))
    if not ids or len(documents) != len(ids):
        raise DocumentNotFoundError()
    if any(d.indexing_status in INDEXING_ACTIVE for d in documents):
        raise DocumentIndexingError()
    if refuse_archived and any(d.archived for d in documents):
        raise ArchivedDocumentImmutableError()
    # index entries, keywords, segments and source files first (commits), then the rows
    indexing_service.remove_document_index(session, runtime=runtime, dataset_id=dataset.id, document_ids=ids)
    session.execute(sa.delete(Document).where(Document.id.in_(ids), Document.dataset_id == dataset.id))
    session.commit()


def update_status(session: Session, *, principal: Principal, dataset_id: str, action: str,
                  document_ids: list[str]) -> None:
    """Enable, disable, archive or un-archive documents (dataset editors). Commits.

    Disabled and archived documents stay indexed but are never retrieved (retrieval filters on them), so
    enabling or un-archiving needs no re-indexing.
    Raises: InvalidActionError (unknown action), DocumentNotFoundError, DocumentIndexingError (enable/disable
    while indexing).
    """
    if action not in ACTIONS:
        raise InvalidActionError(f"Invalid action: {action}. Use one of {', '.join(ACTIONS)}.")
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    ids = list(dict.fromkeys(document_ids))
    documents = list(session.scalars(sa.select(Document).where(Document.id.in_(ids),
                                                               Document.dataset_id == dataset.id)))
    if not ids or len(documents) != len(ids):
        raise DocumentNotFoundError()
    now = utcnow()
    for document in documents:
        if action in ("enable", "disable") and document.indexing_status in INDEXING_ACTIVE:
            raise DocumentIndexingError("Document is being indexed, please try again later.")
        if action == "enable":
            document.enabled, document.disabled_at, document.disabled_by = True, None, None
        elif action == "disable":
            document.enabled, document.disabled_at, document.disabled_by = False, now, principal.account_id
        elif action == "archive":
            document.archived, document.archived_at, document.archived_by = True, now, principal.account_id
        else:
            document.archived, document.archived_at, document.archived_by = False, None, None
        document.updated_at = now
    session.commit()


def retry_documents(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                    document_ids: list[str]) -> list[str]:
    """Re-queue the given documents that ended in `error` (others are left alone). Commits, then dispatches
    indexing; returns the re-queued ids. Raises DatasetNotFoundError, DocumentNotFoundError."""
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id, write=True)
    ids = list(dict.fromkeys(document_ids))
    documents = list(session.scalars(sa.select(Document).where(Document.id.in_(ids),
                                                               Document.dataset_id == dataset.id)))
    if not ids or len(documents) != len(ids):
        raise DocumentNotFoundError()
    failed = [d for d in documents if d.indexing_status == "error"]
    for document in failed:
        document_ingest_service.reset_for_indexing(session, document)
    session.commit()
    for document in failed:
        dispatch.enqueue_index_document(runtime.dispatcher, document.id)
    return [d.id for d in failed]


def download_file(session: Session, *, principal: Principal, dataset_id: str, document_id: str) -> UploadFile:
    """The original file of an uploaded document. Raises DocumentNotFoundError, StoredFileNotFoundError."""
    _, document = get_document(session, principal=principal, dataset_id=dataset_id, document_id=document_id)
    file_id = (document.data_source_info or {}).get("upload_file_id")
    row = session.get(UploadFile, file_id) if file_id else None
    if row is None or row.tenant_id != document.tenant_id:
        raise StoredFileNotFoundError()
    return row


def download_zip(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                 document_ids: list[str]) -> tuple[str, Iterator[bytes]]:
    """The original files of documents (in the order asked; text documents: their stored `.txt`) as a zip archive
    streamed one file at a time, with repeated names made unique (`a (1).txt`). Returns (archive name, chunks).

    Every row is read and every stored file checked before the first byte, so a bad request gets an error, not a
    broken archive; the chunks read only the storage (no database session). Writes nothing.
    Raises: DatasetNotFoundError, PermissionDeniedError, DocumentNotFoundError (an id unknown or of another
    dataset: nothing is sent), StoredFileNotFoundError (a document's file is gone).
    """
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id)
    ids = list(dict.fromkeys(document_ids))
    documents = {d.id: d for d in session.scalars(sa.select(Document).where(Document.id.in_(ids),
                                                                            Document.dataset_id == dataset.id))}
    if not ids or len(documents) != len(ids):
        raise DocumentNotFoundError()
    files = upload_files(session, list(documents.values()))
    names, keys = [], []
    for document_id in ids:
        upload = files.get((documents[document_id].data_source_info or {}).get("upload_file_id") or "")
        if upload is None or upload.tenant_id != dataset.tenant_id or not runtime.storage.exists(upload.key):
            raise StoredFileNotFoundError()
        suffix = f".{upload.extension}".lower() if upload.extension else ""
        names.append(upload.name if upload.name.lower().endswith(suffix) else f"{upload.name}{suffix}")
        keys.append(upload.key)
    session.commit()  # end the read transaction: the response streams after the request's session is gone
    storage = runtime.storage
    return "documents.zip", stream_zip((name, partial(storage.load, key))
                                       for name, key in zip(unique_names(names), keys, strict=True))


def rename_document(session: Session, *, principal: Principal, dataset_id: str, document_id: str,
                    name: str) -> Document:
    """Give a document a new name (dataset editors); its file and segments are unchanged. Commits.

    Raises: DatasetNotFoundError, DocumentNotFoundError, PermissionDeniedError, InvalidInputError (blank name).
    """
    name = (name or "").strip()
    if not name:
        raise InvalidInputError("name is required.", field="name")
    _, document = get_document(session, principal=principal, dataset_id=dataset_id, document_id=document_id,
                               write=True)
    document.name, document.updated_at = name[:255], utcnow()
    session.commit()
    return document


def pause_document(session: Session, *, principal: Principal, dataset_id: str, document_id: str) -> Document:
    """Pause a document that is waiting or being indexed (dataset editors): `is_paused`, `paused_at`. Commits.

    A waiting document is no longer claimed; a worker that holds the document stops at its next step and drops
    the lease without an error, keeping the stage reached (indexing_lease_service), and the reaper leaves a
    paused document at rest. Pausing a paused document changes nothing.
    Raises: DatasetNotFoundError, DocumentNotFoundError, PermissionDeniedError, ArchivedDocumentImmutableError,
    DocumentAlreadyFinishedError (completed or error, also when it finished while being paused).
    """
    _, document = get_document(session, principal=principal, dataset_id=dataset_id, document_id=document_id,
                               write=True)
    if document.archived:
        raise ArchivedDocumentImmutableError()
    now = utcnow()
    # conditional: a worker may finish the document between the read above and this write
    paused = session.execute(sa.update(Document).where(Document.id == document.id,
                                                       Document.indexing_status.in_(PAUSABLE))
                             .values(is_paused=True, paused_at=sa.func.coalesce(Document.paused_at, now),
                                     updated_at=now)
                             .execution_options(synchronize_session=False)).rowcount
    session.commit()
    if paused != 1:
        raise DocumentAlreadyFinishedError()
    session.refresh(document)
    return document


def resume_document(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                    document_id: str) -> Document:
    """Resume a paused document (dataset editors): clear the pause and, unless it already finished, put it back
    to `waiting` with no lease and dispatch indexing. Dropping the lease makes a worker that had not reached its
    checkpoint yet stop there (its fence fails); the new run rewrites the same segments (their ids are
    deterministic), so the document ends with exactly its segments. Commits, then dispatches.

    Raises: DatasetNotFoundError, DocumentNotFoundError, PermissionDeniedError, ArchivedDocumentImmutableError,
    InvalidActionError ("Document is not in paused status.").
    """
    _, document = get_document(session, principal=principal, dataset_id=dataset_id, document_id=document_id,
                               write=True)
    if document.archived:
        raise ArchivedDocumentImmutableError()
    now = utcnow()
    unfinished = Document.indexing_status.in_(PAUSABLE)
    resumed = session.execute(sa.update(Document).where(Document.id == document.id, Document.is_paused.is_(True))
                              .values(is_paused=False, paused_at=None, updated_at=now,
                                      indexing_status=sa.case((unfinished, "waiting"),
                                                              else_=Document.indexing_status),
                                      lease_owner=sa.case((unfinished, sa.null()), else_=Document.lease_owner),
                                      lease_expires_at=sa.case((unfinished, sa.null()),
                                                               else_=Document.lease_expires_at),
                                      attempts=sa.case((unfinished, 0), else_=Document.attempts))
                              .execution_options(synchronize_session=False)).rowcount
    session.commit()
    if resumed != 1:
        raise InvalidActionError("Document is not in paused status.")
    session.refresh(document)
    if document.indexing_status == "waiting":
        dispatch.enqueue_index_document(runtime.dispatcher, document.id)
    return document
