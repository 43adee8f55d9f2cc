"""Tables and helpers shared by the bad-input walks (test_bad_input.py, test_bad_query_input.py).


Every POST/PUT route with a JSON body (and every DELETE that documents one) is walked with malformed JSON,
non-object JSON, a wrong type for every field of its `@doc(body=...)` schema (and, for model configs and
credentials, in depth), strings past their limit and non-finite numbers: each answer is a 4xx
`{"code","message","status"}` (plus `params`). NUL characters are stripped (PostgreSQL stores none; Dify strips
them from queries), never a 5xx. Unknown extra fields with an otherwise valid body are ignored.
Ids in paths that are not UUIDs, or unknown, answer 404. A write route missing from BODIES fails
`test_body_table_covers_every_write_route`. Valid bodies of model-run routes are built to stop before any run.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import redis
from marshmallow import Schema, fields, validate

from api.core.app.model_config import DEFAULT_FEATURES
from api.extensions.database import db
from tests.helpers import PASSWORD, Console, Route, bearer, body, error_keys_ok, view_doc
from tests.integration.knowledge_bodies import CONSOLE_KNOWLEDGE, KNOWLEDGE_BODYLESS, SERVICE_KNOWLEDGE
from tests.integration.seed import Seed, stop_requested
from tests.integration.state_digest import state_digest

LONG_SIZE = 10_000
LONG = "x" * LONG_SIZE
JSON = "application/json"
USER = "X-end-user"  # the seeded end user (owner of the seeded conversation, message and task)
PROVIDERS = "/console/api/workspaces/current/model-providers/<path:provider>"


@dataclass(frozen=True)
class Snapshot:
    digest: str  # of everything stored (state_digest)
    view: dict[str, Any]  # what the owner and the seeded end user see (Ctx.fingerprint)


@dataclass
class Ctx:
    console: Console
    seed: Seed
    llm_url: str
    app: Any
    redis: redis.Redis
    # digest -> fingerprint of states already seen; shared_ctx shares it across its module's tests, which all start
    # from the same seeded state
    views: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def owner(self):
        return self.seed.owner

    def fresh_invite(self) -> dict[str, str]:
        """email and token of a new pending invitation (for /activate)."""
        email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
        result = body(self.console.call("post", "/workspaces/current/members/invite-email", token=self.owner.token,
                                        json={"emails": [email], "role": "normal"}, expect=201))
        query = parse_qs(urlparse(result["invitation_results"][0]["url"]).query)
        return {"email": query["email"][0], "token": query["token"][0]}

    def headers(self, route: Route) -> dict[str, str]:
        if route.is_console:
            return self.owner.headers
        knowledge = route.rule.split("/", 2)[-1].startswith("datasets")
        return bearer(self.seed.dataset_key if knowledge else self.seed.app_key)

    def snapshot(self) -> Snapshot:
        """The state now: its digest, and its fingerprint (taken once per distinct digest)."""
        digest = state_digest(db.session, self.redis)
        if digest not in self.views:
            self.views[digest] = self.fingerprint()
        return Snapshot(digest, self.views[digest])

    def assert_unchanged(self, before: Snapshot) -> None:
        """Nothing the owner or the end user sees changed since `before`. An unchanged digest proves it at once;
        otherwise (a counter, a last-used time, or a real change) the fingerprints are compared."""
        if state_digest(db.session, self.redis) != before.digest:
            assert self.fingerprint() == before.view

    def fingerprint(self) -> dict[str, Any]:
        """What the owner and the seeded end user can see; bad input must leave all of it as it was."""
        def get(path: str) -> Any:
            return body(self.console.call("get", path, token=self.owner.token, expect=200))

        def service(path: str, **query: str) -> Any:
            response = self.console.client.get(path, headers=bearer(self.seed.app_key),
                                               query_string={"user": USER, **query})
            assert response.status_code == 200, body(response)
            return body(response)

        app_ids = sorted(a["id"] for a in get("/apps?limit=100")["data"])
        return {
            "apps": {i: get(f"/apps/{i}") for i in app_ids},
            "app_keys": {i: get(f"/apps/{i}/api-keys") for i in app_ids},
            "dataset_keys": get("/datasets/api-keys"),
            "members": sorted((m["id"], m["role"], m["status"], m["name"])
                              for m in get("/workspaces/current/members")["accounts"]),
            "workspaces": get("/workspaces"),
            "profile": get("/account/profile"),
            "providers": {p: (get(f"/workspaces/current/model-providers/{p}/credentials"),
                              get(f"/workspaces/current/model-providers/{p}/models"))
                          for p in ("openai", "openai_api_compatible")},
            "default_model": get("/workspaces/current/default-model?model_type=llm"),
            "conversations": service("/v1/conversations"),
            "messages": service("/v1/messages", conversation_id=self.seed.conversation_id),
            "stop_requested": stop_requested(self.app, self.seed.task_id),
            "tags": {t: get(f"/tags?type={t}") for t in ("knowledge", "app")},
        }


# Parameters that are not looked up (a stop of someone else's task is a silent no-op, as in Dify; action and
# status names are checked, an unknown one is 400 invalid_action as in Dify).
NOT_LOOKED_UP = frozenset({"task_id", "action", "status"})


def valid_params(route: Route, c: Ctx) -> dict[str, str]:
    """Real values for every parameter of `route`; an unknown parameter name fails loudly."""
    def key_id() -> str:
        if route.rule.startswith("/console/api/apps/<"):
            return c.seed.app_key_id
        if route.rule.startswith("/console/api/datasets/"):
            return c.seed.dataset_key_id
        pytest.fail(f"{route}: no valid key_id known for this rule; teach valid_params")

    known: dict[str, Callable[[], str]] = {
        "app_id": lambda: c.seed.app_id("chat"), "key_id": key_id, "member_id": lambda: c.seed.member_id,
        "end_user_id": lambda: c.seed.end_user_id, "conversation_id": lambda: c.seed.conversation_id,
        "message_id": lambda: c.seed.message_id, "task_id": lambda: c.seed.task_id,
        "provider": lambda: "openai_api_compatible" if "/models" in route.rule else "openai",
        "model_type": lambda: "llm",
        "file_id": lambda: str(uuid.uuid4()),  # only /files previews, whose query is judged before any lookup
        "dataset_id": lambda: c.seed.dataset_id, "document_id": lambda: c.seed.document_id,
        "segment_id": lambda: c.seed.segment_id, "batch": lambda: c.seed.batch, "tag_id": lambda: c.seed.tag_id,
        "child_chunk_id": lambda: c.seed.child_chunk_id,
        "action": lambda: "enable", "status": lambda: "enable",  # no-ops on the seeded (enabled) objects
    }
    if "/child_chunks" in route.rule:  # child chunks live in the seeded parent-child document
        known.update({"dataset_id": lambda: c.seed.parent_child_dataset_id,
                      "document_id": lambda: c.seed.parent_child_document_id,
                      "segment_id": lambda: c.seed.parent_segment_id})
    unknown = [p for p in route.params if p not in known]
    if unknown:
        pytest.fail(f"{route}: parameter(s) {unknown} unknown to the bad-input walk; add them to valid_params")
    return {p: known[p]() for p in route.params}


# ---- the table of JSON-body routes: a valid body and the status it gets ------------------------------------

@dataclass(frozen=True)
class BodyCase:
    status: int
    payload: Callable[[Ctx], dict[str, Any]]
    deep: tuple[dict[str, Any], ...] = ()  # wrong values below the schema (merged into the valid body) → 4xx


def _fixed(data: dict[str, Any]) -> Callable[[Ctx], dict[str, Any]]:
    return lambda c: copy.deepcopy(data)


_MODEL = {"provider": "openai", "name": "gpt-4o"}
# The model config is validated below the schema (the schema only requires `model`): wrong types in depth.
MODEL_CONFIG_WRONG: list[dict[str, Any]] = [
    *({"model": {**_MODEL, "provider": v}} for v in (123, ["openai"], {"x": 1}, True, "nope")),
    *({"model": {**_MODEL, "name": v}} for v in (123, ["x"], {"x": 1}, True, "", LONG)),
    *({"model": {**_MODEL, "mode": v}} for v in (123, "x", ["chat"])),
    *({"model": {**_MODEL, "completion_params": v}} for v in ("x", 123, ["x"])),
    *({"model": {**_MODEL, "completion_params": {"stop": v}}} for v in ("x", 123, [1], ["a", "b", "c", "d", "e"])),
    *({"model": {**_MODEL, "fallbacks": v}} for v in (
        "x", 123, [1], [{"provider": 123, "name": "x"}], [{"provider": "openai", "name": 123}],
        [{"provider": "openai", "name": "x", "completion_params": "x"}])),
    *({"model": _MODEL, "user_input_form": v} for v in (
        "x", [1], [{"text-input": "x"}], [{"bogus": {}}], [{"text-input": {"variable": 123, "label": "L"}}],
        [{"text-input": {"variable": "v", "label": 123}}],
        [{"text-input": {"variable": "v", "label": "L", "required": "x"}}],
        [{"text-input": {"variable": "v", "label": "L", "max_length": "x"}}],
        [{"select": {"variable": "v", "label": "L", "options": "x"}}],
        [{"select": {"variable": "v", "label": "L", "options": [1]}}])),
    *({"model": _MODEL, "dataset_configs": v} for v in (
        {"retrieval_model": 123}, {"top_k": "x"}, {"score_threshold": "x"}, {"datasets": "x"},
        {"datasets": {"datasets": "x"}})),
    *({"model": _MODEL, "agent_mode": v} for v in ({"strategy": 123}, {"tools": "x"}, {"max_iteration": "x"})),
    *({"model": _MODEL, "file_upload": v} for v in (
        {"image": "x"}, {"image": {"number_limits": "x"}}, {"image": {"transfer_methods": "x"}},
        {"allowed_file_types": "x"})),
    *({"model": _MODEL, key: {"enabled": "x"}} for key, default in DEFAULT_FEATURES.items()
      if isinstance(default, dict) and "enabled" in default),
]


def _json_type(value: Any) -> type:
    return bool if isinstance(value, bool) else dict if isinstance(value, dict) else type(value)


def _feature_wrong_types() -> list[dict[str, Any]]:
    """Every top-level feature key of the model config with each truthy value of another JSON type."""
    return [{"model": _MODEL, key: value} for key, default in DEFAULT_FEATURES.items()
            for value in (123, "x", ["x"], {"x": 1}, True) if _json_type(value) is not _json_type(default)]


MODEL_CONFIG_WRONG += _feature_wrong_types()
OPENAI_WRONG = ({"openai_api_key": 123}, {"openai_api_key": ["k"]}, {"openai_api_key": "k", "openai_api_base": 123},
                {"openai_api_key": "k", "openai_api_base": "not a url"}, {"openai_api_key": "k", "openai_api_base": {}},
                {"openai_api_key": "k", "openai_api_base": "http://127.0.0.1:1"},
                {"openai_api_key": "k", "openai_organization": ["x"]}, {})
COMPATIBLE_WRONG = ({"endpoint_url": 123}, {"endpoint_url": "not a url"}, {"endpoint_url": None},
                    {"endpoint_url": "http://127.0.0.1:1/v1", "mode": "chat"}, {"mode": "bogus"}, {"mode": ["chat"]},
                    {"context_size": -1}, {"max_tokens_to_sample": 16}, {"api_key": 123})


def _openai(c: Ctx) -> dict[str, Any]:
    return {"credentials": {"openai_api_key": "sk-valid", "openai_api_base": c.llm_url}, "name": "Key"}


def _compatible(c: Ctx) -> dict[str, Any]:
    return {"model": "fake-model", "model_type": "llm", "credentials": {
        "endpoint_url": c.llm_url + "/v1", "mode": "chat", "context_size": "4096", "max_tokens_to_sample": "16"}}


def _compatible_wrong(c: Ctx) -> tuple[dict[str, Any], ...]:
    base = _compatible(c)["credentials"]
    return tuple({"credentials": {**base, **w}} for w in COMPATIBLE_WRONG)


def _run(c: Ctx, *, debug: bool = False) -> dict[str, Any]:
    """Valid, but stops before any model run: the conversation is unknown (chat) or the app is a chat app
    (completion)."""
    return {"query": "hi", "inputs": {}, "user": USER, "response_mode": "blocking", "files": [],
            "conversation_id": str(uuid.uuid4()), "auto_generate_name": False,
            **({"model_config": {"model": _MODEL}} if debug else {})}


_NEW_PASSWORD = {"password": PASSWORD, "new_password": "n3w-passw0rd", "repeat_new_password": "n3w-passw0rd"}
_APP = {"name": "App", "description": "d", "icon_type": "emoji", "icon": "🤖", "icon_background": "#FFFFFF"}
_SERVICE: dict[str, BodyCase] = {
    "POST /chat-messages": BodyCase(404, _run),
    "POST /completion-messages": BodyCase(400, _run),
    # another end user's stop: valid, answered success, and a no-op (the seeded run keeps going)
    "POST /chat-messages/<uuid:task_id>/stop": BodyCase(200, _fixed({"user": "someone-else"})),
    "POST /completion-messages/<uuid:task_id>/stop": BodyCase(200, _fixed({"user": "someone-else"})),
    # another end user's delete: valid, and not theirs to delete (404, the conversation stays)
    "DELETE /conversations/<uuid:conversation_id>": BodyCase(404, _fixed({"user": "someone-else"})),
    "POST /conversations/<uuid:conversation_id>/name": BodyCase(200, _fixed(
        {"name": "Renamed", "auto_generate": False, "user": USER})),
    "POST /messages/<uuid:message_id>/feedbacks": BodyCase(200, _fixed(
        {"rating": "like", "content": "good", "user": USER})),
}
BODIES: dict[str, BodyCase] = {
    # the install exists, so a valid setup body gets past validation and answers 403 already_setup
    "POST /console/api/setup": BodyCase(403, _fixed({"email": "second@example.com", "name": "Second",
                                                     "password": PASSWORD, "language": "en-US"})),
    "POST /console/api/login": BodyCase(200, lambda c: {"email": c.owner.email, "password": PASSWORD,
                                                        "remember_me": True}),
    "POST /console/api/refresh-token": BodyCase(200, lambda c: {"refresh_token": c.owner.refresh_token}),
    "POST /console/api/logout": BodyCase(200, lambda c: {"refresh_token": c.owner.refresh_token}),
    "POST /console/api/activate": BodyCase(200, lambda c: {
        **c.fresh_invite(), "name": "Invitee", "password": PASSWORD, "workspace_id": c.owner.tenant_id,
        "interface_language": "en-US", "timezone": "UTC"}),
    "POST /console/api/account/name": BodyCase(200, _fixed({"name": "New name"})),
    "POST /console/api/account/password": BodyCase(200, _fixed(_NEW_PASSWORD)),
    "POST /console/api/apps": BodyCase(201, _fixed({**_APP, "mode": "chat"})),
    "PUT /console/api/apps/<uuid:app_id>": BodyCase(200, _fixed({
        **_APP, "use_icon_as_answer_icon": True, "max_active_requests": 3, "api_rpm": 60, "api_rph": 600})),
    "POST /console/api/apps/<uuid:app_id>/copy": BodyCase(201, _fixed(_APP)),
    "POST /console/api/apps/<uuid:app_id>/name": BodyCase(200, _fixed({"name": "Renamed"})),
    "POST /console/api/apps/<uuid:app_id>/icon": BodyCase(200, _fixed({"icon": "🚀", "icon_background": "#000000",
                                                                       "icon_type": "emoji"})),
    "POST /console/api/apps/<uuid:app_id>/api-enable": BodyCase(200, _fixed({"enable_api": True})),
    "POST /console/api/apps/<uuid:app_id>/site-enable": BodyCase(200, _fixed({"enable_site": True})),
    "POST /console/api/apps/<uuid:app_id>/model-config": BodyCase(200, _fixed({
        "model": {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {"stop": ["\n"]}},
        "pre_prompt": "You are {{name}}.", "opening_statement": "Hi",
        "user_input_form": [{"text-input": {"variable": "name", "label": "Name", "required": False}}]}),
        deep=tuple(MODEL_CONFIG_WRONG)),
    "POST /console/api/apps/<uuid:app_id>/chat-messages": BodyCase(
        404, lambda c: _run(c, debug=True), deep=tuple({"model_config": w} for w in MODEL_CONFIG_WRONG)),
    "POST /console/api/apps/<uuid:app_id>/completion-messages": BodyCase(400, lambda c: _run(c, debug=True)),
    "POST /console/api/workspaces": BodyCase(201, _fixed({"name": "Another"})),
    "POST /console/api/workspaces/switch": BodyCase(200, lambda c: {"tenant_id": c.owner.tenant_id}),
    "POST /console/api/workspaces/info": BodyCase(200, _fixed({"name": "Renamed workspace"})),
    "POST /console/api/workspaces/current/members/invite-email": BodyCase(201, _fixed({
        "emails": ["new@example.com"], "role": "normal", "language": "en-US"})),
    "PUT /console/api/workspaces/current/members/<uuid:member_id>/update-role": BodyCase(200, _fixed(
        {"role": "editor"})),
    f"POST {PROVIDERS}/credentials": BodyCase(201, _openai, deep=tuple({"credentials": w} for w in OPENAI_WRONG)),
    f"PUT {PROVIDERS}/credentials": BodyCase(200, _openai, deep=tuple({"credentials": w} for w in OPENAI_WRONG)),
    f"POST {PROVIDERS}/credentials/validate": BodyCase(200, _openai),
    f"POST {PROVIDERS}/models": BodyCase(200, _compatible),
    f"DELETE {PROVIDERS}/models": BodyCase(204, _fixed({"model": "fake-model", "model_type": "llm"})),
    f"POST {PROVIDERS}/models/credentials/validate": BodyCase(200, _compatible),
    "POST /console/api/tags": BodyCase(200, _fixed({"name": "New tag", "type": "knowledge"})),
    "PATCH /console/api/tags/<uuid:tag_id>": BodyCase(200, _fixed({"name": "Renamed tag", "type": "knowledge"})),
    "POST /console/api/tag-bindings/create": BodyCase(200, lambda c: {
        "tag_ids": [c.seed.tag_id], "target_id": c.seed.dataset_id, "type": "knowledge"}),
    "POST /console/api/tag-bindings/remove": BodyCase(200, lambda c: {
        "tag_id": c.seed.tag_id, "target_id": c.seed.dataset_id, "type": "knowledge"}),
    "POST /console/api/workspaces/current/default-model": BodyCase(200, _fixed(
        {"model_settings": [{"model_type": "llm", "provider": "openai", "model": "gpt-4o"}]})),
    **{f"{k.split(' ')[0]} {prefix}{k.split(' ')[1]}": v for k, v in _SERVICE.items() for prefix in ("/v1", "/api")},
    **{f"{k.split(' ')[0]} {prefix}{k.split(' ')[1]}": BodyCase(*v) for k, v in SERVICE_KNOWLEDGE.items()
       for prefix in ("/v1", "/api")},
    **{k: BodyCase(*v) for k, v in CONSOLE_KNOWLEDGE.items()},
}
# Deep credential checks whose route saves (and so must refuse) rather than only report.
DEEP_BY_ROUTE: dict[str, Callable[[Ctx], tuple[dict[str, Any], ...]]] = {
    f"POST {PROVIDERS}/models": _compatible_wrong,
}
# Writes that read no JSON body (multipart uploads, stops that only act on the path).
BODYLESS = frozenset({
    "POST /console/api/apps/<uuid:app_id>/api-keys", "POST /console/api/datasets/api-keys",
    "POST /console/api/workspaces/current",
    "POST /console/api/apps/<uuid:app_id>/chat-messages/<uuid:task_id>/stop",
    "POST /console/api/apps/<uuid:app_id>/completion-messages/<uuid:task_id>/stop",
    "POST /v1/files/upload", "POST /api/files/upload",
    *KNOWLEDGE_BODYLESS,
})


def body_schema(pg_app, route: Route) -> Schema:
    schema = view_doc(pg_app, route).get("body")
    assert schema is not None, f"{route} is in BODIES but documents no body schema"
    return schema() if isinstance(schema, type) else schema


def input_fields(schema: Schema) -> dict[str, fields.Field]:
    return {f.data_key or name: f for name, f in schema.fields.items() if not f.dump_only}


def wrong_values(field: fields.Field) -> list[Any]:
    """JSON values that are certainly not of `field`'s type."""
    if isinstance(field, fields.Boolean):
        return ["x", 123, [True], {"x": 1}]
    if isinstance(field, fields.Number):
        return ["x", True, [1], {"x": 1}]
    if isinstance(field, fields.String):
        return [123, True, ["x"], {"x": "y"}]
    if isinstance(field, fields.UUID):
        return [123, True, ["x"], {"x": "y"}, "not-a-uuid"]
    if isinstance(field, fields.Dict):
        return ["x", 123, ["x"], True]
    if isinstance(field, fields.List):
        return ["x", 123, {"x": 1}, True, [wrong_values(field.inner)[0]]]
    if isinstance(field, fields.Nested):
        return ["x", 123, True]
    pytest.fail(f"no wrong-type values known for {type(field).__name__}: extend wrong_values")


def max_length(field: fields.Field) -> int | None:
    limits = [v.max for v in field.validators if isinstance(v, validate.Length) and v.max is not None]
    return min(limits) if limits else None


def oversize_values(field: fields.Field) -> list[tuple[Any, bool]]:
    """(value, over a declared limit) pairs: one past the field's max length and 10k characters; only 10k when
    the field declares no limit. Lists of strings get the strings as their only item."""
    inner = field.inner if isinstance(field, fields.List) else field
    if not isinstance(inner, fields.String):
        return []
    limit = max_length(inner)
    sizes = [LONG_SIZE] if limit is None else sorted({limit + 1, max(limit + 1, LONG_SIZE)})
    return [(["x" * n] if inner is not field else "x" * n, limit is not None) for n in sizes]


def string_values(field: fields.Field, value: str) -> list[Any]:
    """`value` placed where `field` takes a string (directly or inside a list); [] for non-string fields."""
    if isinstance(field, fields.String):
        return [value]
    if isinstance(field, fields.List) and isinstance(field.inner, fields.String):
        return [[value]]
    return []


def send(c: Ctx, route: Route, **kwargs: Any) -> Any:
    path = route.path(valid_params(route, c))
    return c.console.client.open(path, method=route.method, headers=c.headers(route), **kwargs)


def check_4xx(label: str, response: Any, failures: list[str], status: int | None = None) -> None:
    payload = response.get_json(silent=True)
    ok = (status is None and 400 <= response.status_code < 500) or response.status_code == status
    if not ok or not error_keys_ok(payload):
        failures.append(f"{label} -> {response.status_code} {str(payload)[:200]}")


def _route(key: str) -> Route:
    method, rule = key.split(" ", 1)
    return Route(method, rule, "")


# ---- coverage of the tables --------------------------------------------------------------------------------
