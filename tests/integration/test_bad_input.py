"""Bad JSON bodies and bad path ids, walked over every route (see bad_input_support)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from marshmallow import fields

from tests.helpers import api_routes, body, error_keys_ok, view_doc
from tests.integration.bad_input_support import (
    _MODEL,
    BODIES,
    BODYLESS,
    COMPATIBLE_WRONG,
    DEEP_BY_ROUTE,
    JSON,
    NOT_LOOKED_UP,
    OPENAI_WRONG,
    PROVIDERS,
    USER,
    _route,
    body_schema,
    check_4xx,
    input_fields,
    oversize_values,
    send,
    string_values,
    valid_params,
    wrong_values,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def ctx(shared_ctx):
    """One seeded workspace for the whole module; each test is rolled back to it (see `shared_ctx`)."""
    return shared_ctx


def test_body_table_covers_every_write_route(pg_app):
    writes = {str(r) for r in api_routes(pg_app)
              if r.method in ("POST", "PUT", "PATCH") or (r.method == "DELETE" and view_doc(pg_app, r).get("body"))}

    assert sorted(writes - BODIES.keys() - BODYLESS) == [], "write routes missing from BODIES (or BODYLESS)"
    assert sorted((BODIES.keys() | BODYLESS) - writes) == [], "BODIES/BODYLESS name routes that no longer exist"


def test_body_table_routes_document_their_body_schema(pg_app):
    routes = {str(r): r for r in api_routes(pg_app)}

    undocumented = sorted(k for k in BODIES if k in routes and not view_doc(pg_app, routes[k]).get("body"))

    assert undocumented == [], "BODIES routes without @doc(body=...): document the schema"


# ---- malformed and non-object JSON ---------------------------------------------------------------------------

MALFORMED = {"truncated": "{bad", "unterminated": '{"name": "x"', "null": "null", "not_utf8": b"\xff\xfe{}",
             "deeply_nested": "[" * 100_000 + "]" * 100_000, "unbalanced_deep": '{"a":' * 50_000,
             "nan_literal": '{"name": NaN}', "infinity_literal": '{"x": Infinity}'}
NON_OBJECT = {"array": "[{}]", "string": '"x"', "number": "123", "boolean": "true"}


@pytest.mark.parametrize("key", sorted(BODIES))
def test_json_route_rejects_malformed_json(ctx, key):
    route, failures = _route(key), []
    before = ctx.snapshot()

    for label, data in MALFORMED.items():
        check_4xx(label, send(ctx, route, data=data, content_type=JSON), failures, status=400)

    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)


@pytest.mark.parametrize("key", sorted(BODIES))
def test_json_route_rejects_non_object_json(ctx, key):
    route, failures = _route(key), []
    valid = BODIES[key].payload(ctx)
    before = ctx.snapshot()

    check_4xx("array of a valid body", send(ctx, route, json=[valid]), failures, status=400)
    for label, data in NON_OBJECT.items():
        check_4xx(label, send(ctx, route, data=data, content_type=JSON), failures, status=400)

    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)


# ---- wrong types, oversize strings, non-finite numbers and NUL characters, field by field ----------------------

def _field_variants(pg_app, key: str, valid: dict[str, Any], make: Callable[[fields.Field], list[Any]]
                    ) -> list[tuple[str, dict[str, Any]]]:
    variants = []
    for name, field in input_fields(body_schema(pg_app, _route(key))).items():
        for value in make(field):
            variants.append((f"{name}={str(value)[:40]!r}", {**valid, name: value}))
    return variants


@pytest.mark.parametrize("key", sorted(BODIES))
def test_json_route_rejects_wrong_field_types(pg_app, ctx, key):
    route, failures = _route(key), []
    valid = BODIES[key].payload(ctx)
    variants = _field_variants(pg_app, key, valid, wrong_values)
    deep = BODIES[key].deep + (DEEP_BY_ROUTE[key](ctx) if key in DEEP_BY_ROUTE else ())
    variants += [(str(w)[:120], {**valid, **w}) for w in deep]
    before = ctx.snapshot()

    for label, payload in variants:
        check_4xx(label, send(ctx, route, json=payload), failures, status=400)

    assert variants
    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)


@pytest.mark.parametrize("key", sorted(BODIES))
def test_json_route_rejects_oversize_strings(pg_app, ctx, key):
    route, failures = _route(key), []
    valid = BODIES[key].payload(ctx)
    fields_ = input_fields(body_schema(pg_app, route))
    variants = [(f"{name} ({len(str(value))} chars)", {**valid, name: value}, limited)
                for name, field in fields_.items() for value, limited in oversize_values(field)]
    before = ctx.snapshot()

    for label, payload, limited in variants:
        response = send(ctx, route, json=payload)
        if limited:
            check_4xx(label, response, failures, status=400)
        elif response.status_code >= 500:  # no declared limit: may be accepted, never a 5xx
            failures.append(f"{label} -> {response.status_code}")

    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)


@pytest.mark.parametrize("key", sorted(BODIES))
def test_json_route_rejects_non_finite_numbers(pg_app, ctx, key):
    route, failures = _route(key), []
    valid = BODIES[key].payload(ctx)
    number_fields = [n for n, f in input_fields(body_schema(pg_app, route)).items() if isinstance(f, fields.Number)]
    variants = [(f"{name}={value}", {**valid, name: value}) for name in number_fields
                for value in (float("nan"), float("inf"), float("-inf"))]
    variants += [("unknown field NaN", {**valid, "unknown": float("nan")}),
                 ("unknown nested Infinity", {**valid, "unknown": {"deep": [float("inf")]}})]
    nan_model = {"model": {**_MODEL, "completion_params": {"temperature": float("nan")}}}
    if key.endswith("/model-config"):
        variants.append(("temperature NaN", {**valid, **nan_model}))
    if key == "POST /console/api/apps/<uuid:app_id>/chat-messages":
        variants.append(("model_config temperature NaN", {**valid, "model_config": nan_model}))
    before = ctx.snapshot()

    for label, payload in variants:
        response = send(ctx, route, json=payload)
        # NaN is not JSON a route may store; a route that reads nothing but `user` may ignore it, as any extra
        if not (label.startswith("unknown") and response.status_code == BODIES[key].status):
            check_4xx(label, response, failures, status=400)

    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)


@pytest.mark.parametrize("key", sorted(BODIES))
def test_json_route_never_fails_on_nul_characters(pg_app, ctx, key):
    route, failures = _route(key), []
    valid = BODIES[key].payload(ctx)
    variants = _field_variants(pg_app, key, valid, lambda f: string_values(f, "a\x00b"))
    variants.append(("NUL in an unknown key", {**valid, "un\x00known": 1}))

    for label, payload in variants:
        response = send(ctx, route, json=payload)
        if response.status_code >= 500 or (response.status_code >= 400 and not error_keys_ok(body(response))):
            failures.append(f"{label} -> {response.status_code} {body(response)}")

    assert not failures, "\n".join(failures)


def test_nul_characters_are_stripped_before_storing(ctx):
    owner = ctx.owner.token

    created = ctx.console.call("post", "/apps", token=owner, expect=201,
                               json={"name": "N\x00ul", "mode": "chat", "description": "de\x00sc"})
    app_id = body(created)["id"]
    ctx.console.call("post", f"/apps/{app_id}/model-config", token=owner, expect=200,
                     json={"model": _MODEL, "pre_prompt": "pre\x00prompt", "opening_statement": "\x00hi"})

    detail = body(ctx.console.call("get", f"/apps/{app_id}", token=owner, expect=200))
    assert (detail["name"], detail["description"]) == ("Nul", "desc")
    assert (detail["model_config"]["pre_prompt"], detail["model_config"]["opening_statement"]) == ("preprompt", "hi")


# ---- unknown fields are ignored ------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(BODIES))
def test_json_route_ignores_unknown_fields(ctx, key):
    case = BODIES[key]
    payload = {**case.payload(ctx), "unknown_field": "x", "another_unknown": {"nested": [1, {"a": None}]}}

    response = send(ctx, _route(key), json=payload)

    assert response.status_code == case.status, body(response)


@pytest.mark.parametrize(("key", "wrong"), [
    *((f"POST {PROVIDERS}/credentials/validate", w) for w in OPENAI_WRONG),
    *((f"POST {PROVIDERS}/models/credentials/validate", w) for w in COMPATIBLE_WRONG),
])
def test_credentials_validation_reports_bad_credentials_as_a_result(ctx, key, wrong):
    valid = BODIES[key].payload(ctx)

    response = send(ctx, _route(key), json={**valid, "credentials": {**valid["credentials"], **wrong}})

    assert response.status_code in (200, 400), body(response)
    assert body(response).get("result") in ("success", "error") or error_keys_ok(body(response))


@pytest.mark.parametrize("key", sorted(BODYLESS))
def test_bodyless_route_ignores_whatever_body_it_gets(ctx, key):
    response = send(ctx, _route(key), data="{bad", content_type=JSON)

    assert response.status_code < 500


# ---- the unchanged check itself -------------------------------------------------------------------------------

def test_the_unchanged_check_fails_on_a_change_the_owner_can_see(ctx):
    app_id = ctx.seed.apps["chat"]["id"]
    before = ctx.snapshot()
    ctx.console.call("post", f"/apps/{app_id}/name", token=ctx.owner.token, json={"name": "Renamed"}, expect=200)

    with pytest.raises(AssertionError):
        ctx.assert_unchanged(before)


def test_the_unchanged_check_passes_when_nothing_the_owner_can_see_changed(ctx):
    before = ctx.snapshot()  # the module's tests share the seeded state's fingerprint: taken at most once

    ctx.assert_unchanged(before)  # same digest
    ctx.redis.set("test:unrelated-counter", 1)  # another digest, the same fingerprint
    ctx.assert_unchanged(before)


# ---- ids in paths --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00", ".."])
def test_route_returns_404_when_a_path_id_is_not_a_uuid(pg_app, ctx, bad_id):
    failures: list[str] = []
    before = ctx.snapshot()

    for route in api_routes(pg_app):
        for name in route.uuid_params:
            path = route.path({**valid_params(route, ctx), name: bad_id})
            response = ctx.console.client.open(path, method=route.method, headers=ctx.headers(route), json={},
                                               query_string=None if route.is_console else {"user": USER})
            check_4xx(f"{route.method} {path}", response, failures, status=404)

    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)


def test_route_returns_404_when_a_path_id_is_unknown(pg_app, ctx):
    failures: list[str] = []
    routes = [r for r in api_routes(pg_app) if r.params]
    before = ctx.snapshot()

    for route in routes:
        for name in set(route.params) - NOT_LOOKED_UP:
            path = route.path({**valid_params(route, ctx), name: str(uuid.uuid4())})
            payload = BODIES[str(route)].payload(ctx) if str(route) in BODIES else None
            response = ctx.console.client.open(path, method=route.method, headers=ctx.headers(route), json=payload,
                                               query_string=None if route.is_console else {"user": USER})
            check_4xx(f"{route.method} {path}", response, failures, status=404)

    assert routes
    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)
