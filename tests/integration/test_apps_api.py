import pytest
import sqlalchemy as sa

from api.models.app import ApiToken
from tests.e2e.chat_support import eventually
from tests.helpers import Console, bearer, body

APPS = "/console/api/apps"
MODEL = {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}}


@pytest.fixture
def owner(client):
    return Console(client).setup_owner()


@pytest.mark.parametrize(("mode", "has_config"), [("chat", True), ("agent-chat", True), ("completion", True),
                                                  ("advanced-chat", False), ("workflow", False)])
def test_create_app_in_each_mode(client, owner, mode, has_config):
    response = client.post(APPS, headers=owner.headers, json={"name": "A", "mode": mode, "description": "d",
                                                              "icon_type": "emoji", "icon": "🤖"})

    app = body(response)
    assert response.status_code == 201
    assert app["mode"] == mode
    assert app["enable_api"] is True
    assert app["enable_site"] is True
    assert (app["model_config"] is not None) is has_config
    assert app["site"]["code"]
    assert len(app["site"]["code"]) == 16
    assert app["api_base_url"].endswith("/v1")


@pytest.mark.parametrize("payload", [{"name": "", "mode": "chat"}, {"name": "A", "mode": "channel"},
                                     {"name": "A"}, {"name": "A", "mode": "chat", "description": "x" * 401},
                                     {"name": "A", "mode": "chat", "icon_type": "gif"}, {"name": 5, "mode": "chat"}])
def test_create_app_rejects_bad_payload(client, owner, payload):
    response = client.post(APPS, headers=owner.headers, json=payload)

    assert response.status_code == 400
    assert body(response)["code"] == "invalid_param"
    assert body(client.get(APPS, headers=owner.headers))["total"] == 0


def test_list_apps_paginates_and_filters(client, owner):
    for i in range(5):
        client.post(APPS, headers=owner.headers, json={"name": f"chat {i}", "mode": "chat"})
    client.post(APPS, headers=owner.headers, json={"name": "100%_wf", "mode": "workflow"})

    page1 = body(client.get(APPS, headers=owner.headers, query_string={"page": 1, "limit": 4}))
    page2 = body(client.get(APPS, headers=owner.headers, query_string={"page": 2, "limit": 4}))
    workflows = body(client.get(APPS, headers=owner.headers, query_string={"mode": "workflow"}))
    by_name = body(client.get(APPS, headers=owner.headers, query_string={"name": "%_"}))

    assert (page1["total"], page1["has_more"], len(page1["data"])) == (6, True, 4)
    assert (page2["has_more"], len(page2["data"])) == (False, 2)
    assert page1["data"][0]["name"] == "100%_wf"  # newest first
    assert [a["name"] for a in workflows["data"]] == ["100%_wf"]
    assert [a["name"] for a in by_name["data"]] == ["100%_wf"]
    assert page1["data"][1]["author_name"] == "Owner"


def test_update_app_sets_limits_and_get_reflects_them(client, owner):
    app = Console(client).create_app(owner)

    response = client.put(f"{APPS}/{app['id']}", headers=owner.headers,
                          json={"name": "Renamed", "api_rpm": 60, "api_rph": 1000, "max_active_requests": 3,
                                "unknown_field": "ignored"})
    fetched = body(client.get(f"{APPS}/{app['id']}", headers=owner.headers))

    assert response.status_code == 200
    assert (fetched["name"], fetched["api_rpm"], fetched["api_rph"], fetched["max_active_requests"]) == (
        "Renamed", 60, 1000, 3)


def test_delete_app_removes_it_and_its_keys(client, owner, db_session):
    console = Console(client)
    app = console.create_app(owner)
    key = console.create_key(owner, app["id"])
    client.get("/v1/parameters", headers=bearer(key))

    deleted = client.delete(f"{APPS}/{app['id']}", headers=owner.headers)

    assert deleted.status_code == 204
    assert client.get(f"{APPS}/{app['id']}", headers=owner.headers).status_code == 404
    assert client.get("/v1/parameters", headers=bearer(key)).status_code == 401
    assert db_session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_copy_app_duplicates_config_with_new_site(client, owner):
    app = Console(client).create_app(owner, mode="completion")

    copy = body(client.post(f"{APPS}/{app['id']}/copy", headers=owner.headers, json={"name": "Copy"}))

    assert copy["id"] != app["id"]
    assert copy["name"] == "Copy"
    assert copy["mode"] == "completion"
    assert copy["model_config"]["pre_prompt"] == "{{query}}"
    assert copy["site"]["code"] != app["site"]["code"]


def test_model_config_is_validated_and_served_by_parameters(client, owner):
    console = Console(client)
    app = console.create_app(owner)
    key = console.create_key(owner, app["id"])
    config = {"model": MODEL, "pre_prompt": "Hi {{name}}", "opening_statement": "Hello!",
              "suggested_questions": ["What?"],
              "user_input_form": [{"text-input": {"label": "Name", "variable": "name", "required": True}},
                                  {"select": {"label": "Tone", "variable": "tone", "options": ["a", "b"]}}]}

    bad = client.post(f"{APPS}/{app['id']}/model-config", headers=owner.headers,
                      json={"model": {**MODEL, "provider": "nope"}})
    saved = client.post(f"{APPS}/{app['id']}/model-config", headers=owner.headers, json=config)
    params = body(client.get("/v1/parameters", headers=bearer(key)))

    assert bad.status_code == 400
    assert body(bad)["params"] == "model.provider"
    assert body(saved) == {"result": "success"}
    assert params["opening_statement"] == "Hello!"
    assert params["suggested_questions"] == ["What?"]
    assert [next(iter(i.values()))["variable"] for i in params["user_input_form"]] == ["name", "tone"]


def test_model_config_on_workflow_app_is_app_not_found(client, owner):
    app = Console(client).create_app(owner, mode="workflow")

    response = client.post(f"{APPS}/{app['id']}/model-config", headers=owner.headers, json={"model": MODEL})

    assert response.status_code == 404
    assert body(response)["code"] == "app_not_found"


def test_api_keys_are_returned_once_listed_masked_and_stored_hashed(client, owner, db_session):
    console = Console(client)
    app = console.create_app(owner)

    created = body(client.post(f"{APPS}/{app['id']}/api-keys", headers=owner.headers))
    listed = body(client.get(f"{APPS}/{app['id']}/api-keys", headers=owner.headers))["data"]
    stored = db_session.scalar(sa.select(ApiToken.token).where(ApiToken.id == created["id"]))

    assert created["token"].startswith("app-")
    assert len(created["token"]) == 28
    assert listed == [{**created, "token": f"{created['token'][:8]}…{created['token'][-4:]}"}]
    assert created["token"] not in stored
    assert len(stored) == 64


def test_eleventh_app_key_is_max_keys_exceeded(client, owner):
    app = Console(client).create_app(owner)
    for _ in range(10):
        assert client.post(f"{APPS}/{app['id']}/api-keys", headers=owner.headers).status_code == 201

    response = client.post(f"{APPS}/{app['id']}/api-keys", headers=owner.headers)

    assert response.status_code == 400
    assert body(response) == {"code": "max_keys_exceeded", "status": 400,
                              "message": "Cannot create more than 10 API keys for this resource type."}


def test_deleted_key_stops_working_at_once_in_another_process(client, client_b, owner):
    console = Console(client)
    app = console.create_app(owner)
    key = console.create_key(owner, app["id"])
    key_id = body(client.get(f"{APPS}/{app['id']}/api-keys", headers=owner.headers))["data"][0]["id"]
    assert client_b.get("/v1/parameters", headers=bearer(key)).status_code == 200  # warm the other cache

    client.delete(f"{APPS}/{app['id']}/api-keys/{key_id}", headers=owner.headers)

    assert _first_not(200, lambda: client_b.get("/v1/parameters", headers=bearer(key))).status_code == 401


def test_disabling_api_answers_403_and_reenabling_restores(client, client_b, owner):
    console = Console(client)
    app = console.create_app(owner)
    key = console.create_key(owner, app["id"])
    assert client_b.get("/v1/info", headers=bearer(key)).status_code == 200

    client.post(f"{APPS}/{app['id']}/api-enable", headers=owner.headers, json={"enable_api": False})
    disabled = _first_not(200, lambda: client_b.get("/v1/info", headers=bearer(key)))
    client.post(f"{APPS}/{app['id']}/api-enable", headers=owner.headers, json={"enable_api": True})
    enabled = _first_not(403, lambda: client_b.get("/v1/info", headers=bearer(key)))

    assert disabled.status_code == 403
    assert body(disabled)["message"] == "The app's API service has been disabled."
    assert enabled.status_code == 200


def _first_not(status, call, seconds=2.0):
    """The first response whose status is not `status` (fails after `seconds`): the other process hears of the change
    through its cache's invalidation listener (Redis pub/sub), a moment after the write. Well under the cache's 10 s
    TTL, so only the invalidation can make the change visible in time."""

    def changed():
        response = call()
        return response if response.status_code != status else None

    return eventually(changed, timeout=seconds, interval=0.01)


def test_service_api_is_the_same_at_v1_and_api(client, owner):
    console = Console(client)
    key = console.create_key(owner, console.create_app(owner)["id"])

    for path in ("/parameters", "/meta", "/info", "/site"):
        v1, api = client.get(f"/v1{path}", headers=bearer(key)), client.get(f"/api{path}", headers=bearer(key))
        assert v1.status_code == api.status_code == 200
        assert body(v1) == body(api)


def test_service_api_rejects_missing_and_wrong_kind_of_key(client, owner):
    dataset_key = body(client.post("/console/api/datasets/api-keys", headers=owner.headers))["token"]

    missing = client.get("/v1/parameters")
    wrong_scheme = client.get("/v1/parameters", headers={"Authorization": f"Basic {dataset_key}"})
    dataset = client.get("/v1/parameters", headers=bearer(dataset_key))

    assert missing.status_code == wrong_scheme.status_code == dataset.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_dataset_keys_are_workspace_wide_and_limited_to_ten(client, owner):
    for _ in range(10):
        assert client.post("/console/api/datasets/api-keys", headers=owner.headers).status_code == 200

    over = client.post("/console/api/datasets/api-keys", headers=owner.headers)
    listed = body(client.get("/console/api/datasets/api-keys", headers=owner.headers))["data"]

    assert body(over)["code"] == "max_keys_exceeded"
    assert len(listed) == 10
    assert all(k["type"] == "dataset" and "…" in k["token"] for k in listed)
    base = body(client.get("/console/api/datasets/api-base-info", headers=owner.headers))["api_base_url"]
    assert base.endswith("/v1")
