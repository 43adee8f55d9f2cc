"""Retrieval (`POST /v1/datasets/{id}/retrieve`, alias hit-testing) with every search method, and RAG in chat apps.

Embeddings and rerank scores come from the fake model server over real HTTP: its vectors are a hash of the text
(so only an identical text is similar) and its rerank score is the share of the query's words in a document.
The app here uses the embedded vector store on PostgreSQL (CI's PostgreSQL has no pgvector).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from api.app import create_app
from api.extensions.runtime import get_runtime
from api.models.conversation import Message
from api.models.dataset import DocumentSegment
from api.services import run_execution_service, run_service, service_auth_service
from tests.conftest import distributed_settings
from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import Console, bearer, body
from tests.integration.knowledge_support import dataset_key, index_now
from tests.integration.seed import store_provider_credentials

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FOX = "The quick brown fox jumps over the lazy dog."
TEXT = f"Openify indexes knowledge.\n\n{FOX}\n\nRetrieval augmented generation answers with context."
RULE = {"mode": "custom", "rules": {"pre_processing_rules": [],
                                    "segmentation": {"separator": "\\n\\n", "max_tokens": 100}}}
EMBEDDING = {"embedding_model": "text-embedding-3-small", "embedding_model_provider": "openai"}


@pytest.fixture(scope="module")
def rag_app(scratch_database: str, pg_services: tuple[str, str], tmp_path_factory) -> Flask:
    tmp = Path(tmp_path_factory.mktemp("rag"))
    return create_app(distributed_settings(tmp, scratch_database, pg_services[1], VECTOR_STORE="embedded"))


class Rag:
    def __init__(self, app: Flask, db_session, llm: FakeLLMServer) -> None:
        self.app, self.session, self.llm = app, db_session, llm
        self.client = app.test_client()
        self.console = Console(self.client)
        self.owner = self.console.setup_owner()
        store_provider_credentials(db_session, app, self.owner.tenant_id, "openai",
                                   {"openai_api_key": "sk-test", "openai_api_base": llm.url})
        self.key = bearer(dataset_key(self.console, self.owner.token))

    def dataset(self, technique: str = "high_quality", text: str = TEXT, rule: dict | None = None,
                **fields) -> tuple[str, str]:
        """A dataset with one indexed document; returns (dataset id, document id)."""
        extra = EMBEDDING if technique == "high_quality" else {}
        created = self.client.post("/v1/datasets", headers=self.key, json={
            "name": f"kb-{uuid.uuid4().hex[:8]}", "indexing_technique": technique,
            **extra, **fields})
        dataset_id = body(created)["id"]
        response = self.client.post(f"/v1/datasets/{dataset_id}/document/create-by-text", headers=self.key,
                                    json={"name": "notes", "text": text, "process_rule": rule or RULE})
        document_id = body(response)["document"]["id"]
        assert index_now(self.app, self.session, document_id) == "completed"
        return dataset_id, document_id

    def retrieve(self, dataset_id: str, query: str, model: dict | None = None, path: str = "retrieve"):
        return self.client.post(f"/v1/datasets/{dataset_id}/{path}", headers=self.key,
                                json={"query": query, **({"retrieval_model": model} if model else {})})

    def contents(self, dataset_id: str, query: str, model: dict | None = None) -> list[str]:
        response = self.retrieve(dataset_id, query, model)
        assert response.status_code == 200, body(response)
        return [r["segment"]["content"] for r in body(response)["records"]]


@pytest.fixture
def rag(rag_app, db_session, llm) -> Rag:
    return Rag(rag_app, db_session, llm)


def _model(method: str, **fields) -> dict:
    return {"search_method": method, "reranking_enable": False, "top_k": 4, "score_threshold_enabled": False,
            **fields}


# ---- search methods ----------------------------------------------------------------------------------------

def test_semantic_search_finds_the_segment_with_the_same_embedding(rag):
    dataset_id, _ = rag.dataset()

    response = rag.retrieve(dataset_id, FOX, _model("semantic_search"))

    records = body(response)["records"]
    assert body(response)["query"] == {"content": FOX}
    assert records[0]["segment"]["content"] == FOX
    assert records[0]["score"] == pytest.approx(1.0)
    assert records[0]["segment"]["document"]["name"] == "notes"


def test_full_text_search_finds_the_matching_segment(rag):
    dataset_id, _ = rag.dataset()

    assert rag.contents(dataset_id, "brown fox", _model("full_text_search")) == [FOX]


def test_hybrid_search_with_weights_ranks_the_matching_segment_first(rag):
    dataset_id, _ = rag.dataset()
    weights = {"weight_type": "customized", "vector_setting": {"vector_weight": 0.3},
               "keyword_setting": {"keyword_weight": 0.7}}

    contents = rag.contents(dataset_id, "lazy dog", _model("hybrid_search", weights=weights))

    assert contents[0] == FOX


def test_hybrid_search_with_a_rerank_model_orders_by_rerank_score(rag):
    rag.console.call("post", "/workspaces/current/model-providers/openai_api_compatible/models",
                     token=rag.owner.token, expect=200, json={
                         "model": "rerank-1", "model_type": "rerank",
                         "credentials": {"endpoint_url": rag.llm.url + "/v1", "mode": "chat"}})
    dataset_id, _ = rag.dataset()
    model = _model("hybrid_search", reranking_enable=True, reranking_mode="reranking_model", reranking_model={
        "reranking_provider_name": "openai_api_compatible", "reranking_model_name": "rerank-1"})

    response = rag.retrieve(dataset_id, "quick brown fox", model)

    records = body(response)["records"]
    assert records[0]["segment"]["content"] == FOX
    assert records[0]["score"] == pytest.approx(1.0)
    assert rag.llm.count("/v1/rerank") >= 2  # validation + this search


def test_keyword_search_serves_economy_datasets(rag):
    dataset_id, _ = rag.dataset(technique="economy")

    assert rag.contents(dataset_id, "fox jumps", _model("semantic_search")) == [FOX]  # economy: keywords


def test_top_k_and_score_threshold_limit_the_records(rag):
    dataset_id, _ = rag.dataset()

    top1 = rag.contents(dataset_id, "knowledge context fox", _model("full_text_search", top_k=1))
    strict = rag.contents(dataset_id, "something unrelated", _model("semantic_search", score_threshold_enabled=True,
                                                                     score_threshold=0.99))

    assert len(top1) == 1
    assert strict == []


def test_retrieve_uses_the_dataset_retrieval_model_by_default(rag):
    dataset_id, _ = rag.dataset(retrieval_model=_model("full_text_search", top_k=1))

    assert rag.contents(dataset_id, "fox") == [FOX]


def test_hit_testing_alias_and_console_answer_the_same(rag):
    dataset_id, _ = rag.dataset()
    service = body(rag.retrieve(dataset_id, "fox", _model("full_text_search"), path="hit-testing"))
    console = body(rag.console.call("post", f"/datasets/{dataset_id}/hit-testing", token=rag.owner.token,
                                    json={"query": "fox", "retrieval_model": _model("full_text_search")}))

    assert [r["segment"]["id"] for r in service["records"]] == [r["segment"]["id"] for r in console["records"]]


def test_retrieval_skips_disabled_documents_and_segments(rag):
    dataset_id, document_id = rag.dataset()
    segments = body(rag.client.get(f"/v1/datasets/{dataset_id}/documents/{document_id}/segments",
                                   headers=rag.key))["data"]
    fox = next(s for s in segments if s["content"] == FOX)
    rag.client.post(f"/v1/datasets/{dataset_id}/documents/{document_id}/segments/{fox['id']}", headers=rag.key,
                    json={"segment": {"enabled": False}})
    without_segment = rag.contents(dataset_id, "fox", _model("full_text_search"))
    rag.client.patch(f"/v1/datasets/{dataset_id}/documents/status/disable", headers=rag.key,
                     json={"document_ids": [document_id]})

    assert without_segment == []
    assert rag.contents(dataset_id, "knowledge", _model("full_text_search")) == []


def test_retrieval_counts_hits(rag):
    dataset_id, _ = rag.dataset()

    rag.contents(dataset_id, "fox", _model("full_text_search"))
    rag.contents(dataset_id, "fox", _model("full_text_search"))

    hits = rag.session.scalar(sa.select(DocumentSegment.hit_count).where(DocumentSegment.content == FOX,
                                                                         DocumentSegment.dataset_id == dataset_id))
    assert hits == 2


def test_retrieve_answers_400_when_the_dataset_was_never_indexed(rag):
    created = body(rag.client.post("/v1/datasets", headers=rag.key, json={"name": "empty"}))

    response = rag.retrieve(created["id"], "anything")

    assert (response.status_code, body(response)["code"]) == (400, "dataset_not_initialized")


def test_retrieve_rejects_an_empty_or_too_long_query(rag):
    dataset_id, _ = rag.dataset(technique="economy")

    empty, long = rag.retrieve(dataset_id, " "), rag.retrieve(dataset_id, "x" * 251)

    assert (empty.status_code, body(empty)["params"]) == (400, "query")
    assert (long.status_code, body(long)["params"]) == (400, "query")


def test_hierarchical_documents_return_the_parent_with_matching_children(rag):
    rule = {"mode": "hierarchical", "rules": {"parent_mode": "paragraph",
                                              "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
                                              "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}}
    dataset_id, _ = rag.dataset(technique="economy", rule=rule,
                                text="Cats purr softly. Foxes hunt at night.\n\nBirds sing.")

    records = body(rag.retrieve(dataset_id, "foxes", _model("keyword_search")))["records"]

    assert records[0]["segment"]["content"].startswith("Cats purr softly.")
    assert [c["content"] for c in records[0]["child_chunks"]] == ["Foxes hunt at night."]


# ---- RAG in chat apps --------------------------------------------------------------------------------------

@pytest.fixture
def chat_app(rag) -> tuple[str, str]:
    dataset_id, _ = rag.dataset(technique="economy")
    app = rag.console.create_app(rag.owner, mode="chat", name="RAG app")
    rag.console.call("post", f"/apps/{app['id']}/model-config", token=rag.owner.token, expect=200, json={
        "model": {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}},
        "pre_prompt": "Answer kindly.",
        "dataset_configs": {"retrieval_model": "multiple", "top_k": 2, "datasets": {"datasets": [
            {"dataset": {"enabled": True, "id": dataset_id}}]}}})
    return app["id"], dataset_id


def _run_turn(rag: Rag, app_id: str, query: str) -> Message:
    """Persist a service-API chat turn and run the worker side in-process (as the Celery task does)."""
    snapshot = service_auth_service.load_snapshot(rag.session, app_id)
    end_user = service_auth_service.get_or_create_end_user(rag.session, snapshot=snapshot, user="u1", required=True)
    with rag.app.app_context():
        runtime = get_runtime()
        handle = run_service.start_chat_run(rag.session, runtime=runtime, snapshot=snapshot,
                                            caller=run_service.Caller(end_user_id=end_user.id), route="chat",
                                            query=query, inputs={}, conversation_id=None, files=None,
                                            invoke_from="service-api")
        assert run_execution_service.execute_chat_run(rag.session, runtime=runtime, message_id=handle.message_id,
                                                      task_id=handle.task_id) == "normal"
    return rag.session.get(Message, handle.message_id, populate_existing=True)


def test_chat_turn_puts_retrieved_context_in_the_prompt_and_returns_retriever_resources(rag, chat_app):
    app_id, dataset_id = chat_app

    message = _run_turn(rag, app_id, "What does the fox do?")

    resources = message.message_metadata["retriever_resources"]
    assert [r["content"] for r in resources] == [FOX]
    assert resources[0]["position"] == 1
    assert resources[0]["dataset_id"] == dataset_id
    assert resources[0]["retriever_from"] == "api"
    assert {"document_name", "segment_id", "score", "hit_count", "word_count", "segment_position",
            "index_node_hash", "data_source_type"} <= resources[0].keys()
    system = rag.llm.bodies("/v1/chat/completions")[-1]["messages"][0]
    assert system["role"] == "system"
    assert FOX in system["content"]


def test_chat_turn_hides_retriever_resources_when_the_feature_is_off(rag, chat_app):
    app_id, dataset_id = chat_app
    rag.console.call("post", f"/apps/{app_id}/model-config", token=rag.owner.token, expect=200, json={
        "model": {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}},
        "retriever_resource": {"enabled": False},
        "dataset_configs": {"retrieval_model": "single", "datasets": {"datasets": [
            {"dataset": {"enabled": True, "id": dataset_id}}]}}})

    message = _run_turn(rag, app_id, "fox")

    assert message.message_metadata["retriever_resources"] == []
    assert FOX in rag.llm.bodies("/v1/chat/completions")[-1]["messages"][0]["content"]
