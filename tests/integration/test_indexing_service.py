"""The indexing pipeline on PostgreSQL + Redis with the fake model server over real HTTP (in-memory vector and
full-text stores passed in): statuses, segments, idempotency, retries, the embedding cache, economy mode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from api.models.dataset import ChildChunk, Embedding, SegmentKeyword
from api.services import indexing_service
from api.services.indexing_service import TransientIndexingError
from tests.fakes.llm_server import FakeLLMServer, start_llm_server
from tests.integration.indexing_support import (
    EMBEDDING_MODEL,
    EMBEDDINGS_PATH,
    HIERARCHICAL_RULE,
    SIX_PARAGRAPHS,
    Env,
    make_dataset,
    make_document,
    make_env,
    make_upload,
)


@pytest.fixture(scope="module")
def embed_server() -> Iterator[FakeLLMServer]:
    server = start_llm_server(embedding_dim=16)
    yield server
    server.stop()


@pytest.fixture
def env(db_session, pg_app, embed_server) -> Env:
    embed_server.reset()
    return make_env(db_session, pg_app, embed_server.url)


def _run_like_celery(env: Env, document_id: str, runs: int) -> list[str]:
    """What the task with autoretry does: run again after each TransientIndexingError, `runs` times at most."""
    outcomes = []
    for _ in range(runs):
        try:
            outcomes.append(env.index(document_id))
        except TransientIndexingError:
            outcomes.append("retry")
            continue
        break
    return outcomes


def test_index_text_document_completes_with_expected_segments(env, embed_server):
    dataset = make_dataset(env.session, env.tenant_id)
    document = make_document(env.session, dataset)

    outcome = env.index(document.id)

    doc = env.document(document.id)
    segments = env.segments(document.id)
    assert outcome == "completed"
    assert doc.indexing_status == "completed"
    assert (doc.error, doc.lease_owner, doc.lease_expires_at, doc.attempts) == (None, None, None, 1)
    assert doc.processing_started_at <= doc.parsing_completed_at <= doc.cleaning_completed_at
    assert doc.cleaning_completed_at <= doc.splitting_completed_at <= doc.completed_at
    assert doc.indexing_latency is not None
    assert [s.content for s in segments] == SIX_PARAGRAPHS.split("\n\n")
    assert [s.position for s in segments] == [1, 2, 3, 4, 5, 6]
    assert all(s.status == "completed" and s.completed_at is not None for s in segments)
    assert doc.word_count == sum(len(s.content) for s in segments)
    assert doc.tokens == sum(s.tokens for s in segments) > 0
    assert [s.id for s in segments] == [indexing_service.segment_id(document.id, s.position, s.content)
                                        for s in segments]
    assert env.stores.vectors.ids(document.id) == {s.id for s in segments}
    assert all(len(e.vector) == 16 for e in env.stores.vectors.entries.values())
    assert env.stores.fulltext.ids(document.id) == {s.id for s in segments}
    assert embed_server.count(EMBEDDINGS_PATH, model=EMBEDDING_MODEL) == 1


def test_index_document_is_a_no_op_when_completed_or_claimed(env):
    dataset = make_dataset(env.session, env.tenant_id)
    done = make_document(env.session, dataset)
    env.index(done.id)
    running = make_document(env.session, dataset)
    env.session.execute(sa.text("UPDATE documents SET indexing_status='indexing', lease_owner='other', "
                                "lease_expires_at=now() + interval '1 minute' WHERE id=:id"), {"id": running.id})
    env.session.commit()
    upserts_before = env.stores.vectors.upserts

    outcomes = (env.index(done.id), env.index(running.id))

    assert outcomes == ("skipped", "skipped")
    assert env.document(done.id).attempts == 1
    assert env.document(running.id).lease_owner == "other"
    assert env.stores.vectors.upserts == upserts_before
    assert len(env.segments(done.id)) == 6


def test_reindex_after_content_change_keeps_exactly_the_new_segments(env):
    dataset = make_dataset(env.session, env.tenant_id)
    document = make_document(env.session, dataset)
    env.index(document.id)
    document.data_source_info = {"text": "Changed first paragraph.\n\nParagraph 2 talks about topic2 and nothing "
                                         "else.\n\nA third one."}
    document.indexing_status = "waiting"
    env.session.commit()

    outcome = env.index(document.id)

    segments = env.segments(document.id)
    assert outcome == "completed"
    assert [s.content for s in segments] == ["Changed first paragraph.",
                                             "Paragraph 2 talks about topic2 and nothing else.", "A third one."]
    assert env.stores.vectors.ids(document.id) == {s.id for s in segments}
    assert env.stores.fulltext.ids(document.id) == {s.id for s in segments}


def test_embedding_failing_three_times_then_recovering_completes(env, embed_server):
    embed_server.script(EMBEDDING_MODEL, failures=[429, 429, 429])
    dataset = make_dataset(env.session, env.tenant_id)
    document = make_document(env.session, dataset)

    outcomes = _run_like_celery(env, document.id, runs=indexing_service.MAX_ATTEMPTS)

    doc = env.document(document.id)
    assert outcomes == ["retry", "retry", "retry", "completed"]
    assert (doc.indexing_status, doc.attempts, doc.error) == ("completed", 4, None)
    assert len(env.segments(document.id)) == 6


def test_document_goes_back_to_waiting_without_lease_on_a_transient_error(env, embed_server):
    embed_server.script(EMBEDDING_MODEL, failures=[503])
    dataset = make_dataset(env.session, env.tenant_id)
    document = make_document(env.session, dataset)

    with pytest.raises(TransientIndexingError):
        env.index(document.id)

    doc = env.document(document.id)
    assert (doc.indexing_status, doc.lease_owner, doc.lease_expires_at, doc.attempts) == ("waiting", None, None, 1)


def test_embedding_always_failing_ends_in_error_within_the_attempt_bound(env, embed_server):
    embed_server.script(EMBEDDING_MODEL, failures=[429] * 20)
    dataset = make_dataset(env.session, env.tenant_id)
    document = make_document(env.session, dataset)

    outcomes = _run_like_celery(env, document.id, runs=10)

    doc = env.document(document.id)
    assert outcomes == ["retry", "retry", "retry", "error"]
    assert doc.indexing_status == "error"
    assert "rate limit" in doc.error.lower()
    assert "gave up after 4 attempts" in doc.error
    assert doc.stopped_at is not None
    assert doc.lease_owner is None
    assert env.index(document.id) == "skipped"


def test_bad_credentials_end_in_error_without_retry(env, embed_server):
    embed_server.script(EMBEDDING_MODEL, failures=[401])
    dataset = make_dataset(env.session, env.tenant_id)
    document = make_document(env.session, dataset)

    outcome = env.index(document.id)

    doc = env.document(document.id)
    assert outcome == "error"
    assert "Incorrect API key" in doc.error


def test_corrupt_pdf_ends_in_error_with_a_readable_reason(env):
    dataset = make_dataset(env.session, env.tenant_id, technique="economy")
    upload = make_upload(env.session, env.runtime, env.tenant_id, "broken.pdf", b"%PDF-1.7\nthis is not a pdf\n%%EOF")
    document = make_document(env.session, dataset, upload=upload, rule=None)

    outcome = env.index(document.id)

    doc = env.document(document.id)
    assert outcome == "error"
    assert doc.error.startswith("The PDF file could not be read")
    assert (doc.lease_owner, doc.parsing_completed_at) == (None, None)
    assert env.segments(document.id) == []


def test_uploaded_text_file_is_extracted_from_storage(env):
    dataset = make_dataset(env.session, env.tenant_id, technique="economy")
    upload = make_upload(env.session, env.runtime, env.tenant_id, "notes.md", SIX_PARAGRAPHS.encode())
    document = make_document(env.session, dataset, upload=upload)

    outcome = env.index(document.id)

    assert outcome == "completed"
    assert len(env.segments(document.id)) == 6


def test_embedding_cache_embeds_identical_content_only_once(env, embed_server):
    dataset = make_dataset(env.session, env.tenant_id)
    first = make_document(env.session, dataset)
    second = make_document(env.session, make_dataset(env.session, env.tenant_id))

    env.index(first.id)
    env.index(second.id)

    assert embed_server.count(EMBEDDINGS_PATH) == 1
    assert env.document(second.id).indexing_status == "completed"
    cached = env.session.scalar(sa.select(sa.func.count()).select_from(Embedding)
                                .where(Embedding.model_name == EMBEDDING_MODEL))
    assert cached == 6
    assert env.stores.vectors.ids(second.id) == {s.id for s in env.segments(second.id)}


def test_economy_mode_makes_no_model_call_and_fills_keywords(env, embed_server):
    dataset = make_dataset(env.session, env.tenant_id, technique="economy")
    document = make_document(env.session, dataset)

    outcome = env.index(document.id)

    segments = env.segments(document.id)
    keywords = env.session.execute(sa.select(SegmentKeyword.segment_id, SegmentKeyword.keyword)
                                   .where(SegmentKeyword.document_id == document.id)).all()
    assert outcome == "completed"
    assert embed_server.count() == 0
    assert env.stores.vectors.entries == {}
    assert env.stores.fulltext.ids(document.id) == {s.id for s in segments}
    assert ("topic3" in segments[2].keywords)
    assert ((segments[2].id, "topic3") in keywords)
    assert {sid for sid, _ in keywords} == {s.id for s in segments}
    assert env.document(document.id).tokens == 0


def test_parent_child_document_embeds_child_chunks(env):
    dataset = make_dataset(env.session, env.tenant_id)
    text = "First sentence here. Second sentence there.\n\nThird sentence. Fourth one."
    document = make_document(env.session, dataset, text=text, rule=("hierarchical", HIERARCHICAL_RULE))

    outcome = env.index(document.id)

    segments = env.segments(document.id)
    children = list(env.session.scalars(sa.select(ChildChunk).where(ChildChunk.document_id == document.id)))
    assert outcome == "completed"
    assert len(segments) == 2
    assert len(children) == 4
    assert env.stores.vectors.ids(document.id) == {c.id for c in children}
    assert {e.segment_id for e in env.stores.vectors.entries.values()} == {s.id for s in segments}
