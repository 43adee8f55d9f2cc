"""Claims, leases and the reaper of document indexing: a document is never stuck and never indexed twice at once.

Invariants:
- A worker owns a document only through a conditional UPDATE (`waiting` → `parsing`, `lease_owner`, `attempts + 1`);
  every later status change is fenced on (`lease_owner`, `attempts`), so a worker whose lease was taken over (the
  reaper re-queued the document, a user paused or deleted it) finds out at its next step and stops writing.
- While it works, the owner renews `lease_expires_at` (`INDEXING_LEASE_SECONDS` ahead) at every stage and batch and,
  when the session is bound to an engine, from a heartbeat thread every third of the lease, so a long single step
  (a big PDF, a slow embedding call) keeps the lease too. Renewals stop after MAX_RUNTIME_SECONDS: a hung worker
  cannot hold a document forever.
- The reaper (every `INDEXING_REAPER_INTERVAL`) moves every document whose lease expired out of its non-terminal
  status: back to `waiting` and re-dispatched, or `error` after `max_attempts` claims. So a document whose worker
  died leaves parsing/cleaning/splitting/indexing within lease + one reaper period.
- Pause is Dify's: a user sets `is_paused` (+ paused_at) and the document keeps the stage it reached; the worker
  stops at its next step and drops the lease (the reaper does so for a dead worker). A paused document without a
  lease is at rest, not stuck: it waits for resume (back to `waiting` and re-dispatched by the API).
- Fairness: a workspace holds at most `INDEXING_TENANT_CONCURRENCY` live leases (a soft cap: claims racing in the
  same instant may pass it by one or two; embedded mode also keeps one worker thread free). A claim over the cap is
  "deferred" (the message is dropped at once, the document stays `waiting`), and whoever frees a slot dispatches the
  workspace's oldest waiting documents; another workspace's document therefore never queues behind one workspace's
  backlog of running documents. The reaper re-dispatches `waiting` documents nobody picked up for a lease period
  (a lost message, a restarted embedded process), within each workspace's free slots.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from api.config import Settings
from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.models.dataset import Document
from api.services import dispatch

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = ("parsing", "cleaning", "splitting", "indexing")
MAX_RUNTIME_SECONDS = 3600  # renewals stop after this; the task's hard time limit is just above it
_REAP_LIMIT = 1000  # expired documents handled per reaper run (the next run takes the rest)


class LeaseLostError(Exception):
    """The document is no longer ours: re-queued by the reaper, deleted, or claimed by another worker."""


class DocumentPausedError(Exception):
    """A user paused the document while we held its lease."""


@dataclass
class Lease:
    document_id: str
    tenant_id: str
    dataset_id: str
    owner: str
    attempt: int
    seconds: int
    started: float = field(default_factory=time.monotonic)

    def fence(self) -> sa.ColumnElement[bool]:
        """The WHERE clause that matches the document only while this lease (owner and attempt) still holds it."""
        return sa.and_(Document.id == self.document_id, Document.lease_owner == self.owner,
                       Document.attempts == self.attempt)

    def expired_runtime(self) -> bool:
        """True once this attempt has run longer than MAX_RUNTIME_SECONDS (the heartbeat stops renewing then)."""
        return time.monotonic() - self.started > MAX_RUNTIME_SECONDS


def tenant_cap(settings: Settings) -> int:
    """Live leases one workspace may hold. Embedded mode runs tasks on EMBEDDED_WORKER_THREADS threads, so one
    workspace gets at most all but one of them (a Celery worker's threads are plentiful)."""
    cap = settings.indexing_tenant_concurrency
    return cap if settings.distributed else max(1, min(cap, settings.embedded_worker_threads - 1))


_OTHER = aliased(Document, name="other_document")  # built once: building an alias per claim cost milliseconds


def _live_leases(tenant_id: Any, now: Any) -> sa.ScalarSelect[int]:
    return (sa.select(sa.func.count()).select_from(_OTHER)
            .where(_OTHER.tenant_id == tenant_id, _OTHER.indexing_status.in_(ACTIVE_STATUSES),
                   _OTHER.lease_expires_at > now).scalar_subquery())


def claim(session: Session, *, document_id: str, worker_id: str, lease_seconds: int, tenant_cap: int) -> Lease | str:
    """Take the lease of a `waiting`, unpaused document whose workspace is under its cap. Commits.

    Returns the Lease, or "skipped" (not claimable: done, running elsewhere, paused, deleted) or "deferred"
    (waiting, but its workspace already runs `tenant_cap` documents).
    """
    now = utcnow()
    claimed = session.execute(
        sa.update(Document)
        .where(Document.id == document_id, Document.indexing_status == "waiting", Document.is_paused.is_(False),
               _live_leases(Document.tenant_id, now) < tenant_cap)
        .values(indexing_status="parsing", lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds), attempts=Document.attempts + 1,
                processing_started_at=now, parsing_completed_at=None, cleaning_completed_at=None,
                splitting_completed_at=None, completed_at=None, stopped_at=None,
                error=None, indexing_latency=None, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    session.commit()
    row = session.execute(sa.select(Document.tenant_id, Document.dataset_id, Document.attempts,
                                    Document.indexing_status, Document.is_paused, Document.lease_owner)
                          .where(Document.id == document_id)).first()
    if row is None:
        return "skipped"
    if claimed == 1 and row.lease_owner == worker_id:
        return Lease(document_id=document_id, tenant_id=row.tenant_id, dataset_id=row.dataset_id, owner=worker_id,
                     attempt=row.attempts, seconds=lease_seconds)
    return "deferred" if row.indexing_status == "waiting" and not row.is_paused else "skipped"


def advance(session: Session, lease: Lease, *, status: str | None = None, check_pause: bool = True,
            **values: Any) -> None:
    """Fenced update of our document (new status and/or columns) that also renews the lease; commits with whatever
    the caller wrote in the same transaction.

    Raises DocumentPausedError (a user paused it) or LeaseLostError (no longer ours); the transaction is rolled back.
    """
    now = utcnow()
    values = {**values, "lease_expires_at": now + timedelta(seconds=lease.seconds), "updated_at": now}
    if status is not None:
        values["indexing_status"] = status
    condition = lease.fence()
    if check_pause:
        condition = sa.and_(condition, Document.is_paused.is_(False))
    updated = session.execute(sa.update(Document).where(condition).values(**values)
                              .execution_options(synchronize_session=False)).rowcount
    if updated == 1:
        session.commit()
        return
    session.rollback()
    paused = session.scalar(sa.select(Document.is_paused).where(lease.fence()))
    if paused:
        raise DocumentPausedError()
    raise LeaseLostError()


def release(session: Session, lease: Lease, *, status: str | None, **values: Any) -> bool:
    """Leave the document in `status` (terminal or `waiting`; None keeps the stage) and drop the lease. Commits.

    Returns False when the lease was no longer ours (nothing written).
    """
    session.rollback()  # whatever the failed step left half-done is discarded
    values = {**values, "lease_owner": None, "lease_expires_at": None, "updated_at": utcnow()}
    if status is not None:
        values["indexing_status"] = status
    updated = session.execute(sa.update(Document).where(lease.fence()).values(**values)
                              .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return updated == 1


def pause(session: Session, lease: Lease) -> bool:
    """Stop because a user paused the document: drop the lease, keep the stage reached (Dify). Commits."""
    paused_at = session.scalar(sa.select(Document.paused_at).where(Document.id == lease.document_id))
    return release(session, lease, status=None, paused_at=paused_at or utcnow())


def dispatch_backlog(session: Session, *, runtime: Runtime, tenant_id: str, exclude: str | None = None) -> int:
    """Dispatch the workspace's oldest waiting documents into its free slots; returns how many were sent.

    Call after the commit that freed a slot. Duplicate messages are harmless (claims are conditional).
    """
    cap = tenant_cap(runtime.settings)
    free = cap - int(session.scalar(sa.select(_live_leases(tenant_id, utcnow()))) or 0)
    if free <= 0:
        return 0
    query = (sa.select(Document.id)
             .where(Document.tenant_id == tenant_id, Document.indexing_status == "waiting",
                    Document.is_paused.is_(False))
             .order_by(Document.created_at, Document.position, Document.id).limit(free))
    if exclude is not None:
        query = query.where(Document.id != exclude)
    ids = list(session.scalars(query))
    session.commit()  # end the read transaction before talking to the broker
    for document_id in ids:
        dispatch.enqueue_index_document(runtime.dispatcher, document_id)
    return len(ids)


class Heartbeat(threading.Thread):
    """Renews a lease from its own connection every third of the lease until stopped, lost or MAX_RUNTIME.

    Only started when the session is bound to an Engine (never shares the worker's connection).
    """

    def __init__(self, engine: sa.Engine, lease: Lease, *, interval: float | None = None) -> None:
        super().__init__(daemon=True, name=f"indexing-heartbeat-{lease.document_id[:8]}")
        self._engine, self._lease, self._done = engine, lease, threading.Event()
        self._interval = interval if interval is not None else max(1.0, lease.seconds / 3)
        self.lost = False
        self.beats = 0

    def run(self) -> None:
        """Renew the lease every interval in its own transaction until stopped or the runtime cap; sets `lost` and ends
        when the fence no longer matches (another worker took the document)."""
        while not self._done.wait(self._interval) and not self._lease.expired_runtime():
            try:
                with self._engine.begin() as conn:
                    expires = utcnow() + timedelta(seconds=self._lease.seconds)
                    renewed = conn.execute(sa.update(Document.__table__)
                                           .where(self._lease.fence(),
                                                  Document.indexing_status.in_(ACTIVE_STATUSES))
                                           .values(lease_expires_at=expires)).rowcount
            except Exception:  # a database hiccup: the next beat or the worker's own renewal retries
                logger.warning("indexing heartbeat failed document_id=%s", self._lease.document_id, exc_info=True)
                continue
            if renewed != 1:
                self.lost = True
                return
            self.beats += 1

    def stop(self) -> None:
        """Ask the thread to end; it renews no more after its current beat."""
        self._done.set()


def start_heartbeat(session: Session, lease: Lease) -> Heartbeat | None:
    """A started heartbeat for `lease` on the session's engine, or None when the session is pinned to one connection
    (tests: renewals happen only at stages and batches)."""
    bind = session.get_bind()
    if not isinstance(bind, sa.Engine):
        return None  # a session pinned to one connection (tests): stage and batch renewals only
    heartbeat = Heartbeat(bind, lease)
    heartbeat.start()
    return heartbeat


def _expired(now: Any) -> sa.ColumnElement[bool]:
    """Non-terminal and nobody's: the lease ran out (or was never set), except a paused document at rest."""
    at_rest = sa.and_(Document.is_paused.is_(True), Document.lease_owner.is_(None))
    return sa.and_(Document.indexing_status.in_(ACTIVE_STATUSES), sa.not_(at_rest),
                   sa.or_(Document.lease_expires_at < now, Document.lease_expires_at.is_(None)))


def reap(session: Session, *, runtime: Runtime, max_attempts: int) -> dict[str, int]:
    """See indexing_service.reap_expired_leases (the public entry point)."""
    now = utcnow()
    expired = session.execute(
        sa.select(Document.id, Document.tenant_id, Document.attempts, Document.is_paused)
        .where(_expired(now)).order_by(Document.lease_expires_at).limit(_REAP_LIMIT)).all()
    counts = {"requeued": 0, "failed": 0, "paused": 0, "redispatched": 0}
    requeued: list[str] = []
    for row in expired:
        outcome, values = _expired_outcome(row.attempts, row.is_paused, max_attempts, now)
        updated = session.execute(
            sa.update(Document)
            .where(Document.id == row.id, Document.attempts == row.attempts, _expired(now))
            .values(lease_owner=None, lease_expires_at=None, updated_at=now, **values)
            .execution_options(synchronize_session=False)).rowcount
        if updated == 1:
            counts[outcome] += 1
            if outcome == "requeued":
                requeued.append(row.id)
            logger.warning("indexing lease expired document_id=%s tenant_id=%s attempts=%s outcome=%s",
                           row.id, row.tenant_id, row.attempts, outcome)
    session.commit()
    for document_id in requeued:
        dispatch.enqueue_index_document(runtime.dispatcher, document_id)
    counts["redispatched"] = _redispatch_unclaimed(session, runtime=runtime, now=now)
    return counts


def _expired_outcome(attempts: int, is_paused: bool, max_attempts: int, now: Any) -> tuple[str, dict[str, Any]]:
    if is_paused:
        return "paused", {"paused_at": sa.func.coalesce(Document.paused_at, now)}
    if attempts >= max_attempts:
        reason = (f"Indexing was interrupted {attempts} times (the worker stopped responding before it finished); "
                  "giving up. Retry the document to try again.")
        return "failed", {"indexing_status": "error", "error": reason, "stopped_at": now}
    return "requeued", {"indexing_status": "waiting"}


def _redispatch_unclaimed(session: Session, *, runtime: Runtime, now: Any) -> int:
    """Re-send `waiting` documents untouched for a lease period (lost messages), within each workspace's free
    slots, oldest first; `updated_at` records the re-dispatch so each is re-sent at most once per period."""
    cap = tenant_cap(runtime.settings)
    cutoff = now - timedelta(seconds=runtime.settings.indexing_lease_seconds)
    unclaimed = sa.and_(Document.indexing_status == "waiting", Document.is_paused.is_(False),
                        Document.updated_at < cutoff)
    rank = sa.func.row_number().over(partition_by=Document.tenant_id,
                                     order_by=(Document.created_at, Document.position, Document.id))
    ranked = sa.select(Document.id, Document.tenant_id, rank.label("rank")).where(unclaimed).subquery()
    candidates = session.execute(sa.select(ranked.c.id, ranked.c.tenant_id).where(ranked.c.rank <= cap)
                                 .order_by(ranked.c.tenant_id, ranked.c.rank)).all()
    if not candidates:
        session.commit()
        return 0
    busy = dict(session.execute(
        sa.select(Document.tenant_id, sa.func.count())
        .where(Document.indexing_status.in_(ACTIVE_STATUSES), Document.lease_expires_at > now)
        .group_by(Document.tenant_id)).all())
    taken: dict[str, int] = {}
    chosen: list[str] = []
    for document_id, tenant_id in candidates:
        if taken.get(tenant_id, 0) + busy.get(tenant_id, 0) >= cap:
            continue
        touched = session.execute(sa.update(Document).where(Document.id == document_id, unclaimed)
                                  .values(updated_at=now).execution_options(synchronize_session=False)).rowcount
        if touched == 1:
            taken[tenant_id] = taken.get(tenant_id, 0) + 1
            chosen.append(document_id)
    session.commit()
    for document_id in chosen:
        dispatch.enqueue_index_document(runtime.dispatcher, document_id)
    if chosen:
        logger.warning("re-dispatched unclaimed waiting documents count=%s", len(chosen))
    return len(chosen)
