"""The knowledge API in embedded mode (SQLite, thread dispatcher, embedded index + FTS5), end to end over HTTP:
a document added by text is indexed in the background and then found by retrieval."""

from __future__ import annotations

import io
import time

import pytest

from tests.conftest import embedded_app
from tests.helpers import Console, bearer, body


@pytest.fixture
def client(tmp_path):
    return embedded_app(tmp_path, UPLOAD_FILE_SIZE_LIMIT="1").test_client()


def _wait_completed(client, key, dataset_id: str, batch: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = body(client.get(f"/v1/datasets/{dataset_id}/documents/{batch}/indexing-status", headers=key))
        if status["data"][0]["indexing_status"] in ("completed", "error"):
            return status["data"][0]
        time.sleep(0.05)
    pytest.fail("the document was not indexed within 20 s")


def test_embedded_document_is_indexed_in_the_background_and_retrieved(client):
    console = Console(client)
    owner = console.setup_owner()
    key = bearer(body(console.call("post", "/datasets/api-keys", token=owner.token, expect=200))["token"])
    dataset = body(client.post("/v1/datasets", headers=key, json={"name": "kb", "indexing_technique": "economy"}))
    rule = {"mode": "custom", "rules": {"segmentation": {"separator": "\\n\\n", "max_tokens": 100}}}
    created = body(client.post(f"/v1/datasets/{dataset['id']}/document/create-by-text", headers=key, json={
        "name": "notes", "text": "Cats purr.\n\nThe quick brown fox jumps.", "process_rule": rule}))

    status = _wait_completed(client, key, dataset["id"], created["batch"])
    found = body(client.post(f"/v1/datasets/{dataset['id']}/retrieve", headers=key, json={"query": "fox"}))
    full_text = body(client.post(f"/v1/datasets/{dataset['id']}/retrieve", headers=key, json={
        "query": "purr", "retrieval_model": {"search_method": "full_text_search", "top_k": 2}}))
    deleted = client.delete(f"/v1/datasets/{dataset['id']}/documents/{created['document']['id']}", headers=key)

    assert (status["indexing_status"], status["completed_segments"], status["total_segments"]) == ("completed", 2, 2)
    assert [r["segment"]["content"] for r in found["records"]] == ["The quick brown fox jumps."]
    assert [r["segment"]["content"] for r in full_text["records"]] == ["Cats purr."]
    assert deleted.status_code == 204
    assert body(client.get(f"/v1/datasets/{dataset['id']}", headers=key))["document_count"] == 0


def test_embedded_create_by_file_answers_413_over_the_size_limit(client):
    console = Console(client)
    owner = console.setup_owner()
    key = bearer(body(console.call("post", "/datasets/api-keys", token=owner.token, expect=200))["token"])
    dataset = body(client.post("/v1/datasets", headers=key, json={"name": "kb", "indexing_technique": "economy"}))

    response = client.post(f"/v1/datasets/{dataset['id']}/document/create-by-file", headers=key,
                           content_type="multipart/form-data",
                           data={"data": '{"process_rule": {"mode": "automatic"}}',
                                 "file": (io.BytesIO(b"x" * (1024 * 1024 + 1)), "big.txt")})

    assert (response.status_code, body(response)["code"]) == (413, "file_too_large")
    assert body(client.get(f"/v1/datasets/{dataset['id']}/documents", headers=key))["total"] == 0


def test_embedded_child_chunks_are_indexed_and_unindexed(client):
    console = Console(client)
    owner = console.setup_owner()
    key = bearer(body(console.call("post", "/datasets/api-keys", token=owner.token, expect=200))["token"])
    dataset = body(client.post("/v1/datasets", headers=key, json={"name": "kb", "indexing_technique": "economy"}))
    rule = {"mode": "hierarchical", "rules": {"parent_mode": "paragraph",
                                              "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
                                              "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}}
    created = body(client.post(f"/v1/datasets/{dataset['id']}/document/create-by-text", headers=key, json={
        "name": "tree", "text": "Cats purr. Dogs bark.\n\nBirds sing.", "process_rule": rule}))
    _wait_completed(client, key, dataset["id"], created["batch"])
    base = f"/v1/datasets/{dataset['id']}/documents/{created['document']['id']}/segments"
    segment = body(client.get(base, headers=key))["data"][0]

    def search(query: str) -> list[str]:
        found = body(client.post(f"/v1/datasets/{dataset['id']}/retrieve", headers=key, json={
            "query": query, "retrieval_model": {"search_method": "full_text_search", "top_k": 2}}))
        return [r["segment"]["id"] for r in found["records"]]

    added = client.post(f"{base}/{segment['id']}/child_chunks", headers=key, json={"content": "Zebras graze."})
    child = body(added)["data"]
    found_added = search("zebras")
    deleted = client.delete(f"{base}/{segment['id']}/child_chunks/{child['id']}", headers=key)

    assert (added.status_code, child["type"]) == (200, "customized")
    assert found_added == [segment["id"]]
    assert deleted.status_code == 204
    assert search("zebras") == []
