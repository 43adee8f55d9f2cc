"""Celery entry points of dataset indexing (queue `dataset`).

Tasks take ids only and re-read state. The work is indexing_service.index_document, which claims the document
with a conditional UPDATE under a lease: a redelivered, duplicated or late message is a no-op, so the task can be
acked late (a worker killed mid-run leaves its message for redelivery, and the reaper re-queues the document
when its lease expires, whichever comes first). Transient failures retry with exponential backoff; everything
else ends in a terminal document status written by the service.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from celery import current_task, shared_task

from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.services import indexing_service
from api.services.dispatch import TaskName
from api.services.indexing_lease_service import MAX_RUNTIME_SECONDS
from api.services.indexing_service import MAX_ATTEMPTS, TransientIndexingError


def _worker_id() -> str:
    """Unique per execution: the lease fence must tell this run from any other, including our own retries."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@shared_task(name=TaskName.INDEX_DOCUMENT, queue="dataset", ignore_result=True, acks_late=True,
             autoretry_for=(TransientIndexingError,), retry_backoff=True, retry_backoff_max=60, retry_jitter=True,
             max_retries=MAX_ATTEMPTS - 1, soft_time_limit=MAX_RUNTIME_SECONDS, time_limit=MAX_RUNTIME_SECONDS + 60)
def index_document_task(document_id: str) -> str:
    """Extract → clean → split → embed → store one document; returns the service's outcome.

    Raises TransientIndexingError (→ autoretry with backoff) when the document went back to `waiting`.
    """
    try:
        return indexing_service.index_document(db.session, runtime=get_runtime(), document_id=document_id,
                                               worker_id=_worker_id())
    except TransientIndexingError:
        request = current_task.request
        if request.is_eager and request.retries < MAX_ATTEMPTS - 1:
            # Embedded mode runs tasks with apply(), whose retries ignore the countdown: keep the backoff here.
            time.sleep(min(2 ** request.retries, 60))
        raise


@shared_task(name=TaskName.REAP_EXPIRED_LEASES, queue="dataset", ignore_result=True, soft_time_limit=120,
             time_limit=180)
def reap_expired_leases_task() -> dict[str, int]:
    """Periodic (INDEXING_REAPER_INTERVAL): re-queue or fail documents whose lease expired; re-send lost messages."""
    return indexing_service.reap_expired_leases(db.session, runtime=get_runtime())
