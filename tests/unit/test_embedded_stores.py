"""EmbeddedVectorStore and SqliteFullTextIndex on a temporary SQLite file (no services needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from api.core.rag.ports import IndexedChunk
from api.extensions.fulltext import SqliteFullTextIndex
from api.extensions.vector_store import EmbeddedVectorStore


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}", connect_args={"timeout": 1})

    @sa.event.listens_for(engine, "connect")
    def _wal(dbapi_connection, _record):  # as the app configures SQLite
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    yield engine
    engine.dispose()


def _chunks(dataset_id: str, vectors: np.ndarray, *, docs: int = 1, per_segment: int = 1) -> list[IndexedChunk]:
    return [IndexedChunk(id=f"{dataset_id}-{i}", dataset_id=dataset_id, document_id=f"doc-{i % docs}",
                         segment_id=f"seg-{i // per_segment}", content="", vector=vector.tolist())
            for i, vector in enumerate(vectors)]


def _exact(vectors: np.ndarray, query: np.ndarray, k: int) -> list[str]:
    sims = (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [f"seg-{i}" for i in np.argsort(-sims)[:k]]


def test_embedded_search_equals_brute_force(engine):
    store, rng = EmbeddedVectorStore(engine), np.random.default_rng(7)
    vectors = rng.normal(size=(2000, 32))
    store.upsert(_chunks("ds", vectors))

    for _ in range(20):
        query = rng.normal(size=32)
        hits = store.search("ds", query.tolist(), top_k=10)
        assert [h.segment_id for h in hits] == _exact(vectors, query, 10)
    best = vectors[int(hits[0].segment_id.split("-")[1])]
    assert hits[0].score == pytest.approx(best @ query / np.linalg.norm(best) / np.linalg.norm(query), abs=1e-5)


def test_embedded_search_keeps_the_best_row_per_segment(engine):
    store, rng = EmbeddedVectorStore(engine), np.random.default_rng(8)
    vectors = rng.normal(size=(600, 16))  # 200 segments of 3 child chunks each
    store.upsert(_chunks("ds", vectors, per_segment=3))
    query = rng.normal(size=16)

    hits = store.search("ds", query.tolist(), top_k=50)

    sims = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    best = sims.reshape(200, 3).max(axis=1)
    assert [h.segment_id for h in hits] == [f"seg-{i}" for i in np.argsort(-best)[:50]]


def test_embedded_upsert_is_idempotent_and_replaces_vectors(engine):
    store = EmbeddedVectorStore(engine)
    vectors = np.eye(4)
    store.upsert(_chunks("ds", vectors))
    store.search("ds", [1, 0, 0, 0], top_k=1)  # cached from here on: later writes patch the cache

    store.upsert(_chunks("ds", vectors))
    store.upsert(_chunks("ds", -vectors[:1]))

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM knowledge_vectors")).scalar() == 4
    assert store.search("ds", [1, 0, 0, 0], top_k=4)[-1].segment_id == "seg-0"
    assert EmbeddedVectorStore(engine).search("ds", [1, 0, 0, 0], top_k=4)[-1].segment_id == "seg-0"


def test_embedded_datasets_are_isolated_and_deletes_apply(engine):
    store, rng = EmbeddedVectorStore(engine), np.random.default_rng(9)
    vectors = rng.normal(size=(30, 8))
    store.upsert(_chunks("mine", vectors, docs=3) + _chunks("theirs", vectors))
    assert len(store.search("mine", vectors[0].tolist(), top_k=100)) == 30

    store.delete_documents("mine", ["doc-0", "doc-1"])

    assert {h.segment_id for h in store.search("mine", vectors[0].tolist(), top_k=100)} == {
        f"seg-{i}" for i in range(2, 30, 3)}
    store.delete_dataset("mine")
    assert store.search("mine", vectors[0].tolist(), top_k=5) == []
    assert len(store.search("theirs", vectors[0].tolist(), top_k=100)) == 30
    assert store.search("never-written", vectors[0].tolist(), top_k=5) == []


def test_embedded_delete_chunks_removes_single_entries_of_one_dataset(engine):
    store, rng = EmbeddedVectorStore(engine), np.random.default_rng(12)
    vectors = rng.normal(size=(6, 8))
    store.upsert(_chunks("mine", vectors) + _chunks("theirs", vectors))
    assert len(store.search("mine", vectors[0].tolist(), top_k=10)) == 6  # the index is cached now

    store.delete_chunks("mine", ["mine-1", "mine-4", "theirs-2", "unknown"])

    assert {h.segment_id for h in store.search("mine", vectors[0].tolist(), top_k=10)} == {
        "seg-0", "seg-2", "seg-3", "seg-5"}
    assert {h.segment_id for h in EmbeddedVectorStore(engine).search("mine", vectors[0].tolist(), top_k=10)} == {
        "seg-0", "seg-2", "seg-3", "seg-5"}
    assert len(store.search("theirs", vectors[0].tolist(), top_k=10)) == 6


def test_embedded_store_sees_writes_made_by_another_instance(engine):
    reader, writer, rng = EmbeddedVectorStore(engine), EmbeddedVectorStore(engine), np.random.default_rng(10)
    vectors = rng.normal(size=(50, 8))
    writer.upsert(_chunks("ds", vectors[:25]))
    assert len(reader.search("ds", vectors[0].tolist(), top_k=100)) == 25

    writer.upsert(_chunks("ds", vectors)[25:])
    assert len(reader.search("ds", vectors[0].tolist(), top_k=100)) == 50
    writer.delete_documents("ds", ["doc-0"])
    assert reader.search("ds", vectors[0].tolist(), top_k=100) == []


def test_embedded_store_joins_the_callers_transaction(engine):
    vectors = np.eye(3)
    with engine.connect() as conn:
        store = EmbeddedVectorStore(lambda: conn)
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (x int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))  # the caller holds SQLite's write lock

        store.upsert(_chunks("ds", vectors))  # would wait for that lock on a connection of its own

        assert len(store.search("ds", [1, 0, 0], top_k=3)) == 3
        conn.rollback()
        assert store.search("ds", [1, 0, 0], top_k=3) == []
        store.upsert(_chunks("ds", vectors[:1]))
        conn.commit()
    assert [h.segment_id for h in EmbeddedVectorStore(engine).search("ds", [1, 0, 0], top_k=3)] == ["seg-0"]


def test_embedded_store_serves_each_dimension(engine):
    store = EmbeddedVectorStore(engine)
    store.upsert(_chunks("ds", np.eye(4)))
    store.upsert([IndexedChunk(id="wide", dataset_id="ds", document_id="d", segment_id="wide", content="",
                               vector=[1.0] * 6)])

    assert [(h.segment_id, round(h.score, 6)) for h in store.search("ds", [1.0] * 6, top_k=3)] == [("wide", 1.0)]
    assert {h.segment_id for h in store.search("ds", [1, 0, 0, 0], top_k=10)} == {f"seg-{i}" for i in range(4)}
    assert [h.segment_id for h in store.search("ds", [2.0] * 6, top_k=3)] == ["wide"]


def _texts(dataset_id: str, texts: list[str]) -> list[IndexedChunk]:
    return [IndexedChunk(id=f"{dataset_id}-{i}", dataset_id=dataset_id, document_id=f"doc-{i}",
                         segment_id=f"seg-{i}", content=text) for i, text in enumerate(texts)]


TEXTS = ["Paris is the capital of France", "The quick brown fox jumps over the lazy dog",
         "Reset your password on the settings page", "我们的产品支持中文全文检索",
         "France borders Spain; Paris, France!"]


def test_fts_finds_ranks_and_normalises(engine):
    index = SqliteFullTextIndex(engine)
    index.upsert(_texts("ds", TEXTS))

    hits = index.search("ds", "capital of France", top_k=3)

    assert (hits[0].segment_id, hits[0].score) == ("seg-0", 1.0)  # every term: first
    assert [h.segment_id for h in hits][1:] == ["seg-4"]  # some terms: after, scored lower
    assert 0 < hits[1].score < 1.0
    assert [h.segment_id for h in index.search("ds", "中文检索", top_k=3)] == ["seg-3"]
    assert [h.segment_id for h in index.search("ds", "PASSWORD reset", top_k=3)] == ["seg-2"]


def test_fts_upsert_is_idempotent_and_replaces_content(engine):
    index = SqliteFullTextIndex(engine)
    index.upsert(_texts("ds", TEXTS))
    index.upsert(_texts("ds", TEXTS))

    index.upsert(_texts("ds", ["now about zebras"]))

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM knowledge_fulltext")).scalar() == len(TEXTS)
        assert conn.execute(sa.text("SELECT count(*) FROM knowledge_fulltext_rows")).scalar() == len(TEXTS)
    assert [h.segment_id for h in index.search("ds", "zebras", top_k=5)] == ["seg-0"]
    assert [h.segment_id for h in index.search("ds", "capital", top_k=5)] == []


def test_fts_keeps_datasets_apart_and_deletes(engine):
    index = SqliteFullTextIndex(engine)
    index.upsert(_texts("mine", TEXTS) + _texts("theirs", TEXTS))

    index.delete_documents("mine", ["doc-0"])

    assert [h.segment_id for h in index.search("mine", "Paris", top_k=5)] == ["seg-4"]
    assert {h.segment_id for h in index.search("theirs", "Paris", top_k=5)} == {"seg-0", "seg-4"}
    index.delete_dataset("mine")
    assert index.search("mine", "Paris", top_k=5) == []
    assert len(index.search("theirs", "Paris", top_k=5)) == 2


def test_fts_delete_chunks_removes_single_entries_of_one_dataset(engine):
    index = SqliteFullTextIndex(engine)
    index.upsert(_texts("mine", TEXTS) + _texts("theirs", TEXTS))

    index.delete_chunks("mine", ["mine-0", "theirs-4", "unknown"])

    assert [h.segment_id for h in index.search("mine", "Paris", top_k=5)] == ["seg-4"]
    assert {h.segment_id for h in index.search("theirs", "Paris", top_k=5)} == {"seg-0", "seg-4"}


@pytest.mark.parametrize("query", [
    "", "   ", '"', "'", '"unterminated', "(", ")", "*", "fox*", "NEAR(fox dog)", "fox AND", "OR NOT", "NOT",
    "body:fox", "dataset_key:x", "^fox", "-fox", "+", "{body}: fox", "fox -- dog", "\\", "%_", "a\x00b", "🦊",
])
def test_fts_special_characters_never_raise(engine, query):
    index = SqliteFullTextIndex(engine)
    index.upsert(_texts("ds", TEXTS))

    hits = index.search("ds", query, top_k=3)

    assert all(h.segment_id == "seg-1" for h in hits)  # only the fox text can match any of these


def test_fts_drops_terms_most_rows_contain(engine):
    index = SqliteFullTextIndex(engine, stats_ttl=0)
    index.upsert(_texts("ds", [f"common filler {i}" for i in range(60)] + ["a zebra here"]))

    assert [h.segment_id for h in index.search("ds", "common zebra", top_k=3)] == ["seg-60"]
    assert len(index.search("ds", "common", top_k=3)) == 3


def test_fts_joins_the_callers_transaction(engine):
    with engine.connect() as conn:
        index = SqliteFullTextIndex(lambda: conn)
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (x int)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))  # the caller holds SQLite's write lock

        index.upsert(_texts("ds", TEXTS))

        assert index.search("ds", "fox", top_k=3)[0].segment_id == "seg-1"
        conn.commit()
    assert SqliteFullTextIndex(engine).search("ds", "fox", top_k=3)[0].segment_id == "seg-1"
