"""Indexing a document: extract → clean → split → embed → store, under a lease (see indexing_lease_service).

Statuses and timestamps follow Dify (reference §10.3): `waiting` → `parsing` (processing_started_at) → `cleaning`
(parsing_completed_at) → `splitting` (cleaning_completed_at) → `indexing` (splitting_completed_at, word_count, all
segments written with status `indexing`) → `completed` (completed_at, tokens, indexing_latency); `error` with a
readable reason and stopped_at. A user's pause (`is_paused`) stops the run at its next step, keeping the stage
reached, as Dify does. Each stored batch marks its segments `completed` with completed_at, so
completed_segments/total_segments shows progress while indexing.

Invariants:
- Segment ids are uuid5(document, position, content) and child chunk ids uuid5(segment, position, content), and
  every store write is an upsert by id: a re-run after a crash rewrites the same rows, and rows (and index entries)
  that the new split no longer produces are deleted, so a document has exactly its segments, once.
- Index entries are removed before the segment rows they belong to, and written after them: the vector and
  full-text stores never hold an entry whose segment row is gone.
- Transient failures (embedding rate limits, timeouts, connection errors) put the document back to `waiting` and
  raise TransientIndexingError for Celery's autoretry; permanent ones (unreadable file, bad credentials, retries
  exhausted) end in `error` with the reason. Nothing a document contains can make the worker crash.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.model_runtime.errors import InvokeError
from api.core.rag.cleaner import clean
from api.core.rag.entities import ProcessRule, SourceDocument
from api.core.rag.errors import ExtractionError, RuleError, UnsupportedFileTypeError
from api.core.rag.extractors import extract
from api.core.rag.ports import FullTextIndex, VectorStore
from api.core.rag.processor import transform
from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.models.dataset import Dataset, DatasetProcessRule, Document
from api.models.file import UploadFile
from api.services import embedding_service
from api.services import indexing_lease_service as leases
from api.services import segment_index_service as segments
from api.services.errors import ServiceError

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 4  # claims per document for transient failures: the first run + the task's 3 retries
_NAMESPACE = uuid.UUID("8d5c2f0e-7a4b-5e61-9c3d-2f1a0b6e4d17")
_ERROR_LIMIT = 2000  # characters of an error reason kept on the document


class TransientIndexingError(Exception):
    """The document went back to `waiting` after a transient failure; raising it makes Celery retry the task."""


class DocumentSourceError(ServiceError):
    code = "document_source_missing"
    default_message = "The document's source file could not be found."


class IndexingTimeoutError(ServiceError):
    code = "indexing_timeout"
    default_message = f"Indexing took longer than {leases.MAX_RUNTIME_SECONDS} seconds and was stopped."


class _TransientSourceError(Exception):
    """Storage could not be reached (not: the file is missing)."""


def segment_id(document_id: str, position: int, content: str) -> str:
    """The stable id of the segment at `position` (1-based) with `content` in `document_id`."""
    return str(uuid.uuid5(_NAMESPACE, f"segment:{document_id}:{position}:{segments.content_hash(content)}"))


def child_chunk_id(parent_segment_id: str, position: int, content: str) -> str:
    """The stable id of the child chunk at `position` (1-based) with `content` under `parent_segment_id`."""
    return str(uuid.uuid5(_NAMESPACE, f"child:{parent_segment_id}:{position}:{segments.content_hash(content)}"))


@dataclass(frozen=True)
class _Stores:
    runtime: Runtime
    vector_store: VectorStore | None
    fulltext_index: FullTextIndex | None

    def vectors(self) -> VectorStore:
        return self.vector_store if self.vector_store is not None else self.runtime.vector_store

    def fulltext(self) -> FullTextIndex:
        return self.fulltext_index if self.fulltext_index is not None else self.runtime.fulltext


def index_document(session: Session, *, runtime: Runtime, document_id: str, worker_id: str,
                   vector_store: VectorStore | None = None, fulltext: FullTextIndex | None = None,
                   max_attempts: int = MAX_ATTEMPTS) -> str:
    """Claim and index one document; idempotent and safe to run twice or concurrently.

    `worker_id` must be unique per execution (it fences the lease). The stores default to the runtime's.
    Returns "completed", "error" (reason stored on the document), "paused" (a user paused it: stopped at the next
    step, the stage reached is kept and the lease dropped), "skipped" (not claimable: done, running elsewhere,
    paused, deleted), "deferred" (its workspace is at INDEXING_TENANT_CONCURRENCY; it stays `waiting` and is
    dispatched when a slot frees) or "lost" (the lease was taken over while working).

    Writes: the document's status, timestamps, counters and lease; its segments, child chunks, keywords, embedding
    cache entries and index entries; commits after every stage and batch.
    Dispatches: the workspace's oldest waiting documents into the slot this run frees (indexing.index_document).
    Raises: TransientIndexingError after putting the document back to `waiting` (a retryable model or storage
    failure, fewer than `max_attempts` claims so far). Never raises for anything the document contains.
    """
    settings = runtime.settings
    lease = leases.claim(session, document_id=document_id, worker_id=worker_id,
                         lease_seconds=settings.indexing_lease_seconds,
                         tenant_cap=leases.tenant_cap(settings))
    if isinstance(lease, str):
        logger.debug("indexing not claimed document_id=%s outcome=%s", document_id, lease)
        return lease
    stores = _Stores(runtime, vector_store, fulltext)
    heartbeat = leases.start_heartbeat(session, lease)
    try:
        outcome, transient = _run(session, runtime, lease, stores, max_attempts)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
    logger.info("indexing finished document_id=%s tenant_id=%s attempt=%s outcome=%s",
                document_id, lease.tenant_id, lease.attempt, outcome)
    if outcome != "lost":
        try:
            leases.dispatch_backlog(session, runtime=runtime, tenant_id=lease.tenant_id,
                                    exclude=document_id if transient else None)
        except Exception:  # the reaper re-dispatches what this misses
            logger.warning("dispatching the workspace backlog failed tenant_id=%s", lease.tenant_id, exc_info=True)
    if transient is not None:
        raise TransientIndexingError(transient)
    return outcome


def reap_expired_leases(session: Session, *, runtime: Runtime, max_attempts: int = 3) -> dict[str, int]:
    """Unstick documents: the periodic safety net behind every indexing run.

    A document in parsing/cleaning/splitting/indexing whose lease expired (its worker died or hung past
    MAX_RUNTIME_SECONDS) goes back to `waiting` and is re-dispatched, or to `error` with a reason once it was
    claimed `max_attempts` times; one a user paused meanwhile just loses the lease ("paused"). A `waiting`
    document nobody claimed for INDEXING_LEASE_SECONDS (a lost message) is re-dispatched, within its workspace's
    free slots.
    Bound: a document whose worker died leaves its non-terminal stage within INDEXING_LEASE_SECONDS + one
    INDEXING_REAPER_INTERVAL.

    Writes: status/lease/error/updated_at of those documents; commits. Dispatches: indexing.index_document.
    Returns counts {"requeued", "failed", "paused", "redispatched"}.
    """
    counts = leases.reap(session, runtime=runtime, max_attempts=max_attempts)
    if any(counts.values()):
        logger.warning("indexing reaper %s", counts)
    return counts


def remove_document_index(session: Session, *, runtime: Runtime, dataset_id: str, document_ids: list[str],
                          vector_store: VectorStore | None = None, fulltext: FullTextIndex | None = None) -> None:
    """Delete everything indexed for these documents of `dataset_id`: vector and full-text entries, keywords, child
    chunks, segments, and the uploaded files (row and stored bytes) no other document uses.

    Call it before deleting the Document rows (it reads them to find their files); it does not delete them.
    Writes: commits the caller's pending changes first (the stores write on their own connections), deletes rows,
    commits, then deletes stored bytes (a failure there is logged, never raised).
    """
    if not document_ids:
        return
    session.commit()
    stores = _Stores(runtime, vector_store, fulltext)
    files = segments.owned_upload_files(session, dataset_id=dataset_id, document_ids=document_ids)
    stores.vectors().delete_documents(dataset_id, document_ids)
    stores.fulltext().delete_documents(dataset_id, document_ids)
    segments.delete_rows(session, dataset_id=dataset_id, document_ids=document_ids)
    _delete_files(session, runtime, files)


def remove_dataset_index(session: Session, *, runtime: Runtime, dataset_id: str,
                         vector_store: VectorStore | None = None, fulltext: FullTextIndex | None = None) -> None:
    """Delete everything indexed for a dataset: its whole vector and full-text collections, keywords, child chunks,
    segments, and its documents' uploaded files that no other dataset's document uses.

    Call it before deleting the Dataset/Document rows. Writes: commits the caller's pending changes first, deletes
    rows, commits, then deletes stored bytes.
    """
    session.commit()
    stores = _Stores(runtime, vector_store, fulltext)
    document_ids = list(session.scalars(sa.select(Document.id).where(Document.dataset_id == dataset_id)))
    files = segments.owned_upload_files(session, dataset_id=dataset_id, document_ids=document_ids)
    stores.vectors().delete_dataset(dataset_id)
    stores.fulltext().delete_dataset(dataset_id)
    segments.delete_rows(session, dataset_id=dataset_id, document_ids=None)
    _delete_files(session, runtime, files)


# ---- the run --------------------------------------------------------------------------------------------------

def _run(session: Session, runtime: Runtime, lease: leases.Lease, stores: _Stores,
         max_attempts: int) -> tuple[str, str | None]:
    """(outcome, transient reason or None); every exception that is not the process dying is handled here."""
    try:
        _pipeline(session, runtime, lease, stores)
        return "completed", None
    except leases.DocumentPausedError:
        return ("paused" if leases.pause(session, lease) else "lost"), None
    except leases.LeaseLostError:
        _forget_deleted(session, lease, stores)
        return "lost", None
    except Exception as exc:
        try:
            return _fail(session, lease, exc, max_attempts)
        except Exception:  # the database is gone too: the lease expires and the reaper takes over
            logger.exception("recording the indexing failure failed document_id=%s", lease.document_id)
            return "lost", None


def _pipeline(session: Session, runtime: Runtime, lease: leases.Lease, stores: _Stores) -> None:
    started = time.perf_counter()
    document = session.get(Document, lease.document_id, populate_existing=True)
    if document is None:
        raise leases.LeaseLostError()
    dataset = session.get(Dataset, document.dataset_id)
    if dataset is None:
        raise leases.LeaseLostError()
    rule = _process_rule(session, document)
    sources = _extract(session, runtime, document)
    leases.advance(session, lease, status="cleaning", parsing_completed_at=utcnow())
    cleaned = [SourceDocument(clean(source.text, rule), dict(source.metadata)) for source in sources]
    leases.advance(session, lease, status="splitting", cleaning_completed_at=utcnow())
    # Already cleaned: transform() only re-applies the always-on normalisation, which is idempotent.
    chunks = transform(cleaned, replace(rule, pre_processing_rules=()))
    plan = segments.plan(document, chunks, segment_id=segment_id, child_id=child_chunk_id)
    economy = dataset.indexing_technique != "high_quality"
    segments.write(session, plan, vectors=None if economy else stores.vectors(), fulltext=stores.fulltext())
    leases.advance(session, lease, status="indexing", splitting_completed_at=utcnow(), word_count=plan.word_count)
    if economy:
        tokens = segments.index_economy(session, plan, fulltext=stores.fulltext(),
                                        on_batch=lambda: _checkpoint(session, lease))
    else:
        embedder = embedding_service.bind_embedder(session, runtime=runtime, dataset=dataset)
        tokens = segments.index_high_quality(
            session, plan, vectors=stores.vectors(), fulltext=stores.fulltext(),
            embed=lambda texts: embedding_service.embed_documents(
                session, embedder, texts, batch_size=runtime.settings.embedding_batch_size),
            batch_size=runtime.settings.embedding_batch_size, on_batch=lambda: _checkpoint(session, lease))
    completed = leases.release(session, lease, status="completed", completed_at=utcnow(), tokens=tokens,
                               word_count=plan.word_count, error=None,
                               indexing_latency=round(time.perf_counter() - started, 3))
    if not completed:
        raise leases.LeaseLostError()


def _checkpoint(session: Session, lease: leases.Lease) -> None:
    """After each stored batch: commit its progress, renew the lease, stop if paused, lost or over time."""
    if lease.expired_runtime():
        raise IndexingTimeoutError()
    leases.advance(session, lease)


def _process_rule(session: Session, document: Document) -> ProcessRule:
    if not document.dataset_process_rule_id:
        return ProcessRule.automatic()
    row = session.get(DatasetProcessRule, document.dataset_process_rule_id)
    if row is None:
        return ProcessRule.automatic()
    rules = json.loads(row.rules) if isinstance(row.rules, str) else row.rules
    return ProcessRule.from_dict({"mode": row.mode, "rules": rules or {}})


def _extract(session: Session, runtime: Runtime, document: Document) -> list[SourceDocument]:
    info = document.data_source_info
    if isinstance(info, str):
        info = json.loads(info or "{}")
    info = info or {}
    if isinstance(info.get("text"), str):
        return [SourceDocument(text=info["text"])]
    upload = session.get(UploadFile, str(info.get("upload_file_id") or ""))
    if upload is None or upload.tenant_id != document.tenant_id:
        raise DocumentSourceError("The document has no source: its uploaded file no longer exists.")
    try:
        data = runtime.storage.load(upload.key)
    except FileNotFoundError:
        raise DocumentSourceError(f"The uploaded file {upload.name!r} is missing from storage.")
    except Exception as exc:
        raise _TransientSourceError(f"The file storage could not be read: {exc}") from exc
    suffix = f".{upload.extension}".lower()
    name = upload.name if upload.name.lower().endswith(suffix) else f"{upload.name}{suffix}"
    return extract(name, data)


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, InvokeError):
        return exc.retryable
    return isinstance(exc, (_TransientSourceError, sa.exc.OperationalError, sa.exc.DisconnectionError,
                            TimeoutError, ConnectionError))


def _reason(exc: Exception) -> str:
    if isinstance(exc, (ExtractionError, UnsupportedFileTypeError, RuleError, InvokeError, ServiceError)):
        text = str(exc)
    else:
        text = f"Indexing failed unexpectedly ({type(exc).__name__}: {exc})"
    return (text.strip() or type(exc).__name__)[:_ERROR_LIMIT]


def _fail(session: Session, lease: leases.Lease, exc: Exception, max_attempts: int) -> tuple[str, str | None]:
    reason = _reason(exc)
    if _is_transient(exc):
        if lease.attempt < max_attempts:
            logger.warning("indexing will retry document_id=%s attempt=%s reason=%s",
                           lease.document_id, lease.attempt, reason)
            if not leases.release(session, lease, status="waiting"):
                return "lost", None
            return "waiting", reason
        reason = f"{reason} (gave up after {lease.attempt} attempts)"[:_ERROR_LIMIT]
    if isinstance(exc, (ExtractionError, UnsupportedFileTypeError, RuleError, InvokeError, ServiceError)):
        logger.warning("indexing failed document_id=%s reason=%s", lease.document_id, reason)
    else:
        logger.exception("indexing failed unexpectedly document_id=%s", lease.document_id)
    if not leases.release(session, lease, status="error", error=reason, stopped_at=utcnow()):
        return "lost", None
    return "error", None


def _forget_deleted(session: Session, lease: leases.Lease, stores: _Stores) -> None:
    """When the document was deleted under us, drop what this run may have indexed after the API's cleanup."""
    session.rollback()
    if session.get(Document, lease.document_id, populate_existing=True) is not None:
        return
    try:
        stores.vectors().delete_documents(lease.dataset_id, [lease.document_id])
        stores.fulltext().delete_documents(lease.dataset_id, [lease.document_id])
    except Exception:
        logger.warning("cleaning a deleted document's index failed document_id=%s", lease.document_id, exc_info=True)


def _delete_files(session: Session, runtime: Runtime, files: list[UploadFile]) -> None:
    keys = [upload.key for upload in files]
    if files:
        session.execute(sa.delete(UploadFile).where(UploadFile.id.in_([upload.id for upload in files])))
    session.commit()
    for key in keys:
        try:
            runtime.storage.delete(key)
        except Exception:
            logger.warning("deleting a stored file failed key=%s", key, exc_info=True)

