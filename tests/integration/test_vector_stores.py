"""PgVectorStore and PgFullTextIndex on a real PostgreSQL with pgvector (the `pgvector_url` fixture).

Each test uses fresh dataset ids (and its own vector dimension where plans or row counts matter), so tests
never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa

from api.core.rag.ports import IndexedChunk
from api.extensions.fulltext import PgFullTextIndex
from api.extensions.vector_store import PgVectorStore, vector_literal

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(pgvector_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pgvector_url)
    yield engine
    engine.dispose()


def _ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())


def _chunks(dataset_id: str, vectors: np.ndarray, *, prefix: str = "", docs: int = 1) -> list[IndexedChunk]:
    return [IndexedChunk(id=f"{prefix}{dataset_id}-{i}", dataset_id=dataset_id, document_id=f"doc-{i % docs}",
                         segment_id=f"{prefix}seg-{i}", content="", vector=vector.tolist())
            for i, vector in enumerate(vectors)]


def _count(engine: sa.Engine, table: str, dataset_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE dataset_id = :d"), {"d": dataset_id}).scalar()


def _exact(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    sims = (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return [int(i) for i in np.argsort(-sims)[:k]]


def test_vector_upsert_twice_keeps_one_row_per_id_and_replaces_the_vector(engine):
    store, (dataset, _) = PgVectorStore(engine), _ids()
    vectors = np.random.default_rng(1).normal(size=(20, 8))
    store.upsert(_chunks(dataset, vectors))

    store.upsert(_chunks(dataset, vectors))
    store.upsert(_chunks(dataset, vectors[:1] * -1))  # id 0 now points the other way

    assert _count(engine, "knowledge_vectors_8", dataset) == 20
    assert store.search(dataset, vectors[0].tolist(), top_k=20)[-1].segment_id == "seg-0"


def test_vector_search_orders_by_cosine_and_keeps_datasets_apart(engine):
    store, (mine, theirs) = PgVectorStore(engine), _ids()
    rng = np.random.default_rng(2)
    vectors, others = rng.normal(size=(300, 12)), rng.normal(size=(300, 12))
    store.upsert(_chunks(mine, vectors) + _chunks(theirs, others, prefix="x"))
    query = rng.normal(size=12)

    hits = store.search(mine, query.tolist(), top_k=10)

    assert [h.segment_id for h in hits] == [f"seg-{i}" for i in _exact(vectors, query, 10)]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    best = vectors[int(hits[0].segment_id.split("-")[1])]
    assert hits[0].score == pytest.approx(best @ query / np.linalg.norm(best) / np.linalg.norm(query), abs=1e-5)
    assert store.search(str(uuid.uuid4()), query.tolist(), top_k=10) == []


def test_vector_search_returns_the_best_row_per_segment(engine):
    store, (dataset, _) = PgVectorStore(engine), _ids()
    query = np.array([1.0, 0.0, 0.0])
    rows = [("a1", "A", [1.0, 0.0, 0.0]), ("a2", "A", [0.9, 0.1, 0.0]), ("b1", "B", [0.8, 0.6, 0.0]),
            ("c1", "C", [0.0, 1.0, 0.0])]
    store.upsert([IndexedChunk(id=f"{dataset}{i}", dataset_id=dataset, document_id="d", segment_id=s, content="",
                               vector=v) for i, s, v in rows])

    hits = store.search(dataset, query.tolist(), top_k=3)

    assert [h.segment_id for h in hits] == ["A", "B", "C"]
    assert hits[0].score == pytest.approx(1.0)
    assert hits[2].score == pytest.approx(0.0, abs=1e-6)


def test_vector_deletes_remove_documents_then_the_dataset(engine):
    store, (dataset, other) = PgVectorStore(engine), _ids()
    vectors = np.random.default_rng(3).normal(size=(30, 8))
    store.upsert(_chunks(dataset, vectors, docs=3) + _chunks(other, vectors, prefix="o"))

    store.delete_documents(dataset, ["doc-0", "doc-1"])

    assert _count(engine, "knowledge_vectors_8", dataset) == 10
    assert {h.segment_id for h in store.search(dataset, vectors[0].tolist(), top_k=30)} == {
        f"seg-{i}" for i in range(2, 30, 3)}
    store.delete_dataset(dataset)
    assert _count(engine, "knowledge_vectors_8", dataset) == 0
    assert _count(engine, "knowledge_vectors_8", other) == 30


def test_vector_delete_chunks_removes_single_entries_of_one_dataset(engine):
    store, (dataset, other) = PgVectorStore(engine), _ids()
    vectors = np.random.default_rng(4).normal(size=(6, 8))
    store.upsert(_chunks(dataset, vectors) + _chunks(other, vectors, prefix="o"))

    store.delete_chunks(dataset, [f"{dataset}-1", f"{dataset}-4", f"o{other}-2", "unknown"])

    assert {h.segment_id for h in store.search(dataset, vectors[0].tolist(), top_k=10)} == {
        "seg-0", "seg-2", "seg-3", "seg-5"}
    assert _count(engine, "knowledge_vectors_8", other) == 6


def test_hnsw_index_serves_a_large_dataset_and_the_btree_a_small_one(engine):
    store, (large, small) = PgVectorStore(engine), _ids()
    rng = np.random.default_rng(4)
    store.upsert(_chunks(large, rng.normal(size=(3000, 20))) + _chunks(small, rng.normal(size=(100, 20)), prefix="s"))
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE knowledge_vectors_20"))

    def plan(dataset_id: str) -> str:
        with engine.begin() as conn:
            store.configure_search(conn, 20)
            return "\n".join(conn.execute(sa.text("EXPLAIN " + str(store.search_statement(20))), {
                "q": vector_literal(rng.normal(size=20)), "dataset_id": dataset_id, "n": 20}).scalars())

    assert "Index Scan using ix_knowledge_vectors_20_embedding" in plan(large)
    assert "ix_knowledge_vectors_20_dataset_id_document_id" in plan(small)  # exact: few rows, sorted
    assert len(store.search(small, rng.normal(size=20).tolist(), top_k=10)) == 10


def test_vectors_above_2000_dimensions_are_indexed_as_halfvec(engine):
    store, (dataset, _) = PgVectorStore(engine), _ids()
    vectors = np.random.default_rng(5).normal(size=(5, 2048))
    store.upsert(_chunks(dataset, vectors))

    hits = store.search(dataset, vectors[3].tolist(), top_k=2)

    assert hits[0].segment_id == "seg-3"
    with engine.connect() as conn:
        assert "halfvec_cosine_ops" in conn.execute(sa.text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_knowledge_vectors_2048_embedding'")).scalar()


def _texts(dataset_id: str, texts: list[str], *, prefix: str = "") -> list[IndexedChunk]:
    return [IndexedChunk(id=f"{prefix}{dataset_id}-{i}", dataset_id=dataset_id, document_id=f"doc-{i}",
                         segment_id=f"{prefix}seg-{i}", content=text) for i, text in enumerate(texts)]


TEXTS = ["Paris is the capital of France", "The quick brown fox jumps over the lazy dog",
         "Reset your password on the settings page", "我们的产品支持中文全文检索",
         "France borders Spain; Paris, France!"]


def test_fulltext_finds_ranks_and_normalises(engine):
    index, (dataset, _) = PgFullTextIndex(engine), _ids()
    index.upsert(_texts(dataset, TEXTS))

    hits = index.search(dataset, "capital of France", top_k=3)

    assert (hits[0].segment_id, hits[0].score) == ("seg-0", 1.0)  # every term: first
    assert [h.segment_id for h in hits][1:] == ["seg-4"]  # some terms: after, scored lower
    assert 0 < hits[1].score < 1.0
    assert [h.segment_id for h in index.search(dataset, "中文检索", top_k=3)] == ["seg-3"]
    assert [h.segment_id for h in index.search(dataset, "PASSWORD reset", top_k=3)] == ["seg-2"]


def test_fulltext_upsert_is_idempotent_and_replaces_content(engine):
    index, (dataset, _) = PgFullTextIndex(engine), _ids()
    index.upsert(_texts(dataset, TEXTS))
    index.upsert(_texts(dataset, TEXTS))

    index.upsert(_texts(dataset, ["now about zebras"]))

    assert _count(engine, "knowledge_fulltext", dataset) == len(TEXTS)
    assert index.search(dataset, "Paris capital", top_k=5)[0].segment_id == "seg-4"
    assert [h.segment_id for h in index.search(dataset, "zebras", top_k=5)] == ["seg-0"]


def test_fulltext_keeps_datasets_apart_and_deletes(engine):
    index, (mine, theirs) = PgFullTextIndex(engine), _ids()
    index.upsert(_texts(mine, TEXTS) + _texts(theirs, TEXTS, prefix="t"))

    index.delete_documents(mine, ["doc-0"])

    assert [h.segment_id for h in index.search(mine, "Paris", top_k=5)] == ["seg-4"]
    assert {h.segment_id for h in index.search(theirs, "Paris", top_k=5)} == {"tseg-0", "tseg-4"}
    index.delete_dataset(mine)
    assert _count(engine, "knowledge_fulltext", mine) == 0
    assert index.search(mine, "Paris", top_k=5) == []
    assert len(index.search(theirs, "Paris", top_k=5)) == 2


def test_fulltext_delete_chunks_removes_single_entries_of_one_dataset(engine):
    index, (mine, theirs) = PgFullTextIndex(engine), _ids()
    index.upsert(_texts(mine, TEXTS) + _texts(theirs, TEXTS, prefix="t"))

    index.delete_chunks(mine, [f"{mine}-0", f"t{theirs}-4", "unknown"])

    assert [h.segment_id for h in index.search(mine, "Paris", top_k=5)] == ["seg-4"]
    assert {h.segment_id for h in index.search(theirs, "Paris", top_k=5)} == {"tseg-0", "tseg-4"}


def test_fulltext_queries_with_syntax_characters_never_raise(engine):
    index, (dataset, _) = PgFullTextIndex(engine), _ids()
    index.upsert(_texts(dataset, TEXTS))

    for query in ["", "   ", "'", '"', "&|!():*<->", "fox & !dog", "fox:*", "'fox' <-> 'dog'", "\\", "NULL", "--"]:
        assert isinstance(index.search(dataset, query, top_k=3), list)
    assert index.search(dataset, "'fox' <-> (dog", top_k=3)[0].segment_id == "seg-1"


def test_fulltext_drops_terms_most_rows_contain(engine):
    index, (dataset, _) = PgFullTextIndex(engine, stats_ttl=0), _ids()
    index.upsert(_texts(dataset, [f"common filler {i}" for i in range(60)] + ["a zebra here"]))
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE knowledge_fulltext"))

    hits = index.search(dataset, "common zebra", top_k=3)

    assert [h.segment_id for h in hits] == ["seg-60"]  # 'common' adds no signal; ranking only 'zebra' rows
    assert len(index.search(dataset, "common", top_k=3)) == 3  # a query of common terms only still answers
