"""Never stuck, never duplicated: crashes, the lease reaper, per-workspace fairness, deleting indexes, and the
Celery task wiring — on PostgreSQL + Redis (dispatched messages are read back from the Redis `dataset` queue)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from api.libs.clock import utcnow
from api.models.dataset import ChildChunk, Document, DocumentSegment, SegmentKeyword
from api.models.file import UploadFile
from api.services import indexing_lease_service, indexing_service
from api.services.dispatch import TaskName
from tests.fakes.llm_server import FakeLLMServer, start_llm_server
from tests.fakes.rag_stores import Crash, InMemoryFullText, InMemoryVectorStore
from tests.integration.indexing_support import (
    HIERARCHICAL_RULE,
    SIX_PARAGRAPHS,
    Env,
    expire_lease,
    make_dataset,
    make_document,
    make_env,
    make_tenant,
    make_upload,
    queued_documents,
)


@pytest.fixture(scope="module")
def embed_server() -> Iterator[FakeLLMServer]:
    server = start_llm_server(embedding_dim=8)
    yield server
    server.stop()


@pytest.fixture
def env(db_session, pg_app, embed_server) -> Env:
    embed_server.reset()
    return make_env(db_session, pg_app, embed_server.url)


def _set(env: Env, document_id: str, **values) -> None:
    env.session.execute(sa.update(Document).where(Document.id == document_id).values(**values))
    env.session.commit()


def test_crash_mid_indexing_then_reap_and_rerun_leaves_exactly_the_expected_segments(env, redis_client):
    dataset = make_dataset(env.session, env.tenant_id)
    document = make_document(env.session, dataset)
    small_batches = env.with_settings(embedding_batch_size=2)
    crashing = InMemoryVectorStore(crash_on_upsert=2)
    with pytest.raises(Crash):  # the worker "dies" after storing the first batch of two segments
        env.index(document.id, runtime=small_batches, vectors=crashing)
    env.session.rollback()
    halfway = env.document(document.id)
    assert halfway.indexing_status == "indexing"
    assert halfway.lease_owner is not None
    assert [s.status for s in env.segments(document.id)].count("completed") == 2
    expire_lease(env.session, document.id)

    counts = indexing_service.reap_expired_leases(env.session, runtime=env.runtime)
    outcome = env.index(document.id, runtime=small_batches, vectors=crashing)

    segments = env.segments(document.id)
    doc = env.document(document.id)
    assert counts == {"requeued": 1, "failed": 0, "paused": 0, "redispatched": 0}
    assert queued_documents(redis_client, [document]) == [(TaskName.INDEX_DOCUMENT, [document.id])]
    assert outcome == "completed"
    assert (doc.indexing_status, doc.attempts) == ("completed", 2)
    assert [s.content for s in segments] == SIX_PARAGRAPHS.split("\n\n")
    assert len({s.id for s in segments}) == 6
    assert all(s.status == "completed" for s in segments)
    assert crashing.ids(document.id) == {s.id for s in segments}


def test_crash_of_a_parent_child_run_leaves_no_duplicate_child_chunks(env):
    dataset = make_dataset(env.session, env.tenant_id)
    text = "One. Two.\n\nThree. Four.\n\nFive. Six."
    document = make_document(env.session, dataset, text=text, rule=("hierarchical", HIERARCHICAL_RULE))
    with pytest.raises(Crash):
        env.index(document.id, runtime=env.with_settings(embedding_batch_size=2),
                  vectors=InMemoryVectorStore(crash_on_upsert=2))
    env.session.rollback()
    expire_lease(env.session, document.id)
    indexing_service.reap_expired_leases(env.session, runtime=env.runtime)

    env.index(document.id)

    children = env.session.execute(sa.select(ChildChunk.content).where(ChildChunk.document_id == document.id)
                                   .order_by(ChildChunk.content)).scalars().all()
    assert children == ["Five", "Four.", "One", "Six.", "Three", "Two."]
    assert len(env.segments(document.id)) == 3


def test_reaper_requeues_fails_pauses_and_redispatches(env, redis_client):
    dataset = make_dataset(env.session, env.tenant_id)
    past, future = utcnow() - timedelta(seconds=5), utcnow() + timedelta(seconds=60)
    crashed = make_document(env.session, dataset)
    _set(env, crashed.id, indexing_status="indexing", lease_owner="dead", lease_expires_at=past, attempts=1)
    exhausted = make_document(env.session, dataset)
    _set(env, exhausted.id, indexing_status="splitting", lease_owner="dead", lease_expires_at=past, attempts=3)
    alive = make_document(env.session, dataset)
    _set(env, alive.id, indexing_status="parsing", lease_owner="alive", lease_expires_at=future, attempts=1)
    paused = make_document(env.session, dataset)
    _set(env, paused.id, indexing_status="indexing", lease_owner="dead", lease_expires_at=past, attempts=1,
         is_paused=True)
    lost = make_document(env.session, dataset, age_seconds=600)
    fresh = make_document(env.session, dataset)

    counts = indexing_service.reap_expired_leases(env.session, runtime=env.runtime, max_attempts=3)
    again = indexing_service.reap_expired_leases(env.session, runtime=env.runtime, max_attempts=3)

    status = {d.id: (env.document(d.id).indexing_status, env.document(d.id).lease_owner)
              for d in (crashed, exhausted, alive, paused, lost, fresh)}
    assert counts == {"requeued": 1, "failed": 1, "paused": 1, "redispatched": 1}
    assert again == {"requeued": 0, "failed": 0, "paused": 0, "redispatched": 0}
    assert status == {crashed.id: ("waiting", None), exhausted.id: ("error", None), alive.id: ("parsing", "alive"),
                      paused.id: ("indexing", None), lost.id: ("waiting", None), fresh.id: ("waiting", None)}
    assert "interrupted 3 times" in env.document(exhausted.id).error
    everything = [crashed, exhausted, alive, paused, lost, fresh]
    assert sorted(args[0] for _, args in queued_documents(redis_client, everything)) == sorted([crashed.id, lost.id])


def test_workspace_over_its_cap_is_deferred_while_another_workspace_runs(env, pg_app, embed_server, redis_client):
    capped = env.with_settings(indexing_tenant_concurrency=2)
    busy = make_dataset(env.session, env.tenant_id, technique="economy")
    first, second, third = (make_document(env.session, busy) for _ in range(3))
    leases = [indexing_lease_service.claim(env.session, document_id=d.id, worker_id=f"w{n}", lease_seconds=60,
                                           tenant_cap=2) for n, d in enumerate((first, second))]
    other_tenant = make_tenant(env.session, llm_url=embed_server.url, app=pg_app)
    other = make_document(env.session, make_dataset(env.session, other_tenant, technique="economy"))

    deferred = env.index(third.id, runtime=capped)
    served = env.index(other.id, runtime=capped)
    indexing_lease_service.release(env.session, leases[0], status="completed")
    sent = indexing_lease_service.dispatch_backlog(env.session, runtime=capped, tenant_id=env.tenant_id)

    assert (deferred, served) == ("deferred", "completed")
    assert env.document(third.id).indexing_status == "waiting"
    assert sent == 1
    assert queued_documents(redis_client, [first, second, third, other]) == [(TaskName.INDEX_DOCUMENT, [third.id])]
    assert env.index(third.id, runtime=capped) == "completed"


def test_finishing_a_document_dispatches_the_workspace_backlog(env, redis_client):
    capped = env.with_settings(indexing_tenant_concurrency=1)
    dataset = make_dataset(env.session, env.tenant_id, technique="economy")
    first, second = make_document(env.session, dataset), make_document(env.session, dataset)

    outcome = env.index(first.id, runtime=capped)

    assert outcome == "completed"
    assert queued_documents(redis_client, [first, second]) == [(TaskName.INDEX_DOCUMENT, [second.id])]


def test_paused_document_stops_at_the_next_step_and_is_not_requeued(env):
    dataset = make_dataset(env.session, env.tenant_id, technique="economy")
    document = make_document(env.session, dataset)

    class PausingFullText(InMemoryFullText):
        def upsert(self, chunks):  # a user pauses the document while its first batch is being stored
            super().upsert(chunks)
            _set(env, document.id, is_paused=True)

    outcome = env.index(document.id, fulltext=PausingFullText())

    doc = env.document(document.id)
    assert outcome == "paused"
    assert (doc.indexing_status, doc.is_paused, doc.lease_owner) == ("indexing", True, None)  # Dify keeps the stage
    assert doc.paused_at is not None
    assert indexing_service.reap_expired_leases(env.session, runtime=env.runtime)["requeued"] == 0
    assert env.index(document.id) == "skipped"


def test_remove_document_index_deletes_entries_rows_and_owned_files(env):
    dataset = make_dataset(env.session, env.tenant_id, technique="economy")
    upload = make_upload(env.session, env.runtime, env.tenant_id, "a.txt", SIX_PARAGRAPHS.encode())
    shared = make_upload(env.session, env.runtime, env.tenant_id, "b.txt", b"Shared text.")
    owned_doc = make_document(env.session, dataset, upload=upload)
    shared_doc, keeper = (make_document(env.session, dataset, upload=shared) for _ in range(2))
    for doc in (owned_doc, shared_doc, keeper):
        env.index(doc.id)

    indexing_service.remove_document_index(env.session, runtime=env.runtime, dataset_id=dataset.id,
                                           document_ids=[owned_doc.id, shared_doc.id],
                                           vector_store=env.stores.vectors, fulltext=env.stores.fulltext)

    remaining = set(env.session.scalars(sa.select(DocumentSegment.document_id).where(
        DocumentSegment.dataset_id == dataset.id)))
    keywords = set(env.session.scalars(sa.select(SegmentKeyword.document_id).where(
        SegmentKeyword.dataset_id == dataset.id)))
    assert remaining == keywords == {keeper.id}
    assert {e.document_id for e in env.stores.fulltext.entries.values()} == {keeper.id}
    assert env.session.get(UploadFile, upload.id) is None
    assert not env.runtime.storage.exists(upload.key)
    assert env.session.get(UploadFile, shared.id) is not None
    assert env.runtime.storage.exists(shared.key)


def test_remove_dataset_index_deletes_everything_of_the_dataset(env):
    dataset = make_dataset(env.session, env.tenant_id)
    kept = make_dataset(env.session, env.tenant_id)
    upload = make_upload(env.session, env.runtime, env.tenant_id, "c.txt", SIX_PARAGRAPHS.encode())
    doomed = make_document(env.session, dataset, upload=upload)
    survivor = make_document(env.session, kept)
    env.index(doomed.id)
    env.index(survivor.id)

    indexing_service.remove_dataset_index(env.session, runtime=env.runtime, dataset_id=dataset.id,
                                          vector_store=env.stores.vectors, fulltext=env.stores.fulltext)

    assert env.segments(doomed.id) == []
    assert len(env.segments(survivor.id)) == 6
    assert env.stores.vectors.ids() == env.stores.vectors.ids(survivor.id) != set()
    assert env.session.get(UploadFile, upload.id) is None
    assert not env.runtime.storage.exists(upload.key)


def test_index_task_is_registered_for_late_ack_and_bounded_retries(pg_app, env):
    from api.tasks.indexing_tasks import index_document_task, reap_expired_leases_task

    dataset = make_dataset(env.session, env.tenant_id)
    done = make_document(env.session, dataset, status="completed")

    result = index_document_task.apply(args=[done.id])

    assert result.get() == "skipped"
    assert (index_document_task.name, index_document_task.queue) == (TaskName.INDEX_DOCUMENT, "dataset")
    assert index_document_task.acks_late is True
    assert index_document_task.autoretry_for == (indexing_service.TransientIndexingError,)
    assert (index_document_task.max_retries, index_document_task.retry_backoff) == (3, True)
    assert reap_expired_leases_task.name == TaskName.REAP_EXPIRED_LEASES
    assert pg_app.extensions["celery"].conf.beat_schedule[TaskName.REAP_EXPIRED_LEASES]["schedule"] == 60.0
