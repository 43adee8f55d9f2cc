"""Documents and segments over the Service API (and the console's own routes): create by text/file, indexing
status, list/get/update/delete, status actions, retry, download, and segment CRUD. The integration Celery has no
worker, so each test runs the indexing task body itself (knowledge_support.index_now)."""

from __future__ import annotations

import io
import uuid
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from api.models.dataset import Document, DocumentSegment
from tests.helpers import Console, bearer, body
from tests.integration.knowledge_support import PARAGRAPH_RULE, TEXT, dataset_key, index_now, upload

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Kb:
    """One economy dataset of a fresh workspace, driven through the Service API."""

    def __init__(self, client, db_session, pg_app, console: Console) -> None:
        self.client, self.session, self.app, self.console = client, db_session, pg_app, console
        self.owner = console.setup_owner()
        self.key = bearer(dataset_key(console, self.owner.token))
        created = client.post("/v1/datasets", headers=self.key,
                              json={"name": "kb", "indexing_technique": "economy", "permission": "all_team_members"})
        self.dataset_id = body(created)["id"]
        self.base = f"/v1/datasets/{self.dataset_id}"

    def create_text(self, text: str = TEXT, name: str = "notes", index: bool = True, **fields) -> dict:
        response = self.client.post(f"{self.base}/document/create-by-text", headers=self.key,
                                    json={"name": name, "text": text, "process_rule": PARAGRAPH_RULE, **fields})
        assert response.status_code == 200, body(response)
        result = body(response)
        if index:
            assert index_now(self.app, self.session, result["document"]["id"]) == "completed"
        return result

    def get(self, path: str, **kwargs):
        return self.client.get(f"{self.base}{path}", headers=self.key, **kwargs)

    def segments(self, document_id: str) -> list[dict]:
        return body(self.get(f"/documents/{document_id}/segments?limit=100"))["data"]


@pytest.fixture
def kb(client, db_session, pg_app) -> Kb:
    return Kb(client, db_session, pg_app, Console(client))


# ---- create and index --------------------------------------------------------------------------------------

def test_create_by_text_queues_a_document_and_returns_its_batch(kb):
    result = kb.create_text(index=False)

    document = result["document"]
    assert (document["name"], document["indexing_status"], document["display_status"]) == ("notes", "waiting",
                                                                                            "queuing")
    assert (document["created_from"], document["data_source_type"], document["position"]) == ("api", "upload_file", 1)
    assert len(result["batch"]) == 20
    assert result["batch"].isdigit()


def test_indexing_status_reports_completed_segments_after_indexing(kb):
    result = kb.create_text(index=False)
    waiting = body(kb.get(f"/documents/{result['batch']}/indexing-status"))["data"][0]

    assert index_now(kb.app, kb.session, result["document"]["id"]) == "completed"

    done = body(kb.get(f"/documents/{result['batch']}/indexing-status"))["data"][0]
    assert waiting["indexing_status"] == "waiting"
    assert done["indexing_status"] == "completed"
    assert done["completed_segments"] == done["total_segments"] == 3
    assert done["completed_at"] is not None


def test_indexing_status_answers_404_for_an_unknown_batch(kb):
    response = kb.get("/documents/20990101000000123456/indexing-status")

    assert (response.status_code, body(response)["message"]) == (404, "Documents not found.")


def test_create_by_text_splits_by_the_process_rule(kb):
    document = kb.create_text()["document"]

    contents = [s["content"] for s in kb.segments(document["id"])]

    assert contents == TEXT.split("\n\n")


def test_create_by_text_requires_indexing_technique_for_a_new_dataset(kb):
    fresh = body(kb.client.post("/v1/datasets", headers=kb.key, json={"name": "empty"}))

    response = kb.client.post(f"/v1/datasets/{fresh['id']}/document/create_by_text", headers=kb.key,
                              json={"name": "n", "text": "t"})

    assert (response.status_code, body(response)["params"]) == (400, "indexing_technique")


@pytest.mark.parametrize(("rule", "param"), [
    ({"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 10}}}, "segmentation.max_tokens"),
    ({"mode": "magic"}, "mode"),
])
def test_create_by_text_rejects_a_bad_process_rule_with_its_field(kb, rule, param):
    response = kb.client.post(f"{kb.base}/document/create-by-text", headers=kb.key,
                              json={"name": "n", "text": "t", "process_rule": rule})

    assert (response.status_code, body(response)["code"], body(response)["params"]) == (400, "invalid_param", param)
    assert body(kb.get("/documents"))["total"] == 0


def test_create_by_file_indexes_the_uploaded_file(kb):
    data = {"data": '{"indexing_technique": "economy", "process_rule": {"mode": "automatic"}}'}
    response = kb.client.post(f"{kb.base}/document/create-by-file", headers=kb.key, content_type="multipart/form-data",
                              data={**data, "file": (io.BytesIO(b"# Title\n\nMarkdown body about foxes."), "a.md")})

    assert response.status_code == 200, body(response)
    document = body(response)["document"]
    assert document["name"] == "a.md"
    assert index_now(kb.app, kb.session, document["id"]) == "completed"
    assert any("foxes" in s["content"] for s in kb.segments(document["id"]))


def test_create_by_file_rejects_an_unsupported_type_with_415(kb):
    response = kb.client.post(f"{kb.base}/document/create_by_file", headers=kb.key, content_type="multipart/form-data",
                              data={"file": (io.BytesIO(b"MZ..."), "tool.exe")})

    assert (response.status_code, body(response)["code"]) == (415, "unsupported_file_type")


def test_create_by_file_without_a_file_answers_400(kb):
    response = kb.client.post(f"{kb.base}/document/create-by-file", headers=kb.key, content_type="multipart/form-data",
                              data={"data": "{}"})

    assert (response.status_code, body(response)["code"]) == (400, "no_file_uploaded")


def test_create_by_file_rejects_data_that_is_not_json(kb):
    response = kb.client.post(f"{kb.base}/document/create-by-file", headers=kb.key, content_type="multipart/form-data",
                              data={"data": "{nope", "file": (io.BytesIO(b"text"), "a.txt")})

    assert (response.status_code, body(response)["params"]) == (400, "data")


def test_console_creates_documents_from_uploaded_files(kb):
    file_id = upload(kb.app, kb.session, tenant_id=kb.owner.tenant_id, account_id=kb.owner.account_id)

    response = kb.console.call("post", f"/datasets/{kb.dataset_id}/documents", token=kb.owner.token, json={
        "data_source": {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": [file_id]}}},
        "process_rule": {"mode": "automatic"}})

    assert response.status_code == 200, body(response)
    result = body(response)
    assert result["dataset"]["id"] == kb.dataset_id
    assert [d["name"] for d in result["documents"]] == ["notes.txt"]


# ---- read, update, delete ----------------------------------------------------------------------------------

def test_list_documents_newest_first_with_keyword_and_status(kb):
    kb.create_text(name="first")
    kb.create_text(name="second", index=False)

    listed = body(kb.get("/documents"))
    available = body(kb.get("/documents?status=available"))
    keyword = body(kb.get("/documents?keyword=firs"))

    assert [d["name"] for d in listed["data"]] == ["second", "first"]
    assert [d["name"] for d in available["data"]] == ["first"]
    assert [d["name"] for d in keyword["data"]] == ["first"]


def test_get_document_returns_detail_with_process_rule(kb):
    document = kb.create_text()["document"]

    detail = body(kb.get(f"/documents/{document['id']}"))
    only = body(kb.get(f"/documents/{document['id']}?metadata=only"))

    assert detail["segment_count"] == 3
    assert detail["display_status"] == "available"
    assert detail["dataset_process_rule"]["mode"] == "custom"
    assert set(only) == {"id", "doc_type", "doc_metadata"}


def test_update_by_text_reindexes_with_the_new_text(kb):
    document = kb.create_text()["document"]

    response = kb.client.post(f"{kb.base}/documents/{document['id']}/update-by-text", headers=kb.key,
                              json={"name": "renamed", "text": "Only one paragraph now."})

    assert response.status_code == 200, body(response)
    assert body(response)["document"]["indexing_status"] == "waiting"
    assert index_now(kb.app, kb.session, document["id"]) == "completed"
    assert [s["content"] for s in kb.segments(document["id"])] == ["Only one paragraph now."]
    assert body(kb.get(f"/documents/{document['id']}"))["name"] == "renamed"


def test_update_by_text_requires_a_name_with_the_text(kb):
    document = kb.create_text()["document"]

    response = kb.client.post(f"{kb.base}/documents/{document['id']}/update_by_text", headers=kb.key,
                              json={"text": "x"})

    assert (response.status_code, body(response)["params"]) == (400, "name")


def test_delete_document_removes_it_with_its_segments(kb):
    document = kb.create_text()["document"]

    response = kb.client.delete(f"{kb.base}/documents/{document['id']}", headers=kb.key)

    assert response.status_code == 204
    assert kb.get(f"/documents/{document['id']}").status_code == 404
    assert kb.session.scalar(sa.select(sa.func.count()).select_from(DocumentSegment)
                             .where(DocumentSegment.document_id == document["id"])) == 0


def test_delete_document_refuses_while_indexing(kb):
    document = kb.create_text(index=False)["document"]
    kb.session.execute(sa.update(Document).where(Document.id == document["id"]).values(indexing_status="indexing"))
    kb.session.commit()

    response = kb.client.delete(f"{kb.base}/documents/{document['id']}", headers=kb.key)

    assert (response.status_code, body(response)["code"]) == (400, "document_indexing")


@pytest.mark.parametrize(("action", "field", "value", "display"), [
    ("disable", "enabled", False, "disabled"), ("archive", "archived", True, "archived")])
def test_status_action_changes_documents(kb, action, field, value, display):
    document = kb.create_text()["document"]

    response = kb.client.patch(f"{kb.base}/documents/status/{action}", headers=kb.key,
                               json={"document_ids": [document["id"]]})

    assert response.status_code == 200
    detail = body(kb.get(f"/documents/{document['id']}"))
    assert (detail[field], detail["display_status"]) == (value, display)


def test_status_action_rejects_an_unknown_action(kb):
    document = kb.create_text()["document"]

    response = kb.client.patch(f"{kb.base}/documents/status/explode", headers=kb.key,
                               json={"document_ids": [document["id"]]})

    assert (response.status_code, body(response)["code"]) == (400, "invalid_action")


def test_retry_requeues_only_failed_documents(kb):
    failed = kb.create_text(index=False, name="failed")["document"]
    fine = kb.create_text(name="fine")["document"]
    kb.session.execute(sa.update(Document).where(Document.id == failed["id"]).values(indexing_status="error",
                                                                                         error="boom"))
    kb.session.commit()

    kb.console.call("post", f"/datasets/{kb.dataset_id}/retry", token=kb.owner.token, expect=200,
                    json={"document_ids": [failed["id"], fine["id"]]})

    assert body(kb.get(f"/documents/{failed['id']}"))["indexing_status"] == "waiting"
    assert body(kb.get(f"/documents/{fine['id']}"))["indexing_status"] == "completed"


def test_download_returns_a_signed_link_to_the_original(kb):
    document = kb.create_text()["document"]

    url = body(kb.get(f"/documents/{document['id']}/download"))["url"]
    parts = urlsplit(url)
    fetched = kb.client.get(f"{parts.path}?{parts.query}")

    assert fetched.status_code == 200
    assert fetched.get_data(as_text=True) == TEXT


# ---- segments ----------------------------------------------------------------------------------------------

def test_segments_add_get_update_and_delete(kb):
    document = kb.create_text()["document"]
    seg_base = f"{kb.base}/documents/{document['id']}/segments"

    added = kb.client.post(seg_base, headers=kb.key, json={"segments": [{"content": "Zebras are striped.",
                                                                          "keywords": ["zebra"]}]})
    assert added.status_code == 200, body(added)
    segment = body(added)["data"][0]
    assert (segment["position"], segment["status"], segment["keywords"]) == (4, "completed", ["zebra"])

    fetched = body(kb.client.get(f"{seg_base}/{segment['id']}", headers=kb.key))["data"]
    updated = kb.client.post(f"{seg_base}/{segment['id']}", headers=kb.key,
                             json={"segment": {"content": "Zebras are black and white.", "enabled": False}})
    assert fetched["content"] == "Zebras are striped."
    assert body(updated)["data"]["content"] == "Zebras are black and white."
    assert body(updated)["data"]["enabled"] is False

    deleted = kb.client.delete(f"{seg_base}/{segment['id']}", headers=kb.key)
    assert deleted.status_code == 204
    assert [s["position"] for s in kb.segments(document["id"])] == [1, 2, 3]


def test_segments_list_filters_and_paginates(kb):
    document = kb.create_text()["document"]

    page = body(kb.get(f"/documents/{document['id']}/segments?limit=2"))
    found = body(kb.get(f"/documents/{document['id']}/segments?keyword=fox"))

    assert (len(page["data"]), page["total"], page["has_more"], page["doc_form"]) == (2, 3, True, "text_model")
    assert [s["content"] for s in found["data"]] == ["The quick brown fox jumps over the lazy dog."]


def test_adding_segments_requires_a_completed_document(kb):
    document = kb.create_text(index=False)["document"]

    response = kb.client.post(f"{kb.base}/documents/{document['id']}/segments", headers=kb.key,
                              json={"segments": [{"content": "x"}]})

    assert (response.status_code, body(response)["message"]) == (404, "Document is not completed.")


def test_console_segment_enable_disable_and_batch_delete(kb):
    document = kb.create_text()["document"]
    ids = [s["id"] for s in kb.segments(document["id"])]
    path = f"/datasets/{kb.dataset_id}/documents/{document['id']}"

    kb.console.call("patch", f"{path}/segment/disable?segment_id={ids[0]}", token=kb.owner.token, expect=200)
    disabled = [s["enabled"] for s in kb.segments(document["id"])]
    kb.console.call("delete", f"{path}/segments?segment_id={ids[1]}&segment_id={ids[2]}", token=kb.owner.token,
                    expect=204)

    assert disabled == [False, True, True]
    assert [s["id"] for s in kb.segments(document["id"])] == [ids[0]]


def test_hierarchical_document_lists_child_chunks(kb):
    rule = {"mode": "hierarchical", "rules": {"parent_mode": "paragraph",
                                              "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
                                              "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}}
    fresh = body(kb.client.post("/v1/datasets", headers=kb.key, json={"name": f"h-{uuid.uuid4().hex[:4]}",
                                                                       "indexing_technique": "economy"}))
    response = kb.client.post(f"/v1/datasets/{fresh['id']}/document/create-by-text", headers=kb.key, json={
        "name": "tree", "text": "First sentence. Second sentence.\n\nThird one.", "process_rule": rule})
    document = body(response)["document"]
    assert document["doc_form"] == "hierarchical_model"
    assert index_now(kb.app, kb.session, document["id"]) == "completed"
    segments = body(kb.client.get(f"/v1/datasets/{fresh['id']}/documents/{document['id']}/segments",
                                  headers=kb.key))["data"]

    children = body(kb.client.get(f"/v1/datasets/{fresh['id']}/documents/{document['id']}/segments/"
                                  f"{segments[0]['id']}/child_chunks", headers=kb.key))

    assert [c["content"] for c in children["data"]] == [c["content"] for c in segments[0]["child_chunks"]]
    assert children["total"] >= 2
