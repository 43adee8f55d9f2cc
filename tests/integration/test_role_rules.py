"""Role rules of every console write route, table-driven and checked against the URL map.

Dify's capabilities (workspace_service PRIVILEGED / EDITORS / APP_READERS / DATASET_EDITORS): editors (owner, admin,
editor) edit apps and create app keys; dataset editors (editors and dataset_operator) write knowledge; owner/admin
manage keys, API access, the workspace name and invitations; only the owner changes roles or removes members.
A forbidden call answers 403 `forbidden` and changes nothing stored (no row, no Redis key). A console write
route missing from the tables below fails `test_role_table_covers_every_console_write_route`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes.llm_server import FakeLLMServer, start_llm_server
from tests.helpers import PASSWORD, Console, Member, Route, api_routes, body
from tests.integration.knowledge_support import text_document, upload
from tests.integration.seed import PARENT_CHILD_RULE, store_provider_credentials
from tests.integration.state_digest import state_digest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROLES = ("owner", "admin", "editor", "normal", "dataset_operator")
OWNER = frozenset({"owner"})
PRIVILEGED = frozenset({"owner", "admin"})
EDITORS = frozenset({"owner", "admin", "editor"})
DATASET_EDITORS = EDITORS | {"dataset_operator"}
APP_READERS = frozenset({"owner", "admin", "editor", "normal"})
EVERYONE = frozenset(ROLES)


@dataclass
class Workspace:
    """One workspace with a member of every role; builds fresh targets so each call starts clean."""

    console: Console
    llm_url: str
    store_credentials: Callable[[str, dict[str, Any]], None]
    members: dict[str, Member] = field(default_factory=dict)
    app: Any = None
    session: Any = None
    redis: Any = None
    remembered: dict[str, str] = field(default_factory=dict)  # the last target, for payloads that name it

    def remember(self, target: dict[str, str]) -> dict[str, str]:
        self.remembered = target
        return target

    @property
    def owner(self) -> Member:
        return self.members["owner"]

    def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        return self.console.call(method, path, token=self.owner.token, expect=expect, **kwargs)

    def fresh_app(self) -> str:
        return self.console.create_app(self.owner, mode="chat", name=f"target-{uuid.uuid4().hex[:6]}")["id"]

    def fresh_app_key(self, app_id: str) -> str:
        return body(self.call("post", f"/apps/{app_id}/api-keys", expect=201))["id"]

    def fresh_dataset_key(self) -> str:
        return body(self.call("post", "/datasets/api-keys", expect=200))["id"]

    def fresh_dataset(self) -> dict[str, str]:
        """An economy dataset every member may see."""
        created = body(self.call("post", "/datasets", expect=201, json={
            "name": f"kb-{uuid.uuid4().hex[:8]}", "indexing_technique": "economy", "permission": "all_team_members"}))
        return {"dataset_id": created["id"]}

    def fresh_document(self) -> dict[str, str]:
        """An indexed document (with segments) in a fresh dataset."""
        target = self.fresh_dataset()
        document = text_document(self.app, self.session, tenant_id=self.owner.tenant_id,
                                 dataset_id=target["dataset_id"])
        return {**target, "document_id": document.id}

    def fresh_segment(self) -> dict[str, str]:
        target = self.fresh_document()
        path = f"/datasets/{target['dataset_id']}/documents/{target['document_id']}/segments"
        return {**target, "segment_id": body(self.call("get", path, expect=200))["data"][0]["id"]}

    def fresh_tag(self, tag_type: str = "knowledge", bound_to: str | None = None) -> str:
        """A new tag of the workspace, optionally bound to a dataset (knowledge) or an app."""
        tag_id = body(self.call("post", "/tags", expect=200,
                                json={"name": f"tag-{uuid.uuid4().hex[:8]}", "type": tag_type}))["id"]
        if bound_to:
            self.call("post", "/tag-bindings/create", expect=200,
                      json={"tag_ids": [tag_id], "target_id": bound_to, "type": tag_type})
        return tag_id

    def fresh_parent_child_segment(self) -> dict[str, str]:
        """The first parent segment of an indexed parent-child document in a fresh dataset."""
        target = self.fresh_dataset()
        document = text_document(self.app, self.session, tenant_id=self.owner.tenant_id,
                                 dataset_id=target["dataset_id"], rule=PARENT_CHILD_RULE,
                                 text="First child. Second child.\n\nAnother parent.")
        path = f"/datasets/{target['dataset_id']}/documents/{document.id}/segments"
        return {**target, "document_id": document.id,
                "segment_id": body(self.call("get", path, expect=200))["data"][0]["id"]}

    def fresh_child_chunk(self) -> dict[str, str]:
        target = self.fresh_parent_child_segment()
        path = (f"/datasets/{target['dataset_id']}/documents/{target['document_id']}/segments/"
                f"{target['segment_id']}/child_chunks")
        return {**target, "child_chunk_id": body(self.call("get", path, expect=200))["data"][0]["id"]}

    def fresh_queued_document(self, paused: bool = False) -> dict[str, str]:
        """A document waiting to be indexed (optionally paused by the owner) in a fresh dataset."""
        target = self.fresh_dataset()
        document = text_document(self.app, self.session, tenant_id=self.owner.tenant_id,
                                 dataset_id=target["dataset_id"], index=False)
        if paused:
            self.call("patch", f"/datasets/{target['dataset_id']}/documents/{document.id}/processing/pause",
                      expect=200)
        return {**target, "document_id": document.id}

    def fresh_upload(self) -> str:
        return upload(self.app, self.session, tenant_id=self.owner.tenant_id, account_id=self.owner.account_id)

    def fresh_member(self) -> str:
        """A pending `normal` member (invited, not activated): the target of role changes and removals."""
        email = f"target-{uuid.uuid4().hex[:8]}@example.com"
        self.call("post", "/workspaces/current/members/invite-email", json={"emails": [email], "role": "normal"},
                  expect=201)
        accounts = body(self.call("get", "/workspaces/current/members", expect=200))["accounts"]
        return next(a["id"] for a in accounts if a["email"] == email)

    def fresh_provider(self) -> dict[str, str]:
        """OpenAI configured at provider level (pointing at the fake model server), to change or remove."""
        self.store_credentials("openai", {"openai_api_key": "sk-old", "openai_api_base": self.llm_url})
        return {"provider": "openai"}

    def fresh_model(self) -> dict[str, str]:
        """A per-model credential of openai_api_compatible, to remove."""
        self.call("post", f"{PROVIDERS}/openai_api_compatible/models", json=_model_body(self), expect=200)
        return {"provider": "openai_api_compatible"}

    def stored(self) -> str:
        """A digest of everything stored (every table's rows, every Redis key): a forbidden call leaves it as it was."""
        return state_digest(self.session, self.redis)


@dataclass(frozen=True)
class Case:
    allowed: frozenset[str]
    status: int  # what an allowed role gets
    target: Callable[[Workspace], dict[str, str]] = lambda ws: {}
    payload: Callable[[Workspace], dict[str, Any] | None] = lambda ws: None
    code: str | None = None  # for allowed calls that get past the role check and then fail on purpose


PROVIDERS = "/workspaces/current/model-providers"


def _model_body(ws: Workspace) -> dict[str, Any]:
    return {"model": "fake-model", "model_type": "llm", "credentials": {
        "endpoint_url": ws.llm_url + "/v1", "mode": "chat", "context_size": "4096", "max_tokens_to_sample": "16"}}


def _run_body(ws: Workspace) -> dict[str, Any]:
    """A debug-run body that gets past the role check and then stops before any model run: the conversation
    is unknown (chat), or the app is not a completion app (completion)."""
    return {"query": "hi", "inputs": {}, "response_mode": "blocking", "conversation_id": str(uuid.uuid4()),
            "model_config": {"model": {"provider": "openai", "name": "gpt-4o"}}}


def _bound_tag(ws: Workspace) -> dict[str, str]:
    """A remove-binding body for a fresh knowledge tag bound to a fresh dataset."""
    dataset_id = ws.fresh_dataset()["dataset_id"]
    return {"tag_id": ws.fresh_tag(bound_to=dataset_id), "target_id": dataset_id, "type": "knowledge"}


def _app(ws: Workspace) -> dict[str, str]:
    return {"app_id": ws.fresh_app()}


def _app_key(ws: Workspace) -> dict[str, str]:
    app_id = ws.fresh_app()
    return {"app_id": app_id, "key_id": ws.fresh_app_key(app_id)}


def _json(data: dict[str, Any]) -> Callable[[Workspace], dict[str, Any]]:
    return lambda ws: data


APP_FIELDS = {"name": "Renamed", "icon": "🚀", "icon_background": "#000000"}
DATASET = "/console/api/datasets/<uuid:dataset_id>"
DOCUMENT = f"{DATASET}/documents/<uuid:document_id>"
CHILDREN = f"{DOCUMENT}/segments/<uuid:segment_id>/child_chunks"
NO_SUCH_DOCUMENT = {"document_ids": [str(uuid.UUID(int=1))]}
# Knowledge writes: dataset editors (incl. dataset_operator). Routes that take ids in the query string get none
# here, so allowed roles get past the role check and answer 404.
KNOWLEDGE_TABLE: dict[str, Case] = {
    "POST /console/api/datasets": Case(DATASET_EDITORS, 201, payload=lambda ws: {"name": f"kb-{uuid.uuid4().hex[:8]}"}),
    f"PATCH {DATASET}": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_dataset(), _json({"description": "changed"})),
    f"DELETE {DATASET}": Case(DATASET_EDITORS, 204, lambda ws: ws.fresh_dataset()),
    f"POST {DATASET}/api-keys/<string:status>": Case(
        DATASET_EDITORS, 200, lambda ws: {**ws.fresh_dataset(), "status": "disable"}),
    f"POST {DATASET}/hit-testing": Case(EVERYONE, 200, lambda ws: ws.fresh_dataset(), _json({"query": "fox"})),
    f"POST {DATASET}/documents": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_dataset(), lambda ws: {
        "data_source": {"info_list": {"data_source_type": "upload_file",
                                      "file_info_list": {"file_ids": [ws.fresh_upload()]}}},
        "process_rule": {"mode": "automatic"}}),
    f"DELETE {DATASET}/documents": Case(DATASET_EDITORS, 404, lambda ws: ws.fresh_dataset(), code="not_found"),
    f"DELETE {DOCUMENT}": Case(DATASET_EDITORS, 204, lambda ws: ws.fresh_document()),
    f"PATCH {DATASET}/documents/status/<string:action>/batch": Case(
        DATASET_EDITORS, 404, lambda ws: {**ws.fresh_dataset(), "action": "disable"}, code="not_found"),
    f"POST {DATASET}/retry": Case(DATASET_EDITORS, 404, lambda ws: ws.fresh_dataset(), _json(NO_SUCH_DOCUMENT),
                                  code="not_found"),
    f"POST {DOCUMENT}/segment": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_document(),
                                     _json({"content": "A new segment."})),
    f"PATCH {DOCUMENT}/segment/<string:action>": Case(
        DATASET_EDITORS, 404, lambda ws: {**ws.fresh_document(), "action": "disable"}, code="not_found"),
    f"DELETE {DOCUMENT}/segments": Case(DATASET_EDITORS, 404, lambda ws: ws.fresh_document(), code="not_found"),
    f"PATCH {DOCUMENT}/segments/<uuid:segment_id>": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_segment(),
                                                          _json({"content": "Edited."})),
    f"DELETE {DOCUMENT}/segments/<uuid:segment_id>": Case(DATASET_EDITORS, 204, lambda ws: ws.fresh_segment()),
    f"POST {CHILDREN}": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_parent_child_segment(),
                             _json({"content": "A customized child."})),
    f"PATCH {CHILDREN}": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_parent_child_segment(),
                              _json({"chunks": [{"content": "The only child now."}]})),
    f"PATCH {CHILDREN}/<uuid:child_chunk_id>": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_child_chunk(),
                                                    _json({"content": "Edited child."})),
    f"DELETE {CHILDREN}/<uuid:child_chunk_id>": Case(DATASET_EDITORS, 204, lambda ws: ws.fresh_child_chunk()),
    f"PATCH {DOCUMENT}/processing/pause": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_queued_document()),
    f"PATCH {DOCUMENT}/processing/resume": Case(DATASET_EDITORS, 200,
                                                lambda ws: ws.fresh_queued_document(paused=True)),
    f"POST {DOCUMENT}/rename": Case(DATASET_EDITORS, 200, lambda ws: ws.fresh_document(),
                                    _json({"name": "Renamed document"})),
    # reads that take a JSON body: every member who may see the dataset (or the files)
    f"POST {DATASET}/documents/download-zip": Case(EVERYONE, 200, lambda ws: ws.remember(ws.fresh_document()),
                                                   lambda ws: {"document_ids": [ws.remembered["document_id"]]}),
    "POST /console/api/datasets/indexing-estimate": Case(EVERYONE, 200, payload=lambda ws: {
        "info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": [ws.fresh_upload()]}},
        "process_rule": {"mode": "automatic"}, "indexing_technique": "economy"}),
    # knowledge tags: dataset editors create, rename and bind them; deleting a tag takes an editor (Dify). App
    # tags take editors throughout (tests/integration/test_tags_api.py).
    "POST /console/api/tags": Case(DATASET_EDITORS, 200, payload=lambda ws: {
        "name": f"tag-{uuid.uuid4().hex[:8]}", "type": "knowledge"}),
    "PATCH /console/api/tags/<uuid:tag_id>": Case(DATASET_EDITORS, 200, lambda ws: {"tag_id": ws.fresh_tag()},
                                                  lambda ws: {"name": f"renamed-{uuid.uuid4().hex[:8]}"}),
    "DELETE /console/api/tags/<uuid:tag_id>": Case(EDITORS, 204, lambda ws: {"tag_id": ws.fresh_tag()}),
    "POST /console/api/tag-bindings/create": Case(DATASET_EDITORS, 200, payload=lambda ws: {
        "tag_ids": [ws.fresh_tag()], "target_id": ws.fresh_dataset()["dataset_id"], "type": "knowledge"}),
    "POST /console/api/tag-bindings/remove": Case(DATASET_EDITORS, 200, payload=lambda ws: _bound_tag(ws)),
}
ROLE_TABLE: dict[str, Case] = {
    "POST /console/api/apps": Case(EDITORS, 201, payload=_json({"name": "New", "mode": "chat"})),
    "PUT /console/api/apps/<uuid:app_id>": Case(EDITORS, 200, _app, _json(APP_FIELDS)),
    "DELETE /console/api/apps/<uuid:app_id>": Case(EDITORS, 204, _app),
    "POST /console/api/apps/<uuid:app_id>/copy": Case(EDITORS, 201, _app, _json({"name": "Copy"})),
    "POST /console/api/apps/<uuid:app_id>/name": Case(EDITORS, 200, _app, _json({"name": "Renamed"})),
    "POST /console/api/apps/<uuid:app_id>/icon": Case(EDITORS, 200, _app, _json({"icon": "🚀"})),
    "POST /console/api/apps/<uuid:app_id>/site-enable": Case(EDITORS, 200, _app, _json({"enable_site": False})),
    "POST /console/api/apps/<uuid:app_id>/api-enable": Case(PRIVILEGED, 200, _app, _json({"enable_api": False})),
    "POST /console/api/apps/<uuid:app_id>/model-config": Case(
        EDITORS, 200, _app, _json({"model": {"provider": "openai", "name": "gpt-4o-mini"}, "pre_prompt": "Hi"})),
    "POST /console/api/apps/<uuid:app_id>/api-keys": Case(EDITORS, 201, _app),
    "DELETE /console/api/apps/<uuid:app_id>/api-keys/<uuid:key_id>": Case(PRIVILEGED, 204, _app_key),
    "POST /console/api/datasets/api-keys": Case(PRIVILEGED, 200),
    "DELETE /console/api/datasets/api-keys/<uuid:key_id>": Case(
        PRIVILEGED, 204, lambda ws: {"key_id": ws.fresh_dataset_key()}),
    "POST /console/api/workspaces/info": Case(PRIVILEGED, 200, payload=_json({"name": "Renamed workspace"})),
    "POST /console/api/workspaces/current/members/invite-email": Case(
        PRIVILEGED, 201, payload=lambda ws: {"emails": [f"new-{uuid.uuid4().hex[:8]}@example.com"], "role": "normal"}),
    "PUT /console/api/workspaces/current/members/<uuid:member_id>/update-role": Case(
        OWNER, 200, lambda ws: {"member_id": ws.fresh_member()}, _json({"role": "editor"})),
    "DELETE /console/api/workspaces/current/members/<uuid:member_id>": Case(
        OWNER, 200, lambda ws: {"member_id": ws.fresh_member()}),
    "POST /console/api/apps/<uuid:app_id>/chat-messages": Case(EDITORS, 404, _app, _run_body, "not_found"),
    "POST /console/api/apps/<uuid:app_id>/completion-messages": Case(EDITORS, 400, _app, _run_body,
                                                                     "app_unavailable"),
    # like starting a debug run: editors only (stop itself is a no-op unless the caller started the run)
    "POST /console/api/apps/<uuid:app_id>/chat-messages/<uuid:task_id>/stop": Case(
        EDITORS, 200, lambda ws: {"app_id": ws.fresh_app(), "task_id": str(uuid.uuid4())}),
    "POST /console/api/apps/<uuid:app_id>/completion-messages/<uuid:task_id>/stop": Case(
        EDITORS, 200, lambda ws: {"app_id": ws.fresh_app(), "task_id": str(uuid.uuid4())}),
    f"POST /console/api{PROVIDERS}/<path:provider>/credentials": Case(
        PRIVILEGED, 201, lambda ws: {"provider": "openai"},
        lambda ws: {"credentials": {"openai_api_key": "sk-new", "openai_api_base": ws.llm_url}}),
    f"PUT /console/api{PROVIDERS}/<path:provider>/credentials": Case(
        PRIVILEGED, 200, lambda ws: ws.fresh_provider(),
        lambda ws: {"credentials": {"openai_api_key": "sk-new", "openai_api_base": ws.llm_url}}),
    f"DELETE /console/api{PROVIDERS}/<path:provider>/credentials": Case(
        PRIVILEGED, 204, lambda ws: ws.fresh_provider()),
    f"POST /console/api{PROVIDERS}/<path:provider>/models": Case(
        PRIVILEGED, 200, lambda ws: {"provider": "openai_api_compatible"}, _model_body),
    # a real outbound call to a caller-chosen endpoint; nothing is stored
    f"POST /console/api{PROVIDERS}/<path:provider>/credentials/validate": Case(
        PRIVILEGED, 200, lambda ws: {"provider": "openai"},
        lambda ws: {"credentials": {"openai_api_key": "sk-x", "openai_api_base": ws.llm_url}}),
    f"POST /console/api{PROVIDERS}/<path:provider>/models/credentials/validate": Case(
        PRIVILEGED, 200, lambda ws: {"provider": "openai_api_compatible"}, _model_body),
    f"DELETE /console/api{PROVIDERS}/<path:provider>/models": Case(
        PRIVILEGED, 204, lambda ws: ws.fresh_model(), _json({"model": "fake-model", "model_type": "llm"})),
    "POST /console/api/workspaces/current/default-model": Case(PRIVILEGED, 200, payload=_json(
        {"model_settings": [{"model_type": "llm", "provider": "openai", "model": "gpt-4o"}]})),
    **KNOWLEDGE_TABLE,
}
# Writes any member may make, about themselves (profile, sessions, their own workspaces).
ANY_MEMBER: dict[str, Case] = {
    "POST /console/api/logout": Case(EVERYONE, 200, payload=_json({})),
    "POST /console/api/account/name": Case(EVERYONE, 200, payload=_json({"name": "New name"})),
    "POST /console/api/account/password": Case(EVERYONE, 200, payload=_json(
        {"password": PASSWORD, "new_password": "n3w-passw0rd", "repeat_new_password": "n3w-passw0rd"})),
    "POST /console/api/workspaces": Case(EVERYONE, 201, payload=_json({"name": "My own"})),
    "POST /console/api/workspaces/switch": Case(EVERYONE, 200, payload=lambda ws: {"tenant_id": ws.owner.tenant_id}),
    "POST /console/api/workspaces/current": Case(EVERYONE, 200),
}
# Writes made before there is a caller (installation, sign-in, activation); not role-gated.
UNAUTHENTICATED = frozenset({"POST /console/api/setup", "POST /console/api/login", "POST /console/api/refresh-token",
                             "POST /console/api/activate"})
READ_TABLE: dict[str, Case] = {
    "GET /console/api/apps": Case(APP_READERS, 200),
    "GET /console/api/apps/<uuid:app_id>": Case(APP_READERS, 200, _app),
    "GET /console/api/apps/<uuid:app_id>/api-keys": Case(APP_READERS, 200, _app),
    "GET /console/api/datasets/api-keys": Case(EVERYONE, 200),
    "GET /console/api/datasets": Case(EVERYONE, 200),
    f"GET {DATASET}": Case(EVERYONE, 200, lambda ws: ws.fresh_dataset()),
    f"GET {DOCUMENT}/segments": Case(EVERYONE, 200, lambda ws: ws.fresh_document()),
    "GET /console/api/tags": Case(EVERYONE, 200),  # knowledge tags (or none without a type); app tags: app readers
    "GET /console/api/workspaces/current/members": Case(EVERYONE, 200),
    "GET /console/api/datasets/process-rule": Case(EVERYONE, 200),
    "GET /console/api/datasets/retrieval-setting": Case(EVERYONE, 200),
    f"GET {DOCUMENT}/indexing-estimate": Case(EVERYONE, 200, lambda ws: ws.fresh_queued_document()),
}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    server = start_llm_server()
    yield server
    server.stop()


@pytest.fixture
def workspace(client, db_session, pg_app, llm, redis_client) -> Workspace:
    console = Console(client)
    owner = console.setup_owner()

    def store(provider: str, credentials: dict[str, Any]) -> None:
        store_provider_credentials(db_session, pg_app, owner.tenant_id, provider, credentials)

    ws = Workspace(console, llm.url, store, {"owner": owner}, app=pg_app, session=db_session,
                   redis=redis_client)
    for role in ROLES[1:]:
        ws.members[role] = console.invite(ws.owner, f"{role}@example.com", role)
    return ws


def _route(key: str) -> Route:
    method, rule = key.split(" ", 1)
    return Route(method, rule, "")


def _outcome(response: Any) -> tuple[int, str | None]:
    payload = response.get_json(silent=True)
    return response.status_code, payload.get("code") if isinstance(payload, dict) and "code" in payload else None


def _expected(case: Case) -> dict[str, tuple[int, str | None]]:
    return {role: (case.status, case.code) if role in case.allowed else (403, "forbidden") for role in ROLES}


def _run(ws: Workspace, key: str, case: Case) -> tuple[dict[str, tuple[int, str | None]], list[str]]:
    """Call the route once per role, each time on fresh targets; forbidden calls must leave no trace."""
    route, observed, traces = _route(key), {}, []
    for role in ROLES:
        path = "/console/api" + route.path(case.target(ws)).removeprefix("/console/api")
        payload = case.payload(ws)
        before = ws.stored() if role not in case.allowed else None
        response = ws.console.client.open(path, method=route.method, headers=ws.members[role].headers, json=payload)
        observed[role] = _outcome(response)
        if before is not None and ws.stored() != before:
            traces.append(role)
    return observed, traces


def test_role_table_covers_every_console_write_route(pg_app):
    writes = {str(r) for r in api_routes(pg_app, ("/console/api",)) if r.method != "GET"}
    listed = ROLE_TABLE.keys() | ANY_MEMBER.keys() | UNAUTHENTICATED

    assert sorted(writes - listed) == [], "console write routes without a role rule: add them to ROLE_TABLE"
    assert sorted(listed - writes) == [], "role tables name routes that no longer exist"


def test_role_tables_do_not_overlap():
    overlap = (ROLE_TABLE.keys() & ANY_MEMBER.keys()) | ((ROLE_TABLE.keys() | ANY_MEMBER.keys()) & UNAUTHENTICATED)

    assert overlap == set()


@pytest.mark.parametrize("key", sorted(ROLE_TABLE))
def test_console_write_route_is_allowed_only_for_its_roles(workspace, key):
    case = ROLE_TABLE[key]

    observed, traces = _run(workspace, key, case)

    assert observed == _expected(case)
    assert traces == [], f"forbidden calls changed the workspace (roles: {traces})"


@pytest.mark.parametrize("key", sorted(ANY_MEMBER))
def test_self_service_write_route_is_allowed_for_every_role(workspace, key):
    case = ANY_MEMBER[key]

    observed, _ = _run(workspace, key, case)

    assert observed == _expected(case)


@pytest.mark.parametrize("key", sorted(READ_TABLE))
def test_console_read_route_is_allowed_only_for_its_roles(workspace, key):
    case = READ_TABLE[key]

    observed, _ = _run(workspace, key, case)

    assert observed == _expected(case)


def test_forbidden_answer_has_the_error_shape(workspace):
    response = workspace.console.call("get", "/apps", token=workspace.members["dataset_operator"].token)

    assert response.status_code == 403
    assert body(response) == {"code": "forbidden", "message": body(response)["message"], "status": 403}


def test_admin_cannot_change_the_owners_role(workspace):
    response = workspace.console.call("put", f"/workspaces/current/members/{workspace.owner.account_id}/update-role",
                                      token=workspace.members["admin"].token, json={"role": "normal"})

    assert response.status_code == 403
    roles = {m["id"]: m["role"] for m in body(workspace.call("get", "/workspaces/current/members",
                                                             expect=200))["accounts"]}
    assert roles[workspace.owner.account_id] == "owner"


@pytest.mark.parametrize("method", ["put", "delete"])
def test_owner_cannot_operate_on_themselves(workspace, method):
    suffix = "/update-role" if method == "put" else ""

    response = workspace.console.call(method, f"/workspaces/current/members/{workspace.owner.account_id}{suffix}",
                                      token=workspace.owner.token, json={"role": "admin"} if suffix else None)

    assert response.status_code == 400
    assert body(response)["code"] == "cannot-operate-self"


def test_invite_rejects_owner_role_even_for_the_owner(workspace):
    response = workspace.call("post", "/workspaces/current/members/invite-email",
                              json={"emails": ["x@example.com"], "role": "owner"})

    assert response.status_code == 400
    assert body(response)["code"] == "invalid-role"
