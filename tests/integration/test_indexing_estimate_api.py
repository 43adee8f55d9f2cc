"""Console process-rule and retrieval settings, and indexing estimates (POST for uploaded files, GET for a document
and for a batch): the estimate really extracts, cleans and splits, so it matches what indexing then stores."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from api.models.dataset import DocumentSegment
from tests.helpers import Console, bearer, body
from tests.integration.indexing_support import SIX_PARAGRAPHS
from tests.integration.knowledge_support import PARAGRAPH_RULE, TEXT, dataset_key, index_now, upload
from tests.integration.seed import PARENT_CHILD_RULE

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MANY = "\n\n".join(f"Paragraph number {n} is here." for n in range(1, 13))


class Kb:
    def __init__(self, client, db_session, app) -> None:
        self.client, self.session, self.app = client, db_session, app
        self.console = Console(client)
        self.owner = self.console.setup_owner()
        self.key = bearer(dataset_key(self.console, self.owner.token))
        self.dataset_id = body(self.client.post("/v1/datasets", headers=self.key, json={
            "name": "kb", "indexing_technique": "economy", "permission": "all_team_members"}))["id"]

    def upload(self, name: str = "notes.txt", data: bytes = TEXT.encode()) -> str:
        return upload(self.app, self.session, tenant_id=self.owner.tenant_id, account_id=self.owner.account_id,
                      name=name, data=data)

    def estimate(self, file_ids: list[str], rule: dict | None = None, token: str | None = None, **fields):
        payload = {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": file_ids}},
                   "process_rule": rule or PARAGRAPH_RULE, "indexing_technique": "economy", **fields}
        return self.console.call("post", "/datasets/indexing-estimate", token=token or self.owner.token,
                                 json=payload)

    def create_text(self, text: str, rule: dict | None = None, name: str = "notes") -> dict:
        response = self.client.post(f"/v1/datasets/{self.dataset_id}/document/create-by-text", headers=self.key,
                                    json={"name": name, "text": text, "process_rule": rule or PARAGRAPH_RULE})
        assert response.status_code == 200, body(response)
        return body(response)


@pytest.fixture
def kb(client, db_session, pg_app) -> Kb:
    return Kb(client, db_session, pg_app)


# ---- process rule and retrieval settings -----------------------------------------------------------------------

def test_process_rule_defaults(kb):
    response = kb.console.call("get", "/datasets/process-rule", token=kb.owner.token)

    assert response.status_code == 200
    assert body(response) == {
        "mode": "custom",
        "rules": {"pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": True},
                                           {"id": "remove_urls_emails", "enabled": False}],
                  "segmentation": {"delimiter": "\n", "max_tokens": 1024, "chunk_overlap": 50}},
        "limits": {"indexing_max_segmentation_tokens_length": 4000}}


def test_process_rule_of_a_document_is_its_datasets_latest_rule(kb):
    first = kb.create_text(TEXT)["document"]
    kb.create_text(TEXT, rule={"mode": "custom", "rules": {
        "pre_processing_rules": [], "segmentation": {"separator": "###", "max_tokens": 300, "chunk_overlap": 10}}})

    result = body(kb.console.call("get", f"/datasets/process-rule?document_id={first['id']}", token=kb.owner.token))

    assert result["mode"] == "custom"
    assert result["rules"]["segmentation"] == {"separator": "###", "max_tokens": 300, "chunk_overlap": 10}
    assert result["limits"] == {"indexing_max_segmentation_tokens_length": 4000}


@pytest.mark.parametrize("document_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_process_rule_answers_404_for_an_unknown_document(kb, document_id):
    response = kb.console.call("get", f"/datasets/process-rule?document_id={document_id}", token=kb.owner.token)

    assert (response.status_code, body(response)["message"]) == (404, "Document not found.")


def test_process_rule_answers_404_for_another_workspaces_document(kb):
    document = kb.create_text(TEXT)["document"]
    stranger = kb.console.new_workspace_owner(kb.owner, "b@example.com", "B")

    response = kb.console.call("get", f"/datasets/process-rule?document_id={document['id']}", token=stranger.token)

    assert response.status_code == 404


def test_retrieval_setting_lists_what_the_stores_support(kb):
    response = kb.console.call("get", "/datasets/retrieval-setting", token=kb.owner.token)

    assert body(response) == {"retrieval_method": ["semantic_search", "full_text_search", "hybrid_search"]}


# ---- POST /datasets/indexing-estimate ------------------------------------------------------------------------

def test_estimate_splits_the_files_and_matches_what_indexing_stores(kb):
    file_id = kb.upload(data=SIX_PARAGRAPHS.encode())

    response = kb.estimate([file_id])

    assert response.status_code == 200, body(response)
    estimate = body(response)
    assert estimate["qa_preview"] is None
    assert estimate["total_segments"] == 6
    assert [p["content"] for p in estimate["preview"]] == SIX_PARAGRAPHS.split("\n\n")
    assert all(p["child_chunks"] is None for p in estimate["preview"])
    created = kb.console.call("post", f"/datasets/{kb.dataset_id}/documents", token=kb.owner.token, json={
        "data_source": {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": [file_id]}}},
        "process_rule": PARAGRAPH_RULE})
    document_id = body(created)["documents"][0]["id"]
    assert index_now(kb.app, kb.session, document_id) == "completed"
    stored = list(kb.session.scalars(sa.select(DocumentSegment.content)
                                     .where(DocumentSegment.document_id == document_id)
                                     .order_by(DocumentSegment.position)))
    assert stored == [p["content"] for p in estimate["preview"]]


def test_estimate_counts_every_file_and_caps_the_preview_at_ten(kb):
    files = [kb.upload(name="many.txt", data=MANY.encode()), kb.upload(name="six.md", data=SIX_PARAGRAPHS.encode())]

    estimate = body(kb.estimate(files))

    assert estimate["total_segments"] == 12 + 6
    assert [p["content"] for p in estimate["preview"]] == MANY.split("\n\n")[:10]


def test_estimate_of_a_parent_child_rule_previews_child_chunks(kb):
    file_id = kb.upload(data=b"First child. Second child.\n\nOnly child.")

    estimate = body(kb.estimate([file_id], rule=PARENT_CHILD_RULE, doc_form="hierarchical_model"))

    assert estimate["total_segments"] == 2
    assert [p["child_chunks"] for p in estimate["preview"]] == [["First child", "Second child."], ["Only child."]]


@pytest.mark.parametrize(("fields", "param"), [
    ({"rule": {"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 10}}}},
     "segmentation.max_tokens"),
    ({"rule": {"mode": "magic"}}, "mode"),
    ({"doc_form": "hierarchical_model"}, "doc_form"),
    ({"doc_form": "qa_model"}, "doc_form"),
    ({"indexing_technique": "best"}, "indexing_technique"),
])
def test_estimate_refuses_a_bad_rule_or_form(kb, fields, param):
    response = kb.estimate([kb.upload()], **fields)

    assert (response.status_code, body(response)["code"], body(response)["params"]) == (400, "invalid_param", param)


def test_estimate_answers_404_for_unknown_or_foreign_files(kb):
    stranger = kb.console.new_workspace_owner(kb.owner, "b@example.com", "B")
    foreign = upload(kb.app, kb.session, tenant_id=stranger.tenant_id, account_id=stranger.account_id)
    mine = kb.upload()

    unknown = kb.estimate([mine, str(uuid.uuid4())])
    theirs = kb.estimate([foreign])
    from_outside = kb.estimate([mine], token=stranger.token)

    assert [r.status_code for r in (unknown, theirs, from_outside)] == [404, 404, 404]
    assert body(unknown)["message"] == "File not found."


def test_estimate_answers_404_for_another_workspaces_dataset(kb):
    stranger = kb.console.new_workspace_owner(kb.owner, "b@example.com", "B")
    theirs = upload(kb.app, kb.session, tenant_id=stranger.tenant_id, account_id=stranger.account_id)

    response = kb.estimate([theirs], token=stranger.token, dataset_id=kb.dataset_id)

    assert (response.status_code, body(response)["message"]) == (404, "Dataset not found.")


def test_estimate_refuses_an_unreadable_file(kb):
    unsupported = kb.estimate([kb.upload(name="tool.exe", data=b"MZ")])
    broken = kb.estimate([kb.upload(name="broken.pdf", data=b"%PDF-1.4 not really")])

    assert (unsupported.status_code, body(unsupported)["code"]) == (415, "unsupported_file_type")
    assert (broken.status_code, body(broken)["code"]) == (400, "indexing_estimate_error")


# ---- GET estimates of a document and of a batch ----------------------------------------------------------------

def test_document_estimate_uses_its_own_rule(kb):
    created = kb.create_text(SIX_PARAGRAPHS)

    response = kb.console.call("get", f"/datasets/{kb.dataset_id}/documents/{created['document']['id']}"
                                      "/indexing-estimate", token=kb.owner.token)

    assert response.status_code == 200, body(response)
    assert body(response)["total_segments"] == 6
    assert body(response)["preview"][0] == {"content": "Paragraph 1 talks about topic1 and nothing else.",
                                            "child_chunks": None}


def test_batch_estimate_sums_its_documents(kb):
    file_ids = [kb.upload(name="a.txt", data=SIX_PARAGRAPHS.encode()), kb.upload(name="b.txt", data=TEXT.encode())]
    created = body(kb.console.call("post", f"/datasets/{kb.dataset_id}/documents", token=kb.owner.token, json={
        "data_source": {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": file_ids}}},
        "process_rule": PARAGRAPH_RULE}))

    response = kb.console.call("get", f"/datasets/{kb.dataset_id}/batch/{created['batch']}/indexing-estimate",
                               token=kb.owner.token)

    assert response.status_code == 200, body(response)
    assert body(response)["total_segments"] == 6 + 3
    assert len(body(response)["preview"]) == 9


def test_estimates_refuse_finished_documents(kb):
    created = kb.create_text(TEXT)
    assert index_now(kb.app, kb.session, created["document"]["id"]) == "completed"

    document = kb.console.call("get", f"/datasets/{kb.dataset_id}/documents/{created['document']['id']}"
                                      "/indexing-estimate", token=kb.owner.token)
    batch = kb.console.call("get", f"/datasets/{kb.dataset_id}/batch/{created['batch']}/indexing-estimate",
                            token=kb.owner.token)

    assert (document.status_code, body(document)["code"]) == (400, "document_already_finished")
    assert (batch.status_code, body(batch)["code"]) == (400, "document_already_finished")


def test_estimates_answer_404_for_unknown_ids_and_other_workspaces(kb):
    created = kb.create_text(TEXT)
    stranger = kb.console.new_workspace_owner(kb.owner, "b@example.com", "B")
    base = f"/datasets/{kb.dataset_id}"

    answers = [kb.console.call("get", f"{base}/documents/{uuid.uuid4()}/indexing-estimate", token=kb.owner.token),
               kb.console.call("get", f"{base}/batch/20990101000000123456/indexing-estimate", token=kb.owner.token),
               kb.console.call("get", f"{base}/documents/{created['document']['id']}/indexing-estimate",
                               token=stranger.token),
               kb.console.call("get", f"{base}/batch/{created['batch']}/indexing-estimate", token=stranger.token)]

    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert body(answers[1])["message"] == "Documents not found."
