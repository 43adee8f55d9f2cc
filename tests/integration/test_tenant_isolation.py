"""Tenant isolation, generated from the URL map so that a new route cannot escape it.

Tenant A (tests/integration/seed.py): an owner, an app of each mode, an app key, a dataset key, an invited member,
provider credentials, an end user with a conversation, a message and a running task, a dataset with an indexed
document and its segments. Knowledge routes of the Service API are called with the caller's own dataset key.
A caller from another workspace walks every route under /console/api, /v1 and /api with A's ids: every route
with an id answers 404 (never 403: ids are not probeable), routes without ids never echo anything of A's, and A is
unchanged afterwards. A route with a parameter this module does not know fails loudly, so the mapping grows with
the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fakes.llm_server import FakeLLMServer, start_llm_server
from tests.helpers import Console, Member, Route, api_routes, bearer, body, error_keys_ok, under_prefix
from tests.integration.knowledge_support import dataset_key
from tests.integration.seed import MODES, Seed, seed_workspace, stop_requested

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Routes anyone may call without credentials. Checked both ways: every entry exists, and every other
# route under the API prefixes answers 401 without credentials.
PUBLIC_ROUTES = frozenset({
    "GET /console/api/setup", "POST /console/api/setup", "GET /console/api/ping", "POST /console/api/login",
    "POST /console/api/refresh-token", "POST /console/api/activate", "GET /console/api/activate/check",
    "GET /v1/", "GET /api/",
})
# Outside the API prefixes: operational endpoints, and signed file links (the signature is the credential).
OUTSIDE_PREFIXES = frozenset({"/health", "/ready", "/metrics", "/files/<uuid:file_id>/file-preview"})
# A plausible, valid body for any write, so that the walk exercises the lookup and not the validation. Routes
# without ids get it without `query`/`inputs`, so the walk never starts a model run of the caller's own.
PLAUSIBLE_BODY = {"name": "renamed-by-intruder", "mode": "chat", "enable_api": False, "enable_site": False,
                  "role": "editor", "model": {"provider": "openai", "name": "gpt-4o"}, "icon": "x",
                  "icon_background": "#000000", "description": "intruder", "user": "intruder", "rating": "like",
                  "content": "intruder", "text": "intruder", "document_ids": ["00000000-0000-4000-8000-000000000000"],
                  "data_source": {"info_list": {"data_source_type": "upload_file", "file_info_list": {
                      "file_ids": ["00000000-0000-4000-8000-000000000000"]}}},
                  "segments": [{"content": "intruder"}], "segment": {"content": "intruder"},
                  "chunks": [{"content": "intruder"}], "process_rule": {"mode": "automatic"},
                  "indexing_technique": "economy", "info_list": {"data_source_type": "upload_file", "file_info_list": {
                      "file_ids": ["00000000-0000-4000-8000-000000000000"]}}}
RUN_FIELDS = {"query": "hi", "inputs": {}, "response_mode": "blocking",
              "model_config": {"model": {"provider": "openai", "name": "gpt-4o"}}}
WITH_BODY = ("POST", "PUT", "PATCH", "DELETE")

ID, OPAQUE = "id", "opaque"  # a tenant's object looked up by id (→ 404) / a name or token scoped by the caller


@dataclass
class Caller:
    """Someone acting from a workspace other than A's: console JWT, an app key of their own app and a knowledge
    key of their own workspace."""

    member: Member
    app_id: str
    app_key: str
    dataset_key: str

    def headers(self, route: Route) -> dict[str, str]:
        if route.is_console:
            return self.member.headers
        return bearer(self.dataset_key if is_knowledge(route) else self.app_key)


def is_knowledge(route: Route) -> bool:
    """Service-API routes authenticated with dataset keys."""
    return route.rule.split("/", 2)[-1].startswith("datasets")


def secrets_of(a: Seed) -> set[str]:
    """Everything of A's that must never appear in another tenant's answers."""
    return {a.owner.tenant_id, a.owner.account_id, a.member_id, a.app_key_id, a.app_key, a.dataset_key_id,
            a.end_user_id, a.conversation_id, a.message_id, a.task_id, a.provider_secret,
            a.provider_secret[-8:], "A-conversation", "A-answer", a.dataset_key, a.dataset_id, a.document_id,
            a.segment_id, a.upload_file_id, "A-dataset", "A-document", "A-segment-one", a.tag_id, "A-tag",
            a.parent_child_dataset_id, a.parent_child_document_id, a.parent_segment_id, a.child_chunk_id,
            "A-parent-one",
            *(app["id"] for app in a.apps.values()), *(app["name"] for app in a.apps.values())}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    server = start_llm_server()
    yield server
    server.stop()


@pytest.fixture
def console(client) -> Console:
    return Console(client)


@pytest.fixture
def tenant_a(console: Console, db_session, pg_app, llm) -> Seed:
    owner = console.setup_owner("a-owner@example.com", "A owner")
    return seed_workspace(console, db_session, pg_app, owner, llm.url, tag="A", member_email="a-member@example.com")


def _own_app(console: Console, member: Member) -> tuple[str, str, str]:
    app = console.create_app(member, mode="chat", name="Caller app")
    return app["id"], console.create_key(member, app["id"]), dataset_key(console, member.token)


@pytest.fixture
def stranger(console: Console, tenant_a: Seed) -> Caller:
    """B: owns its own workspace and has no membership in A (invited, moved out, then removed from A)."""
    member = console.new_workspace_owner(tenant_a.owner, "b-owner@example.com", "B workspace")
    console.call("delete", f"/workspaces/current/members/{member.account_id}", token=tenant_a.owner.token,
                 expect=200)
    return Caller(member, *_own_app(console, member))


@pytest.fixture
def dual_member(console: Console, tenant_a: Seed) -> Caller:
    """C: a `normal` member of A whose *current* workspace is one it owns; A's ids must not resolve there."""
    member = console.new_workspace_owner(tenant_a.owner, "c-owner@example.com", "C workspace")
    return Caller(member, *_own_app(console, member))


@pytest.fixture(params=["stranger", "dual_member"])
def intruder(request: pytest.FixtureRequest) -> Caller:
    return request.getfixturevalue(request.param)


def param_values(route: Route, a: Seed, app_id: str) -> dict[str, tuple[str, str]]:
    """(kind, A's value) for every parameter of `route`; an unknown parameter name fails loudly."""

    def key_id() -> str:
        if route.rule.startswith("/console/api/apps/<"):
            return a.app_key_id
        if route.rule.startswith("/console/api/datasets/"):
            return a.dataset_key_id
        pytest.fail(f"{route}: no mapping for key_id on this rule; teach param_values which of A's keys it takes")

    known: dict[str, Any] = {
        "app_id": lambda: (ID, app_id),
        "key_id": lambda: (ID, key_id()),
        "member_id": lambda: (ID, a.member_id),
        "end_user_id": lambda: (ID, a.end_user_id),
        "conversation_id": lambda: (ID, a.conversation_id),
        "message_id": lambda: (ID, a.message_id),
        "task_id": lambda: (OPAQUE, a.task_id),  # stop is a no-op unless the caller started the task (Dify)
        "provider": lambda: (OPAQUE, "openai"),  # names: every workspace has its own credentials for them
        "model_type": lambda: (OPAQUE, "llm"),
        "dataset_id": lambda: (ID, a.dataset_id),
        "document_id": lambda: (ID, a.document_id),
        "segment_id": lambda: (ID, a.segment_id),
        "batch": lambda: (ID, a.batch),
        "action": lambda: (OPAQUE, "disable"),  # document/segment action names
        "status": lambda: (OPAQUE, "disable"),  # dataset API access on/off
        "tag_id": lambda: (ID, a.tag_id),
        "child_chunk_id": lambda: (ID, a.child_chunk_id),
    }
    unknown = [p for p in route.params if p not in known]
    if unknown:
        pytest.fail(f"{route}: parameter(s) {unknown} unknown to the isolation walk; add A's object for them "
                    "to param_values (and tests/integration/seed.py) so the new route is covered")
    return {p: known[p]() for p in route.params}


def takes_ids(route: Route, a: Seed) -> bool:
    return any(kind == ID for kind, _ in param_values(route, a, "").values())


def a_paths(route: Route, a: Seed) -> list[str]:
    """The concrete paths of `route` filled with A's values: one per app of A when the route takes an app_id."""
    app_ids = [app["id"] for app in a.apps.values()] if "app_id" in route.params else [""]
    return [route.path({k: v for k, (_, v) in param_values(route, a, app_id).items()}) for app_id in app_ids]


def call(client, route: Route, path: str, headers: dict[str, str] | None = None, *, run_fields: bool = False):
    payload = ({**PLAUSIBLE_BODY, **(RUN_FIELDS if run_fields else {})} if route.method in WITH_BODY else None)
    query = {"user": "intruder"} if not route.is_console else None
    return client.open(path, method=route.method, headers=headers or {}, json=payload, query_string=query)


def walk_routes_with_ids(client, pg_app, a: Seed, caller: Caller) -> list[str]:
    """Call every route with ids, filled with A's ids, as `caller`; return the answers that are not a clean 404."""
    violations = []
    for route in api_routes(pg_app):
        if not takes_ids(route, a):
            continue
        for path in a_paths(route, a):
            response = call(client, route, path, caller.headers(route), run_fields=True)
            payload = response.get_json(silent=True)
            if response.status_code != 404 or not error_keys_ok(payload):
                violations.append(f"{route.method} {path} -> {response.status_code} {payload}")
    return violations


def walk_routes_without_ids(client, pg_app, a: Seed, caller: Caller) -> list[str]:
    """Call every route without ids (A's names/tokens filled in) as `caller`; return the answers that are 5xx or
    mention anything of A's."""
    violations = []
    secrets = secrets_of(a)
    for route in api_routes(pg_app):
        if takes_ids(route, a):
            continue
        for path in a_paths(route, a):
            response = call(client, route, path, caller.headers(route))
            text = response.get_data(as_text=True)
            leaked = sorted(s for s in secrets if s in text)
            if response.status_code >= 500 or leaked:
                violations.append(f"{route.method} {path} -> {response.status_code} leaked={leaked} {text[:300]}")
    return violations


def tenant_snapshot(console: Console, pg_app, a: Seed) -> dict[str, Any]:
    """What A's owner sees of A: apps in full, keys, members and roles, the workspace, provider credentials,
    the end user's conversation and message, the running task, and A's key still working."""
    token = a.owner.token

    def get(path: str) -> Any:
        return body(console.call("get", path, token=token, expect=200))

    apps = {app["id"]: get(f"/apps/{app['id']}") for app in a.apps.values()}
    service = {"user": "A-end-user"}
    key, knowledge = bearer(a.app_key), bearer(a.dataset_key)
    document = f"/datasets/{a.dataset_id}/documents/{a.document_id}"
    return {
        "apps": apps, "app_list": sorted(x["id"] for x in get("/apps?limit=100")["data"]),
        "app_keys": {app_id: get(f"/apps/{app_id}/api-keys") for app_id in apps},
        "dataset_keys": get("/datasets/api-keys"),
        "members": sorted((m["id"], m["role"]) for m in get("/workspaces/current/members")["accounts"]),
        "workspace": get("/workspaces/current")["name"],
        "provider": get("/workspaces/current/model-providers/openai/credentials"),
        "models": get("/workspaces/current/model-providers/openai/models"),
        "service_info": body(console.client.get("/v1/info", headers=key)),
        "conversations": body(console.client.get("/v1/conversations", headers=key, query_string=service)),
        "messages": body(console.client.get("/v1/messages", headers=key,
                                            query_string={**service, "conversation_id": a.conversation_id})),
        "stop_requested": stop_requested(pg_app, a.task_id),
        "datasets": get("/datasets?limit=100"), "documents": get(f"/datasets/{a.dataset_id}/documents"),
        "document": get(document), "segments": get(f"{document}/segments"),
        "service_datasets": body(console.client.get("/v1/datasets", headers=knowledge)),
        "tags": {t: get(f"/tags?type={t}") for t in ("knowledge", "app")},
        "service_tags": body(console.client.get("/v1/datasets/tags", headers=knowledge)),
    }


# ---- the route inventory ---------------------------------------------------------------------------------------

def test_url_map_has_no_rule_outside_the_api_prefixes_but_the_listed_ones(pg_app):
    rules = {rule.rule for rule in pg_app.url_map.iter_rules()}

    stray = sorted(r for r in rules if not under_prefix(r) and r not in OUTSIDE_PREFIXES)

    assert stray == [], "a route outside /console/api, /v1, /api: decide how it is authenticated and isolated"
    assert sorted(OUTSIDE_PREFIXES - rules) == [], "OUTSIDE_PREFIXES names rules that no longer exist"


def test_public_allow_list_names_only_existing_routes(pg_app):
    existing = {str(route) for route in api_routes(pg_app)}

    stale = sorted(PUBLIC_ROUTES - existing)

    assert stale == [], "PUBLIC_ROUTES names routes that no longer exist: remove them"


def test_every_non_public_route_returns_401_without_credentials(client, pg_app, tenant_a):
    failures = []

    for route in api_routes(pg_app):
        if str(route) in PUBLIC_ROUTES:
            continue
        for path in a_paths(route, tenant_a):
            response = call(client, route, path)
            if response.status_code != 401 or body(response)["code"] != "unauthorized":
                failures.append(f"{route.method} {path} -> {response.status_code} {body(response)}")

    # a route answering without credentials belongs in PUBLIC_ROUTES only if it is meant to be public
    assert not failures, "\n".join(failures)


# ---- the cross-tenant walk -------------------------------------------------------------------------------------

def test_every_route_with_ids_returns_404_when_ids_belong_to_another_workspace(client, pg_app, tenant_a, intruder):
    violations = walk_routes_with_ids(client, pg_app, tenant_a, intruder)

    assert not violations, "\n".join(violations)


def test_every_route_without_ids_never_returns_another_workspaces_ids(client, pg_app, tenant_a, stranger):
    violations = walk_routes_without_ids(client, pg_app, tenant_a, stranger)

    assert not violations, "\n".join(violations)


def test_tenant_is_unchanged_after_another_workspace_walks_every_route(client, pg_app, console, tenant_a, intruder):
    before = tenant_snapshot(console, pg_app, tenant_a)

    walk_routes_with_ids(client, pg_app, tenant_a, intruder)
    walk_routes_without_ids(client, pg_app, tenant_a, intruder)

    after = tenant_snapshot(console, pg_app, tenant_a)
    assert after == before
    assert dict(after["members"])[tenant_a.member_id] == "normal"
    assert {app["name"] for app in after["apps"].values()} == {f"A-{mode}-app" for mode in MODES}
    assert [m["id"] for m in after["messages"]["data"]] == [tenant_a.message_id]
    assert after["stop_requested"] is False


# ---- targeted cases the generic walk cannot express -----------------------------------------------------------

def test_workspace_switch_returns_404_when_tenant_is_foreign(console, tenant_a, stranger):
    response = console.call("post", "/workspaces/switch", token=stranger.member.token,
                            json={"tenant_id": tenant_a.owner.tenant_id})

    assert response.status_code == 404
    current = body(console.call("get", "/workspaces/current", token=stranger.member.token, expect=200))
    assert current["id"] == stranger.member.tenant_id


def test_app_key_delete_returns_404_when_key_belongs_to_another_workspace(console, tenant_a, stranger):
    response = console.call("delete", f"/apps/{stranger.app_id}/api-keys/{tenant_a.app_key_id}",
                            token=stranger.member.token)

    assert response.status_code == 404
    assert console.client.get("/v1/info", headers=bearer(tenant_a.app_key)).status_code == 200


@pytest.mark.parametrize("target", ["dataset_key_under_app", "app_key_under_datasets", "key_of_another_app"])
def test_key_delete_returns_404_when_key_is_not_under_that_resource(console, tenant_a, target):
    apps = tenant_a.apps
    path = {
        "dataset_key_under_app": f"/apps/{apps['chat']['id']}/api-keys/{tenant_a.dataset_key_id}",
        "app_key_under_datasets": f"/datasets/api-keys/{tenant_a.app_key_id}",
        "key_of_another_app": f"/apps/{apps['completion']['id']}/api-keys/{tenant_a.app_key_id}",
    }[target]

    response = console.call("delete", path, token=tenant_a.owner.token)

    assert response.status_code == 404
    assert console.client.get("/v1/info", headers=bearer(tenant_a.app_key)).status_code == 200


def test_end_user_lookup_returns_404_when_end_user_belongs_to_another_app_of_same_workspace(console, tenant_a):
    other_key = console.create_key(tenant_a.owner, tenant_a.apps["completion"]["id"])

    response = console.client.get(f"/v1/end-users/{tenant_a.end_user_id}", headers=bearer(other_key))

    assert response.status_code == 404


def test_end_user_lookup_returns_end_user_to_its_own_app(console, tenant_a):
    response = console.client.get(f"/v1/end-users/{tenant_a.end_user_id}", headers=bearer(tenant_a.app_key))

    assert response.status_code == 200
    assert body(response)["id"] == tenant_a.end_user_id


def test_unknown_uuid_is_indistinguishable_from_a_foreign_id(console, tenant_a, stranger):
    foreign = console.call("get", f"/apps/{tenant_a.apps['chat']['id']}", token=stranger.member.token)
    unknown = console.call("get", f"/apps/{uuid.uuid4()}", token=stranger.member.token)

    assert (foreign.status_code, body(foreign)) == (unknown.status_code, body(unknown))


def test_chat_message_returns_404_when_conversation_belongs_to_another_workspace(console, tenant_a, stranger):
    response = console.client.post("/v1/chat-messages", headers=bearer(stranger.app_key), json={
        "query": "hi", "inputs": {}, "user": "intruder", "conversation_id": tenant_a.conversation_id})

    assert response.status_code == 404
    assert error_keys_ok(body(response))


def test_message_list_returns_404_when_conversation_belongs_to_another_workspace(console, tenant_a, stranger):
    response = console.client.get("/v1/messages", headers=bearer(stranger.app_key),
                                  query_string={"user": "intruder", "conversation_id": tenant_a.conversation_id})

    assert response.status_code == 404
    assert tenant_a.message_id not in response.get_data(as_text=True)


def test_conversation_list_never_pages_from_another_workspaces_conversation(console, tenant_a, stranger):
    response = console.client.get("/v1/conversations", headers=bearer(stranger.app_key),
                                  query_string={"user": "intruder", "last_id": tenant_a.conversation_id})

    assert response.status_code in (200, 404)
    assert tenant_a.conversation_id not in response.get_data(as_text=True)
    assert "A-conversation" not in response.get_data(as_text=True)


@pytest.mark.parametrize("prefix", ["/v1/chat-messages", "/v1/completion-messages"])
def test_stop_is_a_no_op_when_task_belongs_to_another_workspace(console, pg_app, tenant_a, stranger, prefix):
    response = console.client.post(f"{prefix}/{tenant_a.task_id}/stop", headers=bearer(stranger.app_key),
                                   json={"user": "A-end-user"})

    assert response.status_code == 200
    assert stop_requested(pg_app, tenant_a.task_id) is False


def test_stop_by_the_end_user_who_started_the_task_sets_the_flag(console, pg_app, tenant_a):
    response = console.client.post(f"/v1/chat-messages/{tenant_a.task_id}/stop", headers=bearer(tenant_a.app_key),
                                   json={"user": "A-end-user"})

    assert response.status_code == 200
    assert stop_requested(pg_app, tenant_a.task_id) is True


def test_provider_credentials_of_another_workspace_are_invisible(console, tenant_a, stranger):
    response = console.call("get", "/workspaces/current/model-providers/openai/credentials",
                            token=stranger.member.token, expect=200)

    assert body(response)["credentials"] is None
    providers = console.call("get", "/workspaces/current/model-providers", token=stranger.member.token, expect=200)
    assert tenant_a.owner.tenant_id not in providers.get_data(as_text=True)


def test_file_preview_is_refused_without_a_valid_signature(console, tenant_a):
    response = console.client.get(f"/files/{uuid.uuid4()}/file-preview",
                                  query_string={"timestamp": "1", "nonce": "x", "sign": "forged"})

    assert 400 <= response.status_code < 500
    assert error_keys_ok(body(response))
