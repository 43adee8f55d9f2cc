"""Knowledge indexing when things go wrong, through HTTP and a real Celery worker process.

A worker killed with SIGKILL in the middle of a large document (a fresh worker finishes it with exactly its
segments, once each), an embedding endpoint that fails three times and then recovers (completed), one that always
fails (error with the provider's reason, within the retry/lease bound), and a corrupt PDF (error; the worker stays
healthy and indexes the next document). The distributed server runs Celery beat (the lease reaper) with a 10 s
lease and a 5 s reaper period (tests/e2e/conftest.py), so a document whose worker died is re-queued within 15 s.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from api.extensions.fulltext import TABLE as FULLTEXT_TABLE
from api.extensions.vector_store import PgVectorStore
from tests.e2e.chat_support import Stacks
from tests.e2e.knowledge_support import (
    EMBEDDINGS_PATH,
    Knowledge,
    Knowledges,
    embedded_texts,
    expected_segments,
)
from tests.e2e.servers import (
    EMBEDDING_BATCH_SIZE,
    INDEXING_LEASE_SECONDS,
    INDEXING_REAPER_INTERVAL,
    Proc,
    Server,
)
from tests.fakes.llm_server import FakeLLMServer
from tests.unit.core.rag.files import make_pdf

pytestmark = pytest.mark.e2e

ATTEMPTS = 4  # indexing_service.MAX_ATTEMPTS: the first run + 3 retries
# A dead worker's document is re-queued within lease + reaper period; retries back off 1 + 2 + 4 s at most.
RECOVERY_BOUND = INDEXING_LEASE_SECONDS + INDEXING_REAPER_INTERVAL + 7 + 15  # + slack for a loaded machine
CORRUPT_PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog /Pages 9 0 R >>\nstream\x00\xff garbage" * 50


@pytest.fixture
def kb(distributed_server: Server, stacks: Stacks, knowledges: Knowledges) -> Knowledge:
    return knowledges.get(stacks.get(distributed_server))


def _lines(tag: str, count: int) -> bytes:
    """A text of `count` distinct lines (one segment each), unique to `tag` so no embedding is cached yet."""
    return "\n".join(f"Section {n} of the {tag} manual covers part{n} in detail." for n in range(1, count + 1)).encode()


def _index_rows(server: Server, document_id: str, dim: int) -> dict[str, Any]:
    """What the stores and the documents table of the server's database hold for the document."""
    engine = sa.create_engine(server.env["DATABASE_URL"], poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            def segment_ids(table: str) -> list[str]:
                return list(conn.execute(sa.text(f"SELECT segment_id FROM {table} WHERE document_id = :d"),
                                         {"d": document_id}).scalars())

            return {"vectors": segment_ids(PgVectorStore.table_name(dim)), "fulltext": segment_ids(FULLTEXT_TABLE),
                    "attempts": conn.execute(sa.text("SELECT attempts FROM documents WHERE id = :d"),
                                             {"d": document_id}).scalar_one()}
    finally:
        engine.dispose()


def test_worker_killed_mid_document_is_completed_by_a_new_worker_with_exactly_its_segments(
        distributed_server: Server, kb: Knowledge, llm: FakeLLMServer,
        restart_celery_worker: Callable[..., Proc]) -> None:
    model = kb.register(llm, "slow-embedding")
    llm.script(model, embedding_delay_ms=300)  # 12 batches of 4: the worker needs ~4 s for the document
    name, data = "manual.txt", _lines(uuid.uuid4().hex[:8], 48)
    expected = expected_segments(name, data)
    dataset_id = kb.dataset("high_quality", model)
    since = len(llm.requests)
    document_id, batch = kb.upload(dataset_id, name, data)
    # the worker is provably mid-document: indexing, with at least one batch stored
    kb.wait_for(dataset_id, batch, lambda r: r["indexing_status"] == "indexing"
                and r["completed_segments"] >= EMBEDDING_BATCH_SIZE)
    seen: dict[str, Any] = {}

    def while_down() -> None:  # nobody works on the document now: what the dead worker left behind
        seen["status"] = kb.status(dataset_id, batch)
        seen["segments"] = kb.segments(dataset_id, document_id)
        seen["requests"] = len(llm.requests)

    fresh = restart_celery_worker(distributed_server, while_down)
    final = kb.wait_until(dataset_id, batch, timeout=RECOVERY_BOUND)

    during, left = seen["status"], seen["segments"]
    assert during["indexing_status"] == "indexing"
    assert EMBEDDING_BATCH_SIZE <= during["completed_segments"] < during["total_segments"] == len(expected)
    done_before = [s["content"] for s in left if s["status"] == "completed"]
    assert len(done_before) == during["completed_segments"]
    assert (final["indexing_status"], final["error"]) == ("completed", None), final
    assert (final["completed_segments"], final["total_segments"]) == (len(expected), len(expected))
    segments = kb.segments(dataset_id, document_id)
    assert [s["content"] for s in segments] == expected
    assert [s["position"] for s in segments] == list(range(1, len(expected) + 1))
    assert {s["status"] for s in segments} == {"completed"}
    ids = [s["id"] for s in segments]
    assert len(set(ids)) == len(expected)
    assert ids == [s["id"] for s in left]  # the same rows, rewritten in place
    stored = _index_rows(distributed_server, document_id, llm.embedding_dim)
    assert sorted(stored["vectors"]) == sorted(ids)  # one vector per segment, none missing, none twice
    assert sorted(stored["fulltext"]) == sorted(ids)
    assert stored["attempts"] == 2  # the dead worker's claim, then the new worker's
    # The new worker re-embedded nothing the dead one had stored (embedding cache), and embedded all the rest.
    after = embedded_texts(llm, model, since=seen["requests"])
    assert not set(after) & set(done_before)
    assert set(embedded_texts(llm, model, since=since)) == set(expected)
    finished = rf"indexing finished document_id={document_id} tenant_id=\S+ attempt=2 outcome=completed"
    assert re.search(finished, fresh.log.read_text(errors="replace"))  # by the new worker


def test_embedding_endpoint_failing_three_times_then_recovering_completes(kb: Knowledge,
                                                                          llm: FakeLLMServer) -> None:
    model = kb.register(llm, "flaky-embedding")  # registration's validation call must pass: script after it
    llm.script(model, failures=[500, 500, 500])
    name, data = "flaky.txt", _lines(uuid.uuid4().hex[:8], 6)
    dataset_id = kb.dataset("high_quality", model)
    before = llm.count(EMBEDDINGS_PATH, model=model)
    document_id, batch = kb.upload(dataset_id, name, data)

    final = kb.wait_until(dataset_id, batch, timeout=RECOVERY_BOUND)

    assert (final["indexing_status"], final["error"]) == ("completed", None), final
    assert [s["content"] for s in kb.segments(dataset_id, document_id)] == expected_segments(name, data)
    # three failed requests, then the document's two batches of 4 and 2 segments
    assert llm.count(EMBEDDINGS_PATH, model=model) - before == 3 + 2


def test_embedding_endpoint_that_always_fails_ends_in_error_with_the_reason(kb: Knowledge,
                                                                            llm: FakeLLMServer) -> None:
    model = kb.register(llm, "down-embedding")
    llm.script(model, failures=[500] * 50)
    dataset_id = kb.dataset("high_quality", model)
    before = llm.count(EMBEDDINGS_PATH, model=model)
    _, batch = kb.upload(dataset_id, "down.txt", _lines(uuid.uuid4().hex[:8], 6))

    final = kb.wait_until(dataset_id, batch, timeout=RECOVERY_BOUND)

    assert final["indexing_status"] == "error", final
    assert "The server had an error while processing your request" in final["error"]  # the provider's words
    assert f"gave up after {ATTEMPTS} attempts" in final["error"]
    assert final["stopped_at"] is not None
    assert final["completed_at"] is None
    assert llm.count(EMBEDDINGS_PATH, model=model) - before == ATTEMPTS


def test_corrupt_pdf_ends_in_error_and_the_worker_stays_healthy(distributed_server: Server,
                                                                kb: Knowledge) -> None:
    workers = {p.name: p.popen.pid for p in distributed_server.procs}
    dataset_id = kb.dataset("economy")
    _, broken = kb.upload(dataset_id, "broken.pdf", CORRUPT_PDF)

    failed = kb.wait_until(dataset_id, broken)
    good_name, good = "after.pdf", make_pdf(["Still indexing after the broken file."])
    good_id, good_batch = kb.upload(dataset_id, good_name, good)
    after = kb.wait_until(dataset_id, good_batch)

    assert failed["indexing_status"] == "error", failed
    assert failed["error"].startswith("The PDF file could not be read")
    assert failed["total_segments"] == 0
    assert after["indexing_status"] == "completed", after
    assert [s["content"] for s in kb.segments(dataset_id, good_id)] == expected_segments(good_name, good)
    assert {p.name: p.popen.pid for p in distributed_server.procs if p.popen.poll() is None} == workers  # none died
