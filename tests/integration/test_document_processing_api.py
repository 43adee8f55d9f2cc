"""Pause and resume of a document's indexing, rename, and the documents zip download (console and Service API).

Pausing stops the worker at its next checkpoint without an error and drops its lease; the reaper leaves a paused
document alone; resuming queues it again and the re-run ends with exactly its segments (deterministic ids). The
integration Celery has no worker: each test runs the indexing task body itself and reads the queued messages back
from Redis.
"""

from __future__ import annotations

import dataclasses
import io
import uuid
import zipfile

import pytest
import sqlalchemy as sa

from api.extensions.runtime import get_runtime
from api.models.dataset import Document, DocumentSegment
from api.services import dataset_service, document_service, indexing_service
from api.services.dispatch import TaskName
from tests.fakes.rag_stores import InMemoryFullText, InMemoryVectorStore
from tests.helpers import Console, bearer, body
from tests.integration.indexing_support import SIX_PARAGRAPHS, queued_documents
from tests.integration.knowledge_support import PARAGRAPH_RULE, TEXT, dataset_key, index_now
from tests.integration.seed import store_provider_credentials

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Kb:
    """An economy dataset of a fresh workspace; documents are added over the Service API."""

    def __init__(self, client, db_session, app) -> None:
        self.client, self.session, self.app = client, db_session, app
        self.console = Console(client)
        self.owner = self.console.setup_owner()
        self.key = bearer(dataset_key(self.console, self.owner.token))
        self.dataset_id = self.dataset()

    def dataset(self, **fields) -> str:
        response = self.client.post("/v1/datasets", headers=self.key, json={
            "name": f"kb-{uuid.uuid4().hex[:8]}", "indexing_technique": "economy", **fields})
        assert response.status_code == 200, body(response)
        return body(response)["id"]

    def create_text(self, name: str = "notes", text: str = TEXT, index: bool = True, dataset_id: str | None = None
                    ) -> dict:
        response = self.client.post(f"/v1/datasets/{dataset_id or self.dataset_id}/document/create-by-text",
                                    headers=self.key, json={"name": name, "text": text, "process_rule": PARAGRAPH_RULE})
        assert response.status_code == 200, body(response)
        document = body(response)["document"]
        if index:
            assert index_now(self.app, self.session, document["id"]) == "completed"
        return document

    def path(self, document_id: str, suffix: str = "") -> str:
        return f"/datasets/{self.dataset_id}/documents/{document_id}{suffix}"

    def call(self, method: str, path: str, **kwargs):
        return self.console.call(method, path, token=self.owner.token, **kwargs)

    def status(self, document_id: str) -> dict:
        return body(self.call("get", self.path(document_id, "/indexing-status"), expect=200))

    def segment_ids(self, document_id: str) -> list[str]:
        return list(self.session.scalars(sa.select(DocumentSegment.id).where(DocumentSegment.document_id == document_id)
                                         .order_by(DocumentSegment.position)
                                         .execution_options(populate_existing=True)))


@pytest.fixture
def kb(client, db_session, pg_app) -> Kb:
    return Kb(client, db_session, pg_app)


# ---- pause and resume ------------------------------------------------------------------------------------------

def test_pausing_a_queued_document_keeps_workers_and_the_reaper_away(kb, redis_client):
    document = kb.create_text(index=False)

    response = kb.call("patch", kb.path(document["id"], "/processing/pause"))

    assert (response.status_code, body(response)) == (200, {"result": "success"})
    status = kb.status(document["id"])
    assert status["indexing_status"] == "paused"
    assert isinstance(status["paused_at"], int)
    assert index_now(kb.app, kb.session, document["id"]) == "skipped"
    with kb.app.app_context():
        counts = indexing_service.reap_expired_leases(kb.session, runtime=get_runtime())
    assert counts == {"requeued": 0, "failed": 0, "paused": 0, "redispatched": 0}
    assert kb.status(document["id"])["indexing_status"] == "paused"


def test_resuming_queues_the_document_and_it_completes(kb, redis_client):
    document = kb.create_text(index=False)
    kb.call("patch", kb.path(document["id"], "/processing/pause"), expect=200)
    redis_client.delete("dataset")

    response = kb.call("patch", kb.path(document["id"], "/processing/resume"))

    assert (response.status_code, body(response)) == (200, {"result": "success"})
    assert (kb.status(document["id"])["indexing_status"], kb.status(document["id"])["paused_at"]) == ("waiting", None)
    assert queued_documents(redis_client, [document["id"]]) == [(TaskName.INDEX_DOCUMENT, [document["id"]])]
    assert index_now(kb.app, kb.session, document["id"]) == "completed"
    assert len(kb.segment_ids(document["id"])) == 3


def test_pause_mid_run_stops_at_the_next_batch_and_resume_completes_with_exactly_its_segments(kb, llm,
                                                                                             redis_client):
    store_provider_credentials(kb.session, kb.app, kb.owner.tenant_id, "openai",
                               {"openai_api_key": "sk-test", "openai_api_base": llm.url})
    dataset_id = kb.dataset(indexing_technique="high_quality", embedding_model="text-embedding-3-small",
                            embedding_model_provider="openai")
    document = kb.create_text(text=SIX_PARAGRAPHS, index=False, dataset_id=dataset_id)
    principal = dataset_service.owner_principal(kb.session, tenant_id=kb.owner.tenant_id)

    class PausingVectors(InMemoryVectorStore):
        def upsert(self, chunks):  # the user pauses while the first batch (2 of 6 segments) is being stored
            super().upsert(chunks)
            if self.upserts == 1:
                document_service.pause_document(kb.session, principal=principal, dataset_id=dataset_id,
                                                document_id=document["id"])

    vectors, fulltext = PausingVectors(), InMemoryFullText()
    with kb.app.app_context():
        runtime = get_runtime()
        small_batches = dataclasses.replace(runtime, settings=runtime.settings.with_overrides(embedding_batch_size=2))
        outcome = indexing_service.index_document(kb.session, runtime=small_batches, document_id=document["id"],
                                                  worker_id="worker-1", vector_store=vectors, fulltext=fulltext)
    status_path = f"/datasets/{dataset_id}/documents/{document['id']}/indexing-status"
    paused = body(kb.call("get", status_path, expect=200))
    row = kb.session.get(Document, document["id"], populate_existing=True)
    written = kb.segment_ids(document["id"])

    assert outcome == "paused"
    assert (paused["indexing_status"], paused["error"]) == ("paused", None)
    assert (paused["completed_segments"], paused["total_segments"]) == (2, 6)
    assert (row.indexing_status, row.lease_owner, row.lease_expires_at) == ("indexing", None, None)
    assert vectors.upserts == 1  # stopped before the second batch
    with kb.app.app_context():
        assert indexing_service.reap_expired_leases(kb.session, runtime=runtime) == {
            "requeued": 0, "failed": 0, "paused": 0, "redispatched": 0}

    kb.call("patch", f"/datasets/{dataset_id}/documents/{document['id']}/processing/resume", expect=200)
    with kb.app.app_context():
        again = indexing_service.index_document(kb.session, runtime=small_batches, document_id=document["id"],
                                                worker_id="worker-2", vector_store=vectors, fulltext=fulltext)

    done = body(kb.call("get", status_path, expect=200))
    assert again == "completed"
    assert (done["indexing_status"], done["completed_segments"], done["total_segments"]) == ("completed", 6, 6)
    assert kb.segment_ids(document["id"]) == written  # the same six rows, none duplicated
    assert vectors.ids(document["id"]) == fulltext.ids(document["id"]) == set(written)


def test_pause_refuses_a_finished_document(kb):
    document = kb.create_text()

    response = kb.call("patch", kb.path(document["id"], "/processing/pause"))

    assert (response.status_code, body(response)["code"]) == (400, "document_already_finished")
    assert kb.status(document["id"])["indexing_status"] == "completed"


def test_resume_refuses_a_document_that_is_not_paused(kb, redis_client):
    document = kb.create_text(index=False)
    redis_client.delete("dataset")

    response = kb.call("patch", kb.path(document["id"], "/processing/resume"))

    assert (response.status_code, body(response)["code"]) == (400, "invalid_action")
    assert queued_documents(redis_client, [document["id"]]) == []


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_refuse_an_archived_document(kb, action):
    document = kb.create_text(index=False)
    kb.session.execute(sa.update(Document).where(Document.id == document["id"]).values(archived=True,
                                                                                         is_paused=True))
    kb.session.commit()

    response = kb.call("patch", kb.path(document["id"], f"/processing/{action}"))

    assert (response.status_code, body(response)["code"]) == (403, "archived_document_immutable")


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_answer_404_to_another_workspace(kb, action):
    document = kb.create_text(index=False)
    stranger = kb.console.new_workspace_owner(kb.owner, "b@example.com", "B")

    response = kb.console.call("patch", kb.path(document["id"], f"/processing/{action}"), token=stranger.token)

    assert response.status_code == 404
    assert kb.status(document["id"])["indexing_status"] == "waiting"


def test_normal_member_cannot_pause(kb):
    document = kb.create_text(index=False)
    member = kb.console.invite(kb.owner, "normal@example.com", "normal")

    response = kb.console.call("patch", kb.path(document["id"], "/processing/pause"), token=member.token)

    assert response.status_code == 403
    assert kb.status(document["id"])["indexing_status"] == "waiting"


# ---- rename ----------------------------------------------------------------------------------------------------

def test_rename_changes_the_documents_name(kb):
    document = kb.create_text()

    response = kb.call("post", kb.path(document["id"], "/rename"), json={"name": "  Handbook  "})

    assert response.status_code == 200, body(response)
    assert (body(response)["id"], body(response)["name"]) == (document["id"], "Handbook")
    assert body(kb.call("get", kb.path(document["id"]), expect=200))["name"] == "Handbook"


@pytest.mark.parametrize("payload", [{"name": ""}, {"name": "   "}, {}, {"name": "x" * 256}])
def test_rename_refuses_a_bad_name(kb, payload):
    document = kb.create_text()

    response = kb.call("post", kb.path(document["id"], "/rename"), json=payload)

    assert (response.status_code, body(response)["code"]) == (400, "invalid_param")
    assert body(kb.call("get", kb.path(document["id"]), expect=200))["name"] == "notes"


def test_rename_answers_404_for_an_unknown_document(kb):
    response = kb.call("post", kb.path(str(uuid.uuid4()), "/rename"), json={"name": "x"})

    assert response.status_code == 404


# ---- download zip ----------------------------------------------------------------------------------------------

def _zip(response) -> dict[str, bytes]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("api", ["console", "v1", "api"])
def test_download_zip_holds_each_documents_original_file(kb, api):
    first = kb.create_text(name="notes", text="First text.", index=False)
    second = kb.create_text(name="notes", text="Second text.", index=False)
    upload = kb.client.post(f"/v1/datasets/{kb.dataset_id}/document/create-by-file", headers=kb.key,
                            content_type="multipart/form-data",
                            data={"file": (io.BytesIO(b"# Title\n\nMarkdown."), "guide.md")})
    third = body(upload)["document"]
    ids = [first["id"], second["id"], third["id"]]

    if api == "console":
        response = kb.call("post", f"/datasets/{kb.dataset_id}/documents/download-zip", json={"document_ids": ids})
    else:
        response = kb.client.post(f"/{api}/datasets/{kb.dataset_id}/documents/download-zip", headers=kb.key,
                                  json={"document_ids": ids})

    assert _zip(response) == {"notes.txt": b"First text.", "notes (1).txt": b"Second text.",
                              "guide.md": b"# Title\n\nMarkdown."}


@pytest.mark.parametrize("ids", [[], ["not-a-uuid"], [str(uuid.uuid4())] * 101])
def test_download_zip_refuses_bad_ids(kb, ids):
    response = kb.call("post", f"/datasets/{kb.dataset_id}/documents/download-zip", json={"document_ids": ids})

    assert (response.status_code, body(response)["code"]) == (400, "invalid_param")


def test_download_zip_answers_404_when_any_document_is_unknown_or_elsewhere(kb):
    mine = kb.create_text(index=False)
    elsewhere = kb.create_text(index=False, dataset_id=kb.dataset())

    for ids in ([mine["id"], str(uuid.uuid4())], [mine["id"], elsewhere["id"]]):
        response = kb.call("post", f"/datasets/{kb.dataset_id}/documents/download-zip", json={"document_ids": ids})
        assert (response.status_code, body(response)["message"]) == (404, "Document not found.")


def test_download_zip_answers_404_to_another_workspace(kb):
    document = kb.create_text(index=False)
    stranger = kb.console.new_workspace_owner(kb.owner, "b@example.com", "B")
    their_key = bearer(dataset_key(kb.console, stranger.token))

    console = kb.console.call("post", f"/datasets/{kb.dataset_id}/documents/download-zip", token=stranger.token,
                              json={"document_ids": [document["id"]]})
    service = kb.client.post(f"/v1/datasets/{kb.dataset_id}/documents/download-zip", headers=their_key,
                             json={"document_ids": [document["id"]]})

    assert (console.status_code, service.status_code) == (404, 404)
