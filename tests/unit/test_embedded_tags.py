"""Tags and partial-member datasets in embedded mode (SQLite): the same queries must hold on the other database."""

from __future__ import annotations

import pytest

from tests.conftest import embedded_app
from tests.helpers import Console, bearer, body


@pytest.fixture
def client(tmp_path):
    return embedded_app(tmp_path).test_client()


def test_embedded_tags_bind_filter_and_follow_deletion(client):
    console = Console(client)
    owner = console.setup_owner()
    key = bearer(body(console.call("post", "/datasets/api-keys", token=owner.token, expect=200))["token"])
    tagged = body(client.post("/v1/datasets", headers=key, json={"name": "tagged"}))
    body(client.post("/v1/datasets", headers=key, json={"name": "plain"}))
    tag = body(client.post("/v1/datasets/tags", headers=key, json={"name": "Finance"}))

    bound = client.post("/v1/datasets/tags/binding", headers=key, json={"tag_ids": [tag["id"]],
                                                                      "target_id": tagged["id"]})
    filtered = body(client.get("/v1/datasets", headers=key, query_string={"tag_ids": tag["id"]}))
    listed = body(console.call("get", "/tags?type=knowledge&keyword=FIN", token=owner.token, expect=200))
    client.delete(f"/v1/datasets/{tagged['id']}", headers=key)
    after = body(client.get("/v1/datasets/tags", headers=key))

    assert bound.status_code == 204
    assert [(d["name"], d["tags"][0]["name"]) for d in filtered["data"]] == [("tagged", "Finance")]
    assert [(t["name"], t["binding_count"]) for t in listed] == [("Finance", "1")]
    assert [(t["name"], t["binding_count"]) for t in after] == [("Finance", "0")]


def test_embedded_partial_members_grant_and_clear_access(client):
    console = Console(client)
    owner = console.setup_owner()
    listed, unlisted = (console.invite(owner, f"{n}@example.com", "normal") for n in ("listed", "unlisted"))
    dataset = body(console.call("post", "/datasets", token=owner.token, expect=201, json={
        "name": "Restricted", "permission": "partial_members",
        "partial_member_list": [{"user_id": listed.account_id}]}))

    seen = [d["id"] for d in body(console.call("get", "/datasets", token=listed.token, expect=200))["data"]]
    denied = console.call("get", f"/datasets/{dataset['id']}", token=unlisted.token)
    console.call("patch", f"/datasets/{dataset['id']}", token=owner.token, json={"permission": "only_me"}, expect=200)
    revoked = console.call("get", f"/datasets/{dataset['id']}", token=listed.token)

    assert dataset["partial_member_list"] == [listed.account_id]
    assert seen == [dataset["id"]]
    assert (denied.status_code, revoked.status_code) == (403, 403)
