"""Tenant isolation, generated from the URL map so that a new route cannot escape it.

Tenant A: an owner, an app of each mode, an app key, a dataset key, an invited member, an end user.
A caller from another workspace walks every route under /console/api, /v1 and /api with A's ids:
every route with ids answers 404 (never 403: ids are not probeable), routes without ids never echo
any of A's ids or names, and A is unchanged afterwards. A route with a parameter this module does not
know fails loudly, so the mapping (and this test) must grow with the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from api.services import service_auth_service
from tests.helpers import Console, Member, Route, api_routes, bearer, body, error_keys_ok, under_prefix

pytestmark = pytest.mark.integration

MODES = ("chat", "completion", "workflow")
# Routes anyone may call without credentials. Checked both ways: every entry exists, and every other
# route under the API prefixes answers 401 without credentials.
PUBLIC_ROUTES = frozenset({
    "GET /console/api/setup", "POST /console/api/setup", "GET /console/api/ping", "POST /console/api/login",
    "POST /console/api/refresh-token", "POST /console/api/activate", "GET /console/api/activate/check",
    "GET /v1/", "GET /api/",
})
OPS_RULES = frozenset({"/health", "/ready", "/metrics"})  # operational, outside the API prefixes, no auth
# A plausible, valid body for any write, so that the walk exercises the lookup and not the validation.
PLAUSIBLE_BODY = {"name": "renamed-by-intruder", "mode": "chat", "enable_api": False, "enable_site": False,
                  "role": "editor", "model": {"provider": "openai", "name": "gpt-4o"}, "icon": "x",
                  "icon_background": "#000000", "description": "intruder"}
WRITE_METHODS = ("POST", "PUT", "PATCH")


@dataclass
class TenantA:
    owner: Member
    member: Member  # invited as `normal`; PLAUSIBLE_BODY would make it an editor
    apps: dict[str, dict[str, Any]]  # mode -> app detail
    app_key_id: str
    app_key: str
    dataset_key_id: str
    end_user_id: str

    def secrets(self) -> set[str]:
        """Everything of A's that must never appear in another tenant's answers."""
        return {self.owner.tenant_id, self.owner.account_id, self.member.account_id, self.app_key_id,
                self.app_key, self.dataset_key_id, self.end_user_id,
                *(a["id"] for a in self.apps.values()), *(a["name"] for a in self.apps.values())}


@dataclass
class Caller:
    """Someone acting from a workspace other than A's: console JWT and an app key of their own app."""

    member: Member
    app_id: str
    app_key: str

    def headers(self, route: Route) -> dict[str, str]:
        return self.member.headers if route.is_console else bearer(self.app_key)


def _create_key(console: Console, member: Member, path: str) -> dict[str, Any]:
    response = console.call("post", path, token=member.token)
    assert response.status_code in (200, 201), body(response)
    return body(response)


@pytest.fixture
def console(client) -> Console:
    return Console(client)


@pytest.fixture
def tenant_a(console: Console, db_session) -> TenantA:
    owner = console.setup_owner("a-owner@example.com", "A owner")
    apps = {mode: console.create_app(owner, mode=mode, name=f"A-secret-{mode}-app") for mode in MODES}
    app_key = _create_key(console, owner, f"/apps/{apps['chat']['id']}/api-keys")
    dataset_key = _create_key(console, owner, "/datasets/api-keys")
    member = console.invite(owner, "a-member@example.com", "normal")
    snapshot = service_auth_service.load_snapshot(db_session, apps["chat"]["id"])
    assert snapshot is not None
    end_user = service_auth_service.get_or_create_end_user(db_session, snapshot=snapshot, user="a-end-user",
                                                           required=True)
    return TenantA(owner=owner, member=member, apps=apps, app_key_id=app_key["id"], app_key=app_key["token"],
                   dataset_key_id=dataset_key["id"], end_user_id=end_user.id)


def _own_app(console: Console, member: Member) -> tuple[str, str]:
    app = console.create_app(member, mode="chat", name="Caller app")
    return app["id"], console.create_key(member, app["id"])


@pytest.fixture
def stranger(console: Console, tenant_a: TenantA) -> Caller:
    """B: owns its own workspace and has no membership in A (invited, moved out, then removed from A)."""
    member = console.new_workspace_owner(tenant_a.owner, "b-owner@example.com", "B workspace")
    console.call("delete", f"/workspaces/current/members/{member.account_id}", token=tenant_a.owner.token,
                 expect=200)
    return Caller(member, *_own_app(console, member))


@pytest.fixture
def dual_member(console: Console, tenant_a: TenantA) -> Caller:
    """C: a `normal` member of A whose *current* workspace is one it owns; A's ids must not resolve there."""
    member = console.new_workspace_owner(tenant_a.owner, "c-owner@example.com", "C workspace")
    return Caller(member, *_own_app(console, member))


@pytest.fixture(params=["stranger", "dual_member"])
def intruder(request: pytest.FixtureRequest) -> Caller:
    return request.getfixturevalue(request.param)


def param_values(route: Route, a: TenantA, app_id: str) -> dict[str, str]:
    """A's id for every parameter of `route`; an unknown parameter name fails loudly."""

    def key_id() -> str:
        if route.rule.startswith("/console/api/apps/<"):
            return a.app_key_id
        if route.rule.startswith("/console/api/datasets/"):
            return a.dataset_key_id
        pytest.fail(f"{route}: no mapping for key_id on this rule; teach param_values which of A's keys it takes")

    known: dict[str, Callable[[], str]] = {
        "app_id": lambda: app_id,
        "key_id": key_id,
        "member_id": lambda: a.member.account_id,
        "end_user_id": lambda: a.end_user_id,
    }
    unknown = [p for p in route.params if p not in known]
    if unknown:
        pytest.fail(f"{route}: parameter(s) {unknown} unknown to the isolation walk; add A's object for them "
                    "to param_values (and the arrangement) so the new route is covered")
    return {p: known[p]() for p in route.params}


def a_paths(route: Route, a: TenantA) -> list[str]:
    """The concrete paths of `route` filled with A's ids: one per app of A when the route takes an app_id."""
    app_ids = [app["id"] for app in a.apps.values()] if "app_id" in route.params else [""]
    return [route.path(param_values(route, a, app_id)) for app_id in app_ids]


def call(client, route: Route, path: str, headers: dict[str, str] | None = None):
    payload = PLAUSIBLE_BODY if route.method in WRITE_METHODS else None
    return client.open(path, method=route.method, headers=headers or {}, json=payload)


def walk_routes_with_ids(client, pg_app, a: TenantA, caller: Caller) -> list[str]:
    """Call every route with ids, filled with A's ids, as `caller`; return the answers that are not a clean 404."""
    violations = []
    for route in api_routes(pg_app):
        if not route.params:
            continue
        for path in a_paths(route, a):
            response = call(client, route, path, caller.headers(route))
            payload = body(response)
            if response.status_code != 404 or not error_keys_ok(payload):
                violations.append(f"{route.method} {path} -> {response.status_code} {payload}")
    return violations


def walk_routes_without_ids(client, pg_app, a: TenantA, caller: Caller) -> list[str]:
    """Call every route without ids as `caller`; return the answers that are 5xx or mention anything of A's."""
    violations = []
    secrets = a.secrets()
    for route in api_routes(pg_app):
        if route.params:
            continue
        response = call(client, route, route.rule, caller.headers(route))
        text = response.get_data(as_text=True)
        leaked = sorted(s for s in secrets if s in text)
        if response.status_code >= 500 or leaked:
            violations.append(f"{route} -> {response.status_code} leaked={leaked} {text[:300]}")
    return violations


def tenant_snapshot(console: Console, a: TenantA) -> dict[str, Any]:
    """What A's owner sees of A: apps in full, keys, members and roles, the workspace, the key still working."""
    token = a.owner.token
    apps = {app_id: body(console.call("get", f"/apps/{app_id}", token=token, expect=200))
            for app_id in (app["id"] for app in a.apps.values())}
    app_keys = {app_id: sorted(k["id"] for k in body(console.call("get", f"/apps/{app_id}/api-keys", token=token,
                                                                  expect=200))["data"]) for app_id in apps}
    dataset_keys = sorted(k["id"] for k in body(console.call("get", "/datasets/api-keys", token=token,
                                                             expect=200))["data"])
    members = sorted((m["id"], m["role"]) for m in body(console.call("get", "/workspaces/current/members",
                                                                     token=token, expect=200))["accounts"])
    workspace = body(console.call("get", "/workspaces/current", token=token, expect=200))
    app_list = sorted(x["id"] for x in body(console.call("get", "/apps?limit=100", token=token, expect=200))["data"])
    info = console.client.get("/v1/info", headers=bearer(a.app_key))
    return {"apps": apps, "app_list": app_list, "app_keys": app_keys, "dataset_keys": dataset_keys,
            "members": members, "workspace": (workspace["id"], workspace["name"]),
            "service_info": (info.status_code, body(info))}


# ---- the route inventory ---------------------------------------------------------------------------------------

def test_url_map_has_no_rule_outside_the_api_prefixes_and_ops_routes(pg_app):
    rules = {rule.rule for rule in pg_app.url_map.iter_rules()}

    stray = sorted(r for r in rules if not under_prefix(r) and r not in OPS_RULES)

    assert stray == [], "a route outside /console/api, /v1, /api: decide how it is authenticated and isolated"
    assert sorted(OPS_RULES - rules) == []


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

    assert failures == [], "routes answering without credentials (add to PUBLIC_ROUTES only if meant to be public)"


# ---- the cross-tenant walk -------------------------------------------------------------------------------------

def test_every_route_with_ids_returns_404_when_ids_belong_to_another_workspace(client, pg_app, tenant_a, intruder):
    violations = walk_routes_with_ids(client, pg_app, tenant_a, intruder)

    assert violations == []


def test_every_route_without_ids_never_returns_another_workspaces_ids(client, pg_app, tenant_a, stranger):
    violations = walk_routes_without_ids(client, pg_app, tenant_a, stranger)

    assert violations == []


def test_tenant_is_unchanged_after_another_workspace_walks_every_route(client, pg_app, console, tenant_a, intruder):
    before = tenant_snapshot(console, tenant_a)

    walk_routes_with_ids(client, pg_app, tenant_a, intruder)
    walk_routes_without_ids(client, pg_app, tenant_a, intruder)

    after = tenant_snapshot(console, tenant_a)
    assert after == before
    assert dict(after["members"])[tenant_a.member.account_id] == "normal"
    assert {app["name"] for app in after["apps"].values()} == {f"A-secret-{mode}-app" for mode in MODES}


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
