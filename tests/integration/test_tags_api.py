"""Tags of datasets and apps: console CRUD and bindings (§4.13), the Service API's knowledge tags (§7.2), the
`tags` of DatasetDetail and of apps, the `tag_ids` list filters, roles, and isolation between workspaces."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import Console, bearer, body
from tests.integration.knowledge_support import dataset_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def console(client) -> Console:
    return Console(client)


@pytest.fixture
def owner(console):
    return console.setup_owner()


@pytest.fixture
def key(console, owner) -> dict[str, str]:
    return bearer(dataset_key(console, owner.token))


def _tag(console, member, name="Finance", tag_type="knowledge"):
    return body(console.call("post", "/tags", token=member.token, json={"name": name, "type": tag_type}, expect=200))


def _dataset(console, member, name=None, **fields):
    return body(console.call("post", "/datasets", token=member.token, expect=201,
                             json={"name": name or f"kb-{uuid.uuid4().hex[:6]}", **fields}))


def _bind(console, member, tag_ids, target_id, tag_type="knowledge", expect=200):
    return console.call("post", "/tag-bindings/create", token=member.token, expect=expect,
                        json={"tag_ids": tag_ids, "target_id": target_id, "type": tag_type})


def _tags(console, member, tag_type="knowledge", **query):
    return body(console.call("get", "/tags", token=member.token, query_string={"type": tag_type, **query},
                             expect=200))


# ---- console CRUD --------------------------------------------------------------------------------------------

def test_create_tag_answers_the_tag_with_zero_bindings(console, owner):
    created = _tag(console, owner, "Finance")

    assert set(created) == {"id", "name", "type", "binding_count"}
    assert (created["name"], created["type"], created["binding_count"]) == ("Finance", "knowledge", 0)
    assert uuid.UUID(created["id"])


def test_list_tags_shows_string_binding_counts_newest_first_and_filters(console, owner):
    dataset = _dataset(console, owner)
    first = _tag(console, owner, "Finance")
    second = _tag(console, owner, "Legal")
    _tag(console, owner, "Finance", tag_type="app")  # same name, other type: allowed, listed separately
    _bind(console, owner, [first["id"]], dataset["id"])

    listed = _tags(console, owner)

    assert listed == [{"id": second["id"], "name": "Legal", "type": "knowledge", "binding_count": "0"},
                      {"id": first["id"], "name": "Finance", "type": "knowledge", "binding_count": "1"}]
    assert [t["name"] for t in _tags(console, owner, keyword="fin")] == ["Finance"]
    assert [t["type"] for t in _tags(console, owner, tag_type="app")] == ["app"]
    assert body(console.call("get", "/tags", token=owner.token, expect=200)) == []  # no type: nothing (Dify)


@pytest.mark.parametrize(("payload", "param"), [
    ({"name": "", "type": "knowledge"}, "name"),
    ({"name": "   ", "type": "knowledge"}, "name"),
    ({"name": "x" * 51, "type": "knowledge"}, "name"),
    ({"type": "knowledge"}, "name"),
    ({"name": "Tag", "type": "bogus"}, "type"),
    ({"name": "Tag"}, "type"),
])
def test_create_tag_rejects_bad_input_and_stores_nothing(console, owner, payload, param):
    response = console.call("post", "/tags", token=owner.token, json=payload)

    assert response.status_code == 400
    assert (body(response)["code"], body(response)["params"]) == ("invalid_param", param)
    assert _tags(console, owner) == []
    assert _tags(console, owner, tag_type="app") == []


def test_create_tag_rejects_a_duplicate_name_of_the_same_type(console, owner):
    _tag(console, owner, "Finance")

    response = console.call("post", "/tags", token=owner.token, json={"name": "Finance", "type": "knowledge"})

    assert response.status_code == 400
    assert (body(response)["code"], body(response)["message"]) == ("invalid_param", "Tag name already exists")
    assert len(_tags(console, owner)) == 1


def test_list_tags_rejects_an_unknown_type(console, owner):
    response = console.call("get", "/tags?type=bogus", token=owner.token)

    assert (response.status_code, body(response)["params"]) == (400, "type")


def test_rename_tag_keeps_its_type_and_answers_integer_binding_count(console, owner):
    dataset = _dataset(console, owner)
    tag = _tag(console, owner, "Finance")
    _bind(console, owner, [tag["id"]], dataset["id"])

    renamed = body(console.call("patch", f"/tags/{tag['id']}", token=owner.token, expect=200,
                                json={"name": "Money", "type": "app"}))

    assert renamed == {"id": tag["id"], "name": "Money", "type": "knowledge", "binding_count": 1}
    assert [t["name"] for t in _tags(console, owner)] == ["Money"]


def test_rename_tag_rejects_a_name_taken_by_another_tag(console, owner):
    tag = _tag(console, owner, "Finance")
    _tag(console, owner, "Legal")

    same = console.call("patch", f"/tags/{tag['id']}", token=owner.token, json={"name": "Finance"})
    taken = console.call("patch", f"/tags/{tag['id']}", token=owner.token, json={"name": "Legal"})

    assert same.status_code == 200  # renaming to its own name is no conflict
    assert (taken.status_code, body(taken)["message"]) == (400, "Tag name already exists")


def test_delete_tag_answers_204_and_removes_its_bindings(console, owner):
    dataset = _dataset(console, owner)
    tag = _tag(console, owner)
    _bind(console, owner, [tag["id"]], dataset["id"])

    deleted = console.call("delete", f"/tags/{tag['id']}", token=owner.token)

    assert deleted.status_code == 204
    assert body(console.call("get", f"/datasets/{dataset['id']}", token=owner.token))["tags"] == []
    assert console.call("delete", f"/tags/{tag['id']}", token=owner.token).status_code == 404
    assert console.call("patch", f"/tags/{tag['id']}", token=owner.token, json={"name": "x"}).status_code == 404


# ---- bindings and the tags of datasets and apps --------------------------------------------------------------

def test_bound_tags_appear_in_dataset_detail_and_list_on_both_apis(console, client, owner, key):
    dataset = _dataset(console, owner)
    finance, legal = _tag(console, owner, "Finance"), _tag(console, owner, "Legal")

    _bind(console, owner, [legal["id"], finance["id"]], dataset["id"])

    expected = [{"id": finance["id"], "name": "Finance", "type": "knowledge"},
                {"id": legal["id"], "name": "Legal", "type": "knowledge"}]
    assert body(console.call("get", f"/datasets/{dataset['id']}", token=owner.token))["tags"] == expected
    assert body(console.call("get", "/datasets", token=owner.token))["data"][0]["tags"] == expected
    assert body(client.get(f"/v1/datasets/{dataset['id']}", headers=key))["tags"] == expected
    assert body(client.get("/v1/datasets", headers=key))["data"][0]["tags"] == expected


def test_binding_twice_is_idempotent_and_remove_unbinds(console, owner):
    dataset = _dataset(console, owner)
    tag = _tag(console, owner)

    first = _bind(console, owner, [tag["id"]], dataset["id"])
    again = _bind(console, owner, [tag["id"], tag["id"]], dataset["id"])
    count = _tags(console, owner)[0]["binding_count"]
    removed = console.call("post", "/tag-bindings/remove", token=owner.token,
                           json={"tag_id": tag["id"], "target_id": dataset["id"], "type": "knowledge"})
    removed_again = console.call("post", "/tag-bindings/remove", token=owner.token,
                                 json={"tag_ids": [tag["id"]], "target_id": dataset["id"], "type": "knowledge"})

    assert body(first) == body(again) == {"result": "success"}
    assert count == "1"
    assert (removed.status_code, body(removed)) == (200, {"result": "success"})
    assert removed_again.status_code == 200  # not bound any more: nothing to do
    assert body(console.call("get", f"/datasets/{dataset['id']}", token=owner.token))["tags"] == []
    assert _tags(console, owner)[0]["binding_count"] == "0"


def test_app_tags_appear_in_app_list_detail_and_service_info(console, client, owner):
    app = console.create_app(owner, name="Tagged")
    app_key = bearer(console.create_key(owner, app["id"]))
    assert body(client.get("/v1/info", headers=app_key))["tags"] == []  # the app snapshot is now cached
    tag = _tag(console, owner, "Support", tag_type="app")

    _bind(console, owner, [tag["id"]], app["id"], tag_type="app")

    expected = [{"id": tag["id"], "name": "Support", "type": "app"}]
    listed = body(console.call("get", "/apps", token=owner.token, expect=200))["data"]
    assert next(a for a in listed if a["id"] == app["id"])["tags"] == expected
    assert body(console.call("get", f"/apps/{app['id']}", token=owner.token, expect=200))["tags"] == expected
    assert body(client.get("/v1/info", headers=app_key))["tags"] == ["Support"]
    console.call("patch", f"/tags/{tag['id']}", token=owner.token, json={"name": "Help"}, expect=200)
    assert body(client.get("/v1/info", headers=app_key))["tags"] == ["Help"]
    console.call("delete", f"/tags/{tag['id']}", token=owner.token, expect=204)
    assert body(client.get("/v1/info", headers=app_key))["tags"] == []


@pytest.mark.parametrize("case", ["dataset_as_app", "app_as_dataset", "app_tag_on_dataset", "unknown_target",
                                  "unknown_tag"])
def test_binding_answers_404_when_target_or_tag_does_not_match(console, owner, case):
    dataset = _dataset(console, owner)
    app = console.create_app(owner)
    knowledge, app_tag = _tag(console, owner, "K"), _tag(console, owner, "A", tag_type="app")
    tag_ids, target, tag_type = {
        "dataset_as_app": ([app_tag["id"]], dataset["id"], "app"),
        "app_as_dataset": ([knowledge["id"]], app["id"], "knowledge"),
        "app_tag_on_dataset": ([app_tag["id"]], dataset["id"], "knowledge"),
        "unknown_target": ([knowledge["id"]], str(uuid.uuid4()), "knowledge"),
        "unknown_tag": ([knowledge["id"], str(uuid.uuid4())], dataset["id"], "knowledge"),
    }[case]

    created = _bind(console, owner, tag_ids, target, tag_type=tag_type, expect=None)
    removed = console.call("post", "/tag-bindings/remove", token=owner.token,
                           json={"tag_ids": tag_ids, "target_id": target, "type": tag_type})

    assert created.status_code == 404
    assert removed.status_code == 404
    assert [t["binding_count"] for t in _tags(console, owner) + _tags(console, owner, tag_type="app")] == ["0", "0"]


@pytest.mark.parametrize("payload", [
    {"tag_ids": "x", "target_id": "t", "type": "knowledge"},
    {"tag_ids": [1], "target_id": "t", "type": "knowledge"},
    {"tag_ids": [], "type": "knowledge"},
    {"tag_ids": [], "target_id": "t", "type": "bogus"},
    {"tag_ids": [], "target_id": "t"},
])
def test_binding_rejects_malformed_bodies(console, owner, payload):
    response = console.call("post", "/tag-bindings/create", token=owner.token, json=payload)

    assert (response.status_code, body(response)["code"]) == (400, "invalid_param")


def test_remove_binding_requires_a_tag(console, owner):
    dataset = _dataset(console, owner)

    response = console.call("post", "/tag-bindings/remove", token=owner.token,
                            json={"target_id": dataset["id"], "type": "knowledge"})

    assert (response.status_code, body(response)["params"]) == (400, "tag_id")


def test_deleting_a_dataset_or_an_app_removes_its_bindings(console, owner):
    dataset, app = _dataset(console, owner), console.create_app(owner)
    knowledge, app_tag = _tag(console, owner, "K"), _tag(console, owner, "A", tag_type="app")
    _bind(console, owner, [knowledge["id"]], dataset["id"])
    _bind(console, owner, [app_tag["id"]], app["id"], tag_type="app")

    console.call("delete", f"/datasets/{dataset['id']}", token=owner.token, expect=204)
    console.call("delete", f"/apps/{app['id']}", token=owner.token, expect=204)

    assert _tags(console, owner)[0]["binding_count"] == "0"
    assert _tags(console, owner, tag_type="app")[0]["binding_count"] == "0"


# ---- tag_ids filters -----------------------------------------------------------------------------------------

def test_dataset_list_keeps_datasets_with_any_of_the_tags_on_both_apis(console, client, owner, key):
    a, b, c = (_dataset(console, owner, name) for name in ("a", "b", "c"))
    t1, t2, t3 = (_tag(console, owner, name) for name in ("t1", "t2", "t3"))
    _bind(console, owner, [t1["id"]], a["id"])
    _bind(console, owner, [t1["id"], t2["id"]], b["id"])

    def names(path, **kwargs):
        return sorted(d["name"] for d in body(client.get(path, **kwargs))["data"])

    console_query = [("tag_ids", t2["id"]), ("tag_ids", t1["id"])]
    assert names("/console/api/datasets", headers=owner.headers, query_string=console_query) == ["a", "b"]
    assert names("/v1/datasets", headers=key, query_string=[("tag_ids", t2["id"])]) == ["b"]
    assert names("/v1/datasets", headers=key, query_string=[("tag_ids", t3["id"])]) == []
    assert names("/v1/datasets", headers=key, query_string=[("tag_ids", str(uuid.uuid4()))]) == []
    filtered = body(client.get("/v1/datasets", headers=key, query_string=[("tag_ids", t1["id"]), ("limit", "1")]))
    assert (filtered["total"], filtered["has_more"]) == (2, True)
    assert names("/v1/datasets", headers=key) == ["a", "b", "c"]


def test_dataset_list_rejects_a_malformed_tag_id(client, owner, key):
    response = client.get("/v1/datasets", headers=key, query_string={"tag_ids": "not-a-uuid"})

    assert (response.status_code, body(response)["code"]) == (400, "invalid_param")
    assert body(response)["params"].startswith("tag_ids")


def test_app_list_filters_by_comma_separated_tag_ids(console, client, owner):
    tagged, other = console.create_app(owner, name="tagged"), console.create_app(owner, name="other")
    t1, t2 = _tag(console, owner, "t1", tag_type="app"), _tag(console, owner, "t2", tag_type="app")
    knowledge = _tag(console, owner, "k")
    _bind(console, owner, [t1["id"]], tagged["id"], tag_type="app")

    def names(tag_ids):
        response = console.call("get", "/apps", token=owner.token, query_string={"tag_ids": tag_ids}, expect=200)
        return [a["name"] for a in body(response)["data"]]

    assert names(f"{t2['id']},{t1['id']}") == ["tagged"]
    assert names(t2["id"]) == []
    assert names(knowledge["id"]) == []  # a knowledge tag never selects apps
    assert sorted(names("")) == sorted([tagged["name"], other["name"]])
    bad = console.call("get", "/apps", token=owner.token, query_string={"tag_ids": f"{t1['id']},nope"})
    assert (bad.status_code, body(bad)["params"]) == (400, "tag_ids")


# ---- roles ---------------------------------------------------------------------------------------------------

def test_dataset_operator_manages_knowledge_tags_but_not_app_tags(console, owner):
    operator = console.invite(owner, "op@example.com", "dataset_operator")
    dataset, app = _dataset(console, owner, permission="all_team_members"), console.create_app(owner)
    app_tag = _tag(console, owner, "A", tag_type="app")

    knowledge = _tag(console, operator, "K")
    _bind(console, operator, [knowledge["id"]], dataset["id"])
    denied = [
        console.call("post", "/tags", token=operator.token, json={"name": "X", "type": "app"}),
        console.call("get", "/tags?type=app", token=operator.token),
        console.call("patch", f"/tags/{app_tag['id']}", token=operator.token, json={"name": "Y"}),
        console.call("post", "/tag-bindings/create", token=operator.token,
                     json={"tag_ids": [app_tag["id"]], "target_id": app["id"], "type": "app"}),
        console.call("delete", f"/tags/{knowledge['id']}", token=operator.token),  # deleting takes an editor
    ]

    assert [(r.status_code, body(r)["code"]) for r in denied] == [(403, "forbidden")] * 5
    assert [t["name"] for t in _tags(console, owner, tag_type="app")] == ["A"]
    assert _tags(console, owner)[0]["binding_count"] == "1"


def test_normal_member_lists_tags_but_cannot_write_them(console, owner):
    member = console.invite(owner, "member@example.com", "normal")
    tag = _tag(console, owner, "K")

    listed = _tags(console, member)
    denied = console.call("post", "/tags", token=member.token, json={"name": "X", "type": "knowledge"})

    assert [t["id"] for t in listed] == [tag["id"]]
    assert denied.status_code == 403


def test_editor_cannot_bind_a_tag_to_a_dataset_it_may_not_see(console, owner):
    editor = console.invite(owner, "editor@example.com", "editor")
    private = _dataset(console, owner)  # only_me, created by the owner
    tag = _tag(console, editor, "K")

    response = _bind(console, editor, [tag["id"]], private["id"], expect=None)

    assert response.status_code == 403
    assert _tags(console, owner)[0]["binding_count"] == "0"


# ---- isolation between workspaces ----------------------------------------------------------------------------

def test_tags_and_targets_of_another_workspace_answer_404(console, client, owner, key):
    dataset, app = _dataset(console, owner), console.create_app(owner)
    tag, app_tag = _tag(console, owner, "Mine"), _tag(console, owner, "MyApp", tag_type="app")
    _bind(console, owner, [tag["id"]], dataset["id"])
    stranger = console.new_workspace_owner(owner, "stranger@example.com", "Elsewhere")
    their_dataset = _dataset(console, stranger)
    their_tag = _tag(console, stranger, "Theirs")
    their_key = bearer(dataset_key(console, stranger.token))

    answers = [
        console.call("patch", f"/tags/{tag['id']}", token=stranger.token, json={"name": "Hijacked"}),
        console.call("delete", f"/tags/{tag['id']}", token=stranger.token),
        _bind(console, stranger, [tag["id"]], their_dataset["id"], expect=None),  # my tag, their dataset
        _bind(console, stranger, [their_tag["id"]], dataset["id"], expect=None),  # their tag, my dataset
        _bind(console, stranger, [app_tag["id"]], app["id"], tag_type="app", expect=None),
        console.call("post", "/tag-bindings/remove", token=stranger.token,
                     json={"tag_id": tag["id"], "target_id": dataset["id"], "type": "knowledge"}),
        client.patch("/v1/datasets/tags", headers=their_key, json={"tag_id": tag["id"], "name": "Hijacked"}),
        client.delete("/v1/datasets/tags", headers=their_key, json={"tag_id": tag["id"]}),
        client.post("/v1/datasets/tags/binding", headers=their_key,
                    json={"tag_ids": [their_tag["id"]], "target_id": dataset["id"]}),
        client.post("/v1/datasets/tags/unbinding", headers=their_key,
                    json={"tag_id": tag["id"], "target_id": dataset["id"]}),
        client.get(f"/v1/datasets/{dataset['id']}/tags", headers=their_key),
    ]

    assert [r.status_code for r in answers] == [404] * len(answers)
    assert [t["name"] for t in _tags(console, stranger)] == ["Theirs"]
    assert [t["name"] for t in body(client.get("/v1/datasets/tags", headers=their_key))] == ["Theirs"]
    mine = _tags(console, owner)
    assert [(t["name"], t["binding_count"]) for t in mine] == [("Mine", "1")]
    assert body(client.get(f"/v1/datasets/{dataset['id']}/tags", headers=key))["total"] == 1


# ---- Service API (dataset keys) ------------------------------------------------------------------------------

def test_service_api_manages_knowledge_tags_and_bindings(console, client, owner, key):
    dataset = body(client.post("/v1/datasets", headers=key, json={"name": "Handbook"}))

    created = client.post("/v1/datasets/tags", headers=key, json={"name": "HR"})
    tag = body(created)
    renamed = client.patch("/v1/datasets/tags", headers=key, json={"tag_id": tag["id"], "name": "People"})
    bound = client.post("/v1/datasets/tags/binding", headers=key,
                        json={"tag_ids": [tag["id"]], "target_id": dataset["id"]})
    listed = body(client.get("/v1/datasets/tags", headers=key))
    of_dataset = body(client.get(f"/v1/datasets/{dataset['id']}/tags", headers=key))
    unbound = client.post("/api/datasets/tags/unbinding", headers=key,
                          json={"tag_id": tag["id"], "target_id": dataset["id"]})
    after = body(client.get(f"/api/datasets/{dataset['id']}/tags", headers=key))
    deleted = client.delete("/v1/datasets/tags", headers=key, json={"tag_id": tag["id"]})

    assert (created.status_code, tag["name"], tag["type"], tag["binding_count"]) == (200, "HR", "knowledge", 0)
    assert (renamed.status_code, body(renamed)["name"]) == (200, "People")
    assert bound.status_code == 204
    assert listed == [{"id": tag["id"], "name": "People", "type": "knowledge", "binding_count": "1"}]
    assert of_dataset == {"data": [{"id": tag["id"], "name": "People"}], "total": 1}
    assert (unbound.status_code, after) == (204, {"data": [], "total": 0})
    assert deleted.status_code == 204
    assert _tags(console, owner) == []


def test_service_api_reaches_knowledge_tags_only(console, client, owner, key):
    app_tag = _tag(console, owner, "AppTag", tag_type="app")

    renamed = client.patch("/v1/datasets/tags", headers=key, json={"tag_id": app_tag["id"], "name": "Mine now"})
    deleted = client.delete("/v1/datasets/tags", headers=key, json={"tag_id": app_tag["id"]})

    assert (renamed.status_code, deleted.status_code) == (404, 404)
    assert body(client.get("/v1/datasets/tags", headers=key)) == []
    assert [t["name"] for t in _tags(console, owner, tag_type="app")] == ["AppTag"]


@pytest.mark.parametrize(("method", "path", "payload", "param"), [
    ("post", "/v1/datasets/tags", {"name": "x" * 51}, "name"),
    ("post", "/v1/datasets/tags", {}, "name"),
    ("patch", "/v1/datasets/tags", {"name": "New"}, "tag_id"),
    ("delete", "/v1/datasets/tags", {}, "tag_id"),
    ("post", "/v1/datasets/tags/binding", {"tag_ids": "x", "target_id": "t"}, "tag_ids"),
    ("post", "/v1/datasets/tags/unbinding", {"target_id": "t"}, "tag_id"),
])
def test_service_api_tag_routes_reject_bad_input(client, key, method, path, payload, param):
    response = getattr(client, method)(path, headers=key, json=payload)

    assert response.status_code == 400
    assert (body(response)["code"], body(response)["params"]) == ("invalid_param", param)
    assert body(client.get("/v1/datasets/tags", headers=key)) == []
