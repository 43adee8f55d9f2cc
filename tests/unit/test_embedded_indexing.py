"""Indexing in embedded mode (SQLite, no external services): the same service code on the SQLite dialect
(upserts, the reaper's window query, JSON lookups), and the lease heartbeat thread, which only runs when the
session is bound to an engine. Vector/full-text stores and the dispatcher are in-memory stand-ins."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from api.app import create_app
from api.config import ConfigError
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.libs.clock import utcnow
from api.models.dataset import Document, DocumentSegment, SegmentKeyword
from api.services import indexing_lease_service, indexing_service
from api.services.dispatch import TaskName
from tests.conftest import embedded_settings
from tests.fakes import llm_wire
from tests.fakes.rag_stores import InMemoryFullText, InMemoryVectorStore
from tests.helpers import wait_for
from tests.integration.indexing_support import make_dataset, make_document, make_tenant, make_upload


class RecordingDispatcher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[object, ...]]] = []

    def send(self, task_name: str, *args: object) -> None:
        self.sent.append((task_name, args))


@pytest.fixture
def app(tmp_path):
    app = create_app(embedded_settings(tmp_path))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()


def test_embedded_indexing_reaping_and_removal_on_sqlite(app, llm):
    session = db.session
    dispatcher = RecordingDispatcher()
    runtime = dataclasses.replace(get_runtime(), dispatcher=dispatcher)
    vectors, fulltext = InMemoryVectorStore(), InMemoryFullText()
    tenant_id = make_tenant(session, llm_url=llm.url, app=app)
    economy, quality = make_dataset(session, tenant_id, technique="economy"), make_dataset(session, tenant_id)
    upload = make_upload(session, runtime, tenant_id, "notes.txt", b"Alpha beta gamma.\n\nDelta epsilon zeta.")
    by_file = make_document(session, economy, upload=upload)
    by_text = make_document(session, quality)
    lost = make_document(session, economy, age_seconds=3600)
    run = {"runtime": runtime, "vector_store": vectors, "fulltext": fulltext}

    outcomes = [indexing_service.index_document(session, document_id=d.id, worker_id=f"w{d.id}", **run)
                for d in (by_file, by_text)]
    reaped = indexing_service.reap_expired_leases(session, runtime=runtime)
    indexing_service.remove_document_index(session, dataset_id=economy.id, document_ids=[by_file.id], **run)

    assert outcomes == ["completed", "completed"]
    assert reaped["redispatched"] == 1
    assert (TaskName.INDEX_DOCUMENT, (lost.id,)) in dispatcher.sent
    assert len(vectors.ids(by_text.id)) == 6
    assert llm.count("/v1/embeddings") == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(SegmentKeyword)) == 0
    assert fulltext.ids(by_file.id) == set()
    assert not runtime.storage.exists(upload.key)


def test_heartbeat_renews_the_lease_and_notices_when_it_is_taken_over(app, llm):
    session = db.session
    dataset = make_dataset(session, make_tenant(session, llm_url=llm.url, app=app), technique="economy")
    document = make_document(session, dataset)
    lease = indexing_lease_service.claim(session, document_id=document.id, worker_id="me", lease_seconds=10,
                                         tenant_cap=4)
    assert isinstance(lease, indexing_lease_service.Lease)
    session.execute(sa.update(Document).where(Document.id == document.id)
                    .values(lease_expires_at=utcnow() + timedelta(seconds=1)))
    session.commit()
    short = session.scalar(sa.select(Document.lease_expires_at).where(Document.id == document.id))
    heartbeat = indexing_lease_service.Heartbeat(db.engine, lease, interval=0.02)

    heartbeat.start()
    renewed = wait_for(lambda: heartbeat.beats > 0)
    session.commit()  # end the read snapshot
    extended = session.scalar(sa.select(Document.lease_expires_at).where(Document.id == document.id))
    session.execute(sa.update(Document).where(Document.id == document.id).values(lease_owner="someone-else"))
    session.commit()
    noticed = wait_for(lambda: heartbeat.lost)
    heartbeat.stop()
    heartbeat.join(timeout=5)

    assert renewed
    assert extended > short + timedelta(seconds=5)
    assert noticed
    assert not heartbeat.is_alive()
    started = indexing_lease_service.start_heartbeat(session, lease)  # the session is bound to an engine here
    assert isinstance(started, threading.Thread)
    started.stop()


def test_embedded_indexing_with_the_real_embedded_stores(app, llm):
    session = db.session
    runtime = dataclasses.replace(get_runtime(), dispatcher=RecordingDispatcher())
    tenant_id = make_tenant(session, llm_url=llm.url, app=app)
    quality, economy = make_dataset(session, tenant_id), make_dataset(session, tenant_id, technique="economy")
    documents = [make_document(session, quality), make_document(session, economy)]

    outcomes = [indexing_service.index_document(session, runtime=runtime, document_id=d.id, worker_id=f"w{d.id}")
                for d in documents]
    query = llm_vector(llm, "Paragraph 3 talks about topic3 and nothing else.")
    semantic = runtime.vector_store.search(quality.id, query, top_k=1)
    keyword = runtime.fulltext.search(economy.id, "topic5", top_k=3)
    segments = {s.id: s.content for s in session.scalars(sa.select(DocumentSegment))}
    indexing_service.remove_dataset_index(session, runtime=runtime, dataset_id=quality.id)

    assert outcomes == ["completed", "completed"]
    assert segments[semantic[0].segment_id] == "Paragraph 3 talks about topic3 and nothing else."
    assert [segments[hit.segment_id] for hit in keyword] == ["Paragraph 5 talks about topic5 and nothing else."]
    assert runtime.vector_store.search(quality.id, query, top_k=1) == []


def llm_vector(llm, text: str) -> list[float]:
    """The fake server's embedding of `text` (deterministic per text)."""
    return llm_wire.fake_vector(text, llm.embedding_dim)


@pytest.mark.parametrize(("name", "value"), [("INDEXING_LEASE_SECONDS", "5"), ("INDEXING_REAPER_INTERVAL", "0"),
                                             ("INDEXING_TENANT_CONCURRENCY", "0"), ("EMBEDDING_BATCH_SIZE", "4096")])
def test_indexing_settings_are_bounded(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        embedded_settings(tmp_path, **{name: value})


def test_embedded_mode_leaves_one_worker_thread_to_other_workspaces(tmp_path):
    settings = embedded_settings(tmp_path, EMBEDDED_WORKER_THREADS="4", INDEXING_TENANT_CONCURRENCY="8")

    assert indexing_lease_service.tenant_cap(settings) == 3
    assert indexing_lease_service.tenant_cap(settings.with_overrides(redis_url="redis://x")) == 8
