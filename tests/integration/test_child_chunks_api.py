"""Child chunks of parent-child documents over the console and the Service API: add, edit one, edit a segment's set
(console batch), delete; each change reaches the vector store and the full-text index (retrieval finds new text,
deleted text is gone), and other documents, roles and workspaces are refused.

Embeddings come from the fake model server over real HTTP (its vectors are a hash of the text, so only an
identical text is similar). The app uses the embedded vector store on PostgreSQL (CI's PostgreSQL has no pgvector).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from api.app import create_app
from api.extensions.database import db
from api.extensions.embedded_vector_store import EMBEDDED_VECTORS
from api.extensions.fulltext import TABLE as FULLTEXT_TABLE
from api.models.dataset import ChildChunk
from tests.conftest import distributed_settings
from tests.helpers import Console, bearer, body
from tests.integration.knowledge_support import TEXT, dataset_key, index_now
from tests.integration.seed import PARENT_CHILD_RULE, store_provider_credentials

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PARENTS = "Foxes are quick. Dogs are lazy.\n\nOwls fly at night. Bats too."
EMBEDDING = {"embedding_model": "text-embedding-3-small", "embedding_model_provider": "openai"}


@pytest.fixture(scope="module")
def vector_app(scratch_database: str, pg_services: tuple[str, str], tmp_path_factory) -> Flask:
    tmp = Path(tmp_path_factory.mktemp("children"))
    return create_app(distributed_settings(tmp, scratch_database, pg_services[1], VECTOR_STORE="embedded"))


class Kb:
    """A workspace with OpenAI credentials on the fake model server and a parent-child document."""

    def __init__(self, app: Flask, db_session, llm, technique: str = "high_quality") -> None:
        self.app, self.session = app, db_session
        self.client = app.test_client()
        self.console = Console(self.client)
        self.owner = self.console.setup_owner()
        store_provider_credentials(db_session, app, self.owner.tenant_id, "openai",
                                   {"openai_api_key": "sk-test", "openai_api_base": llm.url})
        self.key = bearer(dataset_key(self.console, self.owner.token))
        self.dataset_id, self.document_id = self.document(technique)
        self.segment_id = self.segments()[0]["id"]

    def document(self, technique: str, rule: dict | None = PARENT_CHILD_RULE, text: str = PARENTS) -> tuple[str, str]:
        extra = EMBEDDING if technique == "high_quality" else {}
        dataset = body(self.client.post("/v1/datasets", headers=self.key, json={
            "name": f"kb-{uuid.uuid4().hex[:8]}", "indexing_technique": technique, **extra}))
        created = self.client.post(f"/v1/datasets/{dataset['id']}/document/create-by-text", headers=self.key,
                                   json={"name": "tree", "text": text, "process_rule": rule})
        assert created.status_code == 200, body(created)
        document_id = body(created)["document"]["id"]
        assert index_now(self.app, self.session, document_id) == "completed"
        return dataset["id"], document_id

    @property
    def segment_path(self) -> str:
        return f"/datasets/{self.dataset_id}/documents/{self.document_id}/segments/{self.segment_id}"

    def segments(self) -> list[dict]:
        return body(self.client.get(f"/v1/datasets/{self.dataset_id}/documents/{self.document_id}/segments",
                                    headers=self.key))["data"]

    def children(self) -> list[dict]:
        return body(self.client.get(f"/v1{self.segment_path}/child_chunks", headers=self.key))["data"]

    def console_call(self, method: str, suffix: str = "", **kwargs):
        return self.console.call(method, f"{self.segment_path}/child_chunks{suffix}", token=self.owner.token,
                                 **kwargs)

    def service_call(self, method: str, suffix: str = "", **kwargs):
        return getattr(self.client, method)(f"/v1{self.segment_path}/child_chunks{suffix}", headers=self.key,
                                            **kwargs)

    def retrieve(self, query: str, method: str = "full_text_search") -> list[dict]:
        response = self.client.post(f"/v1/datasets/{self.dataset_id}/retrieve", headers=self.key, json={
            "query": query, "retrieval_model": {"search_method": method, "reranking_enable": False, "top_k": 4,
                                                "score_threshold_enabled": False}})
        assert response.status_code == 200, body(response)
        return body(response)["records"]

    def indexed_ids(self) -> tuple[set[str], set[str]]:
        """Ids of this document's entries in the vector store and the full-text index."""
        with self.app.app_context(), db.engine.connect() as conn:  # the stores commit on their own connections
            vectors = set(conn.execute(sa.select(EMBEDDED_VECTORS.c.id)
                                       .where(EMBEDDED_VECTORS.c.document_id == self.document_id)).scalars())
            texts = set(conn.execute(sa.text(f"SELECT id FROM {FULLTEXT_TABLE} WHERE document_id = :d"),
                                     {"d": self.document_id}).scalars())
        return vectors, texts


@pytest.fixture
def kb(vector_app, db_session, llm) -> Kb:
    return Kb(vector_app, db_session, llm)


def _child_ids(kb: Kb) -> set[str]:
    return set(kb.session.scalars(sa.select(ChildChunk.id).where(ChildChunk.document_id == kb.document_id)
                                  .execution_options(populate_existing=True)))


# ---- add -------------------------------------------------------------------------------------------------------

def test_console_adds_a_customized_child_chunk_that_retrieval_finds(kb):
    before = kb.children()

    response = kb.console_call("post", json={"content": "Zebras have stripes."})

    assert response.status_code == 200, body(response)
    child = body(response)["data"]
    assert (child["content"], child["type"], child["position"]) == ("Zebras have stripes.", "customized",
                                                                    len(before) + 1)
    assert (child["segment_id"], child["word_count"]) == (kb.segment_id, len("Zebras have stripes."))
    assert [c["id"] for c in kb.children()] == [c["id"] for c in before] + [child["id"]]
    for method in ("full_text_search", "semantic_search", "hybrid_search"):
        records = kb.retrieve("Zebras have stripes.", method)
        assert records[0]["segment"]["id"] == kb.segment_id, method
        assert "Zebras have stripes." in [c["content"] for c in records[0]["child_chunks"] or []], method


def test_service_api_adds_a_child_chunk(kb):
    response = kb.service_call("post", json={"content": "Otters hold hands."})

    assert response.status_code == 200, body(response)
    assert body(response)["data"]["type"] == "customized"
    assert kb.retrieve("otters")[0]["segment"]["id"] == kb.segment_id


def test_added_child_chunk_is_in_both_indexes(kb):
    child = body(kb.service_call("post", json={"content": "Lynx eyes glow."}))["data"]

    vectors, texts = kb.indexed_ids()

    assert child["id"] in vectors
    assert child["id"] in texts
    assert vectors == texts == _child_ids(kb)


# ---- edit ------------------------------------------------------------------------------------------------------

def test_editing_a_child_chunk_replaces_its_index_entry(kb):
    child = kb.children()[0]
    assert child["content"] == "Foxes are quick"
    assert kb.retrieve("foxes")[0]["segment"]["id"] == kb.segment_id

    response = kb.service_call("patch", f"/{child['id']}", json={"content": "Narwhals have tusks."})

    assert response.status_code == 200, body(response)
    edited = body(response)["data"]
    assert (edited["id"], edited["content"], edited["type"]) == (child["id"], "Narwhals have tusks.", "customized")
    assert kb.retrieve("narwhals")[0]["segment"]["id"] == kb.segment_id
    assert kb.retrieve("foxes") == []  # the parent still says "Foxes", but only child chunks are searched
    vectors, texts = kb.indexed_ids()
    assert vectors == texts == _child_ids(kb)


def test_console_edits_a_child_chunk(kb):
    child = kb.children()[1]

    response = kb.console_call("patch", f"/{child['id']}", json={"content": "Ibises wade."})

    assert response.status_code == 200, body(response)
    assert [c["content"] for c in kb.children()][1] == "Ibises wade."


def test_batch_edit_adds_edits_and_deletes_to_match_the_list(kb):
    first, second = kb.children()[:2]

    response = kb.console_call("patch", json={"chunks": [
        {"id": first["id"], "content": "Kiwis cannot fly."}, {"content": "Emus run fast."},
        {"id": str(uuid.uuid4()), "content": "ignored: not a child of this segment"}]})

    assert response.status_code == 200, body(response)
    returned = body(response)["data"]
    assert [(c["content"], c["type"]) for c in returned] == [("Kiwis cannot fly.", "customized"),
                                                            ("Emus run fast.", "customized")]
    assert [c["content"] for c in kb.children()] == ["Kiwis cannot fly.", "Emus run fast."]
    assert second["id"] not in _child_ids(kb)
    vectors, texts = kb.indexed_ids()
    assert vectors == texts == _child_ids(kb)
    assert kb.retrieve("emus")[0]["segment"]["id"] == kb.segment_id


# ---- delete ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("api", ["console", "service"])
def test_deleting_a_child_chunk_removes_it_from_both_indexes(kb, api):
    child = body(kb.service_call("post", json={"content": "Quokkas smile."}))["data"]
    assert kb.retrieve("quokkas")

    call = kb.console_call if api == "console" else kb.service_call
    response = call("delete", f"/{child['id']}")

    assert response.status_code == 204
    assert child["id"] not in [c["id"] for c in kb.children()]
    assert kb.retrieve("quokkas") == []
    vectors, texts = kb.indexed_ids()
    assert child["id"] not in vectors | texts
    assert vectors == texts == _child_ids(kb)


# ---- refusals --------------------------------------------------------------------------------------------------

def test_child_chunks_are_refused_for_a_document_that_is_not_parent_child(kb):
    dataset_id, document_id = kb.document("economy", rule={"mode": "automatic"}, text=TEXT)
    segment_id = body(kb.client.get(f"/v1/datasets/{dataset_id}/documents/{document_id}/segments",
                                    headers=kb.key))["data"][0]["id"]

    response = kb.client.post(f"/v1/datasets/{dataset_id}/documents/{document_id}/segments/{segment_id}/child_chunks",
                              headers=kb.key, json={"content": "x"})

    assert (response.status_code, body(response)["code"], body(response)["params"]) == (400, "invalid_param",
                                                                                       "doc_form")
    assert kb.session.scalar(sa.select(sa.func.count()).select_from(ChildChunk)
                             .where(ChildChunk.document_id == document_id)) == 0


@pytest.mark.parametrize("content", ["", "   "])
def test_empty_content_is_refused_and_changes_nothing(kb, content):
    before = kb.children()

    response = kb.service_call("post", json={"content": content})

    assert response.status_code == 400
    assert kb.children() == before


def test_unknown_child_chunk_answers_404(kb):
    for method, payload in (("patch", {"content": "x"}), ("delete", None)):
        response = kb.service_call(method, f"/{uuid.uuid4()}", json=payload)
        assert (response.status_code, body(response)["message"]) == (404, "Child chunk not found.")


def test_child_chunk_of_another_segment_answers_404(kb):
    other_segment = kb.segments()[1]["id"]
    child = kb.children()[0]
    path = (f"/datasets/{kb.dataset_id}/documents/{kb.document_id}/segments/{other_segment}/child_chunks/"
            f"{child['id']}")

    response = kb.console.call("patch", path, token=kb.owner.token, json={"content": "hijack"})

    assert response.status_code == 404
    assert kb.children()[0]["content"] == child["content"]


def test_child_chunks_are_refused_while_the_document_is_being_indexed(kb):
    reindex = kb.client.post(f"/v1/datasets/{kb.dataset_id}/documents/{kb.document_id}/update-by-text",
                             headers=kb.key, json={"name": "renamed"})  # queued again, segments kept
    assert reindex.status_code == 200

    response = kb.service_call("post", json={"content": "Too early."})

    assert (response.status_code, body(response)["code"]) == (400, "invalid_action")


def test_normal_member_cannot_change_child_chunks(kb):
    member = kb.console.invite(kb.owner, "normal@example.com", "normal")
    child = kb.children()[0]

    responses = [kb.console.call("post", f"{kb.segment_path}/child_chunks", token=member.token,
                                 json={"content": "x"}),
                 kb.console.call("delete", f"{kb.segment_path}/child_chunks/{child['id']}", token=member.token)]

    assert [r.status_code for r in responses] == [403, 403]
    assert kb.children()[0] == child


def test_another_workspace_gets_404(kb):
    stranger = kb.console.new_workspace_owner(kb.owner, "b@example.com", "B")
    child = kb.children()[0]

    response = kb.console.call("patch", f"{kb.segment_path}/child_chunks/{child['id']}", token=stranger.token,
                               json={"content": "intruder"})

    assert response.status_code == 404
    assert kb.children()[0]["content"] == child["content"]


def test_economy_keyword_search_follows_child_chunk_changes(kb):
    kb.dataset_id, kb.document_id = kb.document("economy")
    kb.segment_id = kb.segments()[0]["id"]

    child = body(kb.service_call("post", json={"content": "Wombats dig burrows."}))["data"]
    found = kb.retrieve("wombats", "keyword_search")
    kb.service_call("delete", f"/{child['id']}")

    assert [r["segment"]["id"] for r in found] == [kb.segment_id]
    assert kb.retrieve("wombats", "keyword_search") == []
    assert "wombats" not in kb.segments()[0]["keywords"]
