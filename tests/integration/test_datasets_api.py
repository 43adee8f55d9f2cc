"""Datasets over the console and the Service API (dataset keys): CRUD, validation, roles, isolation, key auth."""

from __future__ import annotations

import uuid

import pytest

from api.models.dataset import DocumentSegment
from tests.helpers import Console, bearer, body
from tests.integration.knowledge_support import dataset_key, text_document

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


def _create(client, key, **fields):
    return client.post("/v1/datasets", headers=key, json={"name": f"kb-{uuid.uuid4().hex[:6]}", **fields})


# ---- CRUD --------------------------------------------------------------------------------------------------

def test_service_create_dataset_returns_detail_with_defaults(client, key):
    response = _create(client, key, name="Handbook", description="All about us", indexing_technique="economy")

    assert response.status_code == 200
    detail = body(response)
    assert (detail["name"], detail["description"], detail["permission"]) == ("Handbook", "All about us", "only_me")
    assert detail["indexing_technique"] == "economy"
    assert (detail["document_count"], detail["word_count"], detail["app_count"]) == (0, 0, 0)
    assert detail["embedding_available"] is True
    assert detail["retrieval_model_dict"]["search_method"] == "keyword_search"  # economy datasets search keywords
    assert detail["retrieval_model_dict"]["top_k"] == 4


def test_console_create_dataset_answers_201_and_lists_it(console, owner):
    created = console.call("post", "/datasets", token=owner.token, json={"name": "Console KB"}, expect=201)

    listed = body(console.call("get", "/datasets", token=owner.token, expect=200))

    assert [d["id"] for d in listed["data"]] == [body(created)["id"]]
    assert (listed["total"], listed["page"], listed["limit"], listed["has_more"]) == (1, 1, 20, False)


def test_list_datasets_paginates_and_filters_by_keyword(client, key):
    for name in ("alpha notes", "beta notes", "gamma"):
        _create(client, key, name=name)

    page = body(client.get("/v1/datasets?page=1&limit=2", headers=key))
    second = body(client.get("/v1/datasets?page=2&limit=2", headers=key))
    found = body(client.get("/v1/datasets?keyword=notes", headers=key))

    assert (len(page["data"]), page["total"], page["has_more"]) == (2, 3, True)
    assert (len(second["data"]), second["has_more"]) == (1, False)
    assert sorted(d["name"] for d in found["data"]) == ["alpha notes", "beta notes"]


def test_update_dataset_changes_fields_and_retrieval_model(client, key):
    dataset = body(_create(client, key, indexing_technique="high_quality"))
    model = {"search_method": "hybrid_search", "reranking_enable": False, "top_k": 7, "score_threshold_enabled": True,
             "score_threshold": 0.3, "weights": {"vector_setting": {"vector_weight": 0.6},
                                                 "keyword_setting": {"keyword_weight": 0.4}}}

    response = client.patch(f"/v1/datasets/{dataset['id']}", headers=key, json={
        "name": "Renamed", "description": "new", "permission": "all_team_members", "retrieval_model": model})

    assert response.status_code == 200, body(response)
    detail = body(client.get(f"/v1/datasets/{dataset['id']}", headers=key))
    assert (detail["name"], detail["description"], detail["permission"]) == ("Renamed", "new", "all_team_members")
    assert detail["retrieval_model_dict"]["search_method"] == "hybrid_search"
    assert detail["retrieval_model_dict"]["top_k"] == 7
    assert detail["retrieval_model_dict"]["weights"]["vector_setting"]["vector_weight"] == 0.6


def test_delete_dataset_answers_204_and_then_404(client, key):
    dataset = body(_create(client, key))

    deleted = client.delete(f"/v1/datasets/{dataset['id']}", headers=key)

    assert deleted.status_code == 204
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=key).status_code == 404


def test_delete_dataset_removes_documents_and_segments(client, key, db_session, pg_app, owner):
    dataset = body(_create(client, key, indexing_technique="economy"))
    document = text_document(pg_app, db_session, tenant_id=owner.tenant_id, dataset_id=dataset["id"])

    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=key).status_code == 204

    assert db_session.query(DocumentSegment).filter_by(document_id=document.id).count() == 0


def test_dataset_detail_counts_documents_and_words(client, key, db_session, pg_app, owner):
    dataset = body(_create(client, key, indexing_technique="economy"))
    text_document(pg_app, db_session, tenant_id=owner.tenant_id, dataset_id=dataset["id"], text="One two.\n\nThree.")

    detail = body(client.get(f"/v1/datasets/{dataset['id']}", headers=key))

    assert detail["document_count"] == 1
    assert detail["total_available_documents"] == 1
    assert detail["word_count"] > 0


# ---- validation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "param"), [
    ({"name": ""}, "name"), ({"name": "x" * 41}, "name"), ({"description": "d" * 401}, "description"),
    ({"indexing_technique": "best"}, "indexing_technique"), ({"permission": "everyone"}, "permission"),
    ({"retrieval_model": {"search_method": "magic"}}, "retrieval_model.search_method"),
    ({"retrieval_model": {"search_method": "semantic_search", "top_k": 11}}, "retrieval_model.top_k"),
    ({"retrieval_model": {"search_method": "semantic_search", "score_threshold": 1.5}},
     "retrieval_model.score_threshold"),
    ({"retrieval_model": {"search_method": "hybrid_search", "reranking_enable": True}},
     "retrieval_model.reranking_model"),
    ({"embedding_model": "m", "embedding_model_provider": "nope"}, "embedding_model_provider"),
])
def test_create_dataset_rejects_invalid_field_with_invalid_param(client, key, fields, param):
    response = client.post("/v1/datasets", headers=key, json={"name": "kb", **fields})

    assert response.status_code == 400
    assert body(response)["code"] == "invalid_param"
    assert body(response)["params"] == param


def test_create_dataset_returns_409_when_name_exists(client, key):
    _create(client, key, name="Same")

    response = _create(client, key, name="Same")

    assert response.status_code == 409
    assert body(response)["code"] == "dataset_name_duplicate"


def test_update_dataset_returns_409_when_renamed_to_an_existing_name(client, key):
    _create(client, key, name="Taken")
    other = body(_create(client, key, name="Other"))

    response = client.patch(f"/v1/datasets/{other['id']}", headers=key, json={"name": "Taken"})

    assert response.status_code == 409
    assert body(response)["code"] == "dataset_name_duplicate"


# ---- roles and visibility ----------------------------------------------------------------------------------

def test_dataset_operator_can_create_update_and_delete_datasets(console, owner):
    operator = console.invite(owner, "op@example.com", "dataset_operator")

    created = body(console.call("post", "/datasets", token=operator.token, json={"name": "Ops"}, expect=201))
    console.call("patch", f"/datasets/{created['id']}", token=operator.token, json={"description": "x"}, expect=200)
    console.call("delete", f"/datasets/{created['id']}", token=operator.token, expect=204)


def test_normal_member_reads_but_cannot_write_datasets(console, owner):
    member = console.invite(owner, "member@example.com", "normal")
    shared = body(console.call("post", "/datasets", token=owner.token, expect=201,
                               json={"name": "Shared", "permission": "all_team_members"}))

    console.call("get", f"/datasets/{shared['id']}", token=member.token, expect=200)
    forbidden = console.call("post", "/datasets", token=member.token, json={"name": "Mine"})
    patched = console.call("patch", f"/datasets/{shared['id']}", token=member.token, json={"name": "Hijacked"})

    assert (forbidden.status_code, body(forbidden)["code"]) == (403, "forbidden")
    assert patched.status_code == 403


def test_only_me_dataset_is_visible_to_its_creator_and_admins_only(console, owner):
    editor = console.invite(owner, "editor@example.com", "editor")
    admin = console.invite(owner, "admin@example.com", "admin")
    private = body(console.call("post", "/datasets", token=editor.token, json={"name": "Private"}, expect=201))

    owner_sees = [d["id"] for d in body(console.call("get", "/datasets", token=owner.token))["data"]]
    admin_get = console.call("get", f"/datasets/{private['id']}", token=admin.token)
    other = console.invite(owner, "editor2@example.com", "editor")
    other_list = [d["id"] for d in body(console.call("get", "/datasets", token=other.token))["data"]]
    other_get = console.call("get", f"/datasets/{private['id']}", token=other.token)

    assert private["id"] in owner_sees
    assert admin_get.status_code == 200
    assert private["id"] not in other_list
    assert other_get.status_code == 403


def test_dataset_of_another_workspace_answers_404(console, client, owner, key):
    dataset = body(_create(client, key))
    stranger = console.new_workspace_owner(owner, "stranger@example.com", "Elsewhere")
    stranger_key = bearer(dataset_key(console, stranger.token))

    console_get = console.call("get", f"/datasets/{dataset['id']}", token=stranger.token)
    service_get = client.get(f"/v1/datasets/{dataset['id']}", headers=stranger_key)

    assert console_get.status_code == 404
    assert service_get.status_code == 404
    assert body(service_get)["message"] == "Dataset not found."


# ---- dataset key authentication ----------------------------------------------------------------------------

def test_app_key_is_rejected_on_dataset_routes(console, client, owner):
    app = console.create_app(owner)
    app_key = console.create_key(owner, app["id"])

    response = client.get("/v1/datasets", headers=bearer(app_key))

    assert response.status_code == 401
    assert body(response)["code"] == "unauthorized"


def test_dataset_key_is_rejected_on_app_routes(client, key):
    response = client.get("/v1/info", headers=key)

    assert response.status_code == 401


def test_dataset_with_api_access_disabled_answers_403(console, client, owner, key):
    dataset = body(_create(client, key))
    console.call("post", f"/datasets/{dataset['id']}/api-keys/disable", token=owner.token, expect=200)

    response = client.get(f"/v1/datasets/{dataset['id']}", headers=key)

    assert response.status_code == 403
    assert body(response)["message"] == "Dataset api access is not enabled."
    console.call("post", f"/datasets/{dataset['id']}/api-keys/enable", token=owner.token, expect=200)
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=key).status_code == 200


def test_api_access_toggle_rejects_unknown_status(console, client, owner, key):
    dataset = body(_create(client, key))

    response = console.call("post", f"/datasets/{dataset['id']}/api-keys/maybe", token=owner.token)

    assert (response.status_code, body(response)["code"]) == (400, "invalid_action")


def test_service_api_answers_on_both_prefixes(client, key):
    dataset = body(_create(client, key))

    assert client.get(f"/api/datasets/{dataset['id']}", headers=key).status_code == 200
