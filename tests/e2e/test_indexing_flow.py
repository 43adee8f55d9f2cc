"""Knowledge indexing end to end, in both modes: upload a file of every supported type through the service API,
poll indexing-status to `completed`, and find the right segment with every search method.

Distributed: two gunicorn workers, PostgreSQL with pgvector (vectors) and its full-text search, Redis and a real
Celery worker process doing the indexing. Embedded: one gunicorn process, SQLite (FTS5, exact in-process vector
index) and in-process task threads. Embeddings and rerank scores come from the fake model server over real HTTP:
its vectors are a hash of the text (only an identical text is similar, with score 1) and its rerank score is the
share of the query's words found in a document.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.e2e.chat_support import Stack
from tests.e2e.knowledge_support import PROVIDER, Knowledge, Knowledges, SampleFile, sample_files, search
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e

FILES = sample_files()
METHODS = ("semantic_search", "full_text_search", "hybrid_search-weighted", "hybrid_search-rerank",
           "keyword_search")


@dataclass(frozen=True)
class Indexed:
    """A sample file uploaded into a high-quality and an economy dataset of one server."""

    file: SampleFile
    datasets: dict[str, str]  # indexing technique → dataset id
    documents: dict[str, str]  # indexing technique → document id
    statuses: dict[str, dict]  # indexing technique → final indexing-status row


@pytest.fixture(scope="module")
def indexed_files() -> dict[tuple[str, str], Indexed]:
    """(server mode, extension) → the file indexed on that server (filled on first use, shared by the tests)."""
    return {}


@pytest.fixture
def kb(stack: Stack, knowledges: Knowledges, llm: FakeLLMServer) -> Knowledge:
    kb = knowledges.get(stack)
    kb.register(llm, f"emb-{kb.mode}")
    kb.register(llm, f"rerank-{kb.mode}", "rerank")
    return kb


def _indexed(kb: Knowledge, cache: dict[tuple[str, str], Indexed], ext: str) -> Indexed:
    if (kb.mode, ext) not in cache:
        file = FILES[ext]
        datasets = {"high_quality": kb.dataset("high_quality", f"emb-{kb.mode}"), "economy": kb.dataset("economy")}
        uploads = {technique: kb.upload(dataset_id, file.name, file.data) for technique, dataset_id in datasets.items()}
        statuses = {technique: kb.wait_until(datasets[technique], batch)
                    for technique, (_, batch) in uploads.items()}
        cache[kb.mode, ext] = Indexed(file, datasets, {t: doc for t, (doc, _) in uploads.items()}, statuses)
    return cache[kb.mode, ext]


@pytest.mark.parametrize("ext", list(FILES))
def test_uploaded_file_is_indexed_into_exactly_its_segments(kb: Knowledge, indexed_files: dict, ext: str) -> None:
    indexed = _indexed(kb, indexed_files, ext)
    expected = indexed.file.segments

    for technique in ("high_quality", "economy"):
        status = indexed.statuses[technique]
        segments = kb.segments(indexed.datasets[technique], indexed.documents[technique])

        assert status["indexing_status"] == "completed", status
        assert status["error"] is None
        assert (status["completed_segments"], status["total_segments"]) == (len(expected), len(expected))
        assert status["completed_at"] is not None
        assert [s["content"] for s in segments] == expected
        assert [s["position"] for s in segments] == list(range(1, len(expected) + 1))
        assert len({s["id"] for s in segments}) == len(expected)
        assert {s["status"] for s in segments} == {"completed"}
        if technique == "economy":
            marker = next(s for s in segments if s["content"] == indexed.file.marker_segment)
            assert indexed.file.marker in marker["keywords"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ext", list(FILES))
def test_search_finds_the_segment(kb: Knowledge, indexed_files: dict, ext: str, method: str) -> None:
    indexed = _indexed(kb, indexed_files, ext)
    file, dataset_id = indexed.file, indexed.datasets["high_quality"]
    document_id = indexed.documents["high_quality"]
    rerank = {"reranking_enable": True, "reranking_mode": "reranking_model", "reranking_model": {
        "reranking_provider_name": PROVIDER, "reranking_model_name": f"rerank-{kb.mode}"}}
    weights = {"weight_type": "customized", "vector_setting": {"vector_weight": 0.5},
               "keyword_setting": {"keyword_weight": 0.5}}

    if method == "semantic_search":  # only the identical text has the same (fake) embedding
        records = kb.retrieve(dataset_id, file.marker_segment, search(method))
        assert records[0]["score"] == pytest.approx(1.0)
    elif method == "full_text_search":
        records = kb.retrieve(dataset_id, file.marker, search(method))
        assert len(records) == 1
    elif method == "hybrid_search-weighted":
        records = kb.retrieve(dataset_id, file.marker_segment, search("hybrid_search", weights=weights))
    elif method == "hybrid_search-rerank":
        records = kb.retrieve(dataset_id, file.marker_segment, search("hybrid_search", **rerank))
        assert records[0]["score"] == pytest.approx(1.0)  # every word of the query is in it
    else:  # economy datasets are searched by their keyword table
        dataset_id, document_id = indexed.datasets["economy"], indexed.documents["economy"]
        records = kb.retrieve(dataset_id, file.marker, search(method))
        assert len(records) == 1

    assert records, f"{method} found nothing for {file.name}"
    assert records[0]["segment"]["content"] == file.marker_segment
    assert records[0]["segment"]["document_id"] == document_id
    assert records[0]["segment"]["document"]["name"] == file.name
