"""Bad query arguments and oversize bodies, walked over every route (see bad_input_support)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from marshmallow import fields, validate

from api.app import create_app
from tests.conftest import distributed_settings
from tests.helpers import Route, api_routes, body, error_keys_ok, view_doc
from tests.integration.bad_input_support import (
    JSON,
    LONG,
    USER,
    Ctx,
    check_4xx,
    input_fields,
    max_length,
    valid_params,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def ctx(shared_ctx):
    """One seeded workspace for the whole module; each test is rolled back to it (see `shared_ctx`)."""
    return shared_ctx


# ---- query arguments -----------------------------------------------------------------------------------------

_DATASET = "/datasets/<uuid:dataset_id>"
_DOCUMENT = f"{_DATASET}/documents/<uuid:document_id>"
_KNOWLEDGE_QUERIES: dict[str, Callable[[Ctx], dict[str, str]]] = {
    "/datasets": lambda c: {"page": "1", "limit": "20", "keyword": "X", "include_all": "false"},
    f"{_DATASET}/documents": lambda c: {"page": "1", "limit": "20", "keyword": "doc", "status": "available",
                                        "fetch": "true"},
    _DOCUMENT: lambda c: {"metadata": "all"},
    f"{_DOCUMENT}/segments": lambda c: {"page": "1", "limit": "20", "keyword": "x", "status": "completed",
                                        "enabled": "all"},
    f"{_DOCUMENT}/segments/<uuid:segment_id>/child_chunks": lambda c: {"page": "1", "limit": "20", "keyword": "x"},
}
# For every route with a documented query schema: arguments that pass, so that each bad one is judged alone.
VALID_QUERIES: dict[str, Callable[[Ctx], dict[str, str]]] = {
    **{f"GET {prefix}{path}": query for prefix in ("/console/api", "/v1", "/api")
       for path, query in _KNOWLEDGE_QUERIES.items()},
    "GET /console/api/apps": lambda c: {"page": "1", "limit": "20", "mode": "all", "name": "app"},
    "GET /console/api/datasets/process-rule": lambda c: {"document_id": c.seed.document_id},
    "GET /console/api/tags": lambda c: {"type": "knowledge", "keyword": "tag"},
    "GET /console/api/activate/check": lambda c: {"email": "x@example.com", "token": "t"},
    "GET /console/api/workspaces/current/model-providers": lambda c: {"model_type": "llm"},
    "GET /console/api/workspaces/current/default-model": lambda c: {"model_type": "llm"},
    "GET /files/<uuid:file_id>/file-preview": lambda c: {"timestamp": "1", "nonce": "n", "sign": "s"},
    **{f"GET {prefix}{path}": query for prefix in ("/v1", "/api") for path, query in {
        "/conversations": lambda c: {"user": USER, "limit": "20", "sort_by": "-updated_at"},
        "/messages": lambda c: {"user": USER, "conversation_id": c.seed.conversation_id, "limit": "20"},
        "/messages/<uuid:message_id>/suggested": lambda c: {"user": USER},
    }.items()},
}


def bad_query_values(field: fields.Field) -> list[str]:
    """Query-string values `field` must refuse: not a number/boolean, out of range, not an option, too long."""
    if isinstance(field, fields.Boolean):
        return ["maybe"]
    if isinstance(field, fields.Number):
        ranges = [v for v in field.validators if isinstance(v, validate.Range)]
        return ["abc", "1.5", *(str(r.min - 1) for r in ranges if r.min is not None),
                *(str(r.max + 1) for r in ranges if r.max is not None)]
    if isinstance(field, fields.String):
        options = [v for v in field.validators if isinstance(v, validate.OneOf)]
        limit = max_length(field)
        return [*(["bogus"] if options else []), *(["x" * (limit + 1)] if limit else [])]
    return []


def query_routes(pg_app) -> dict[str, Route]:
    return {str(r): r for r in api_routes(pg_app, ("/console/api", "/v1", "/api", "/files"))
            if r.method == "GET" and view_doc(pg_app, r).get("query")}


def test_query_table_covers_every_route_with_query_args(pg_app):
    routes = query_routes(pg_app)

    assert sorted(routes.keys() - VALID_QUERIES.keys()) == [], "GET routes with query args missing from VALID_QUERIES"
    assert sorted(VALID_QUERIES.keys() - routes.keys()) == [], "VALID_QUERIES names routes that no longer exist"


@pytest.mark.parametrize("key", sorted(VALID_QUERIES))
def test_get_route_rejects_each_bad_query_arg(pg_app, ctx, key):
    route = query_routes(pg_app)[key]
    schema = view_doc(pg_app, route)["query"]
    schema = schema() if isinstance(schema, type) else schema
    valid, failures = VALID_QUERIES[key](ctx), []
    path = route.path(valid_params(route, ctx))
    headers = ctx.headers(route) if not route.rule.startswith("/files/") else {}
    before = ctx.snapshot()

    for name, field in input_fields(schema).items():
        for value in bad_query_values(field):
            response = ctx.console.client.get(path, headers=headers, query_string={**valid, name: value})
            check_4xx(f"{name}={value[:20]!r}", response, failures, status=400)
        nul = ctx.console.client.get(path, headers=headers, query_string={**valid, name: "a\x00b"})
        if nul.status_code >= 500:
            failures.append(f"{name} with NUL -> {nul.status_code}")

    assert not failures, "\n".join(failures)
    ctx.assert_unchanged(before)


@pytest.mark.parametrize(("arg", "value"), [
    ("page", "0"), ("page", "-1"), ("page", "abc"), ("page", "100000"), ("page", "1.5"), ("limit", "0"),
    ("limit", "1000"), ("limit", "abc"), ("mode", "bogus"), ("name", LONG),
    ("is_created_by_me", "maybe"),
])
def test_app_list_rejects_out_of_range_query_arg(ctx, arg, value):
    before = ctx.snapshot()

    response = ctx.console.client.get("/console/api/apps", query_string={arg: value}, headers=ctx.owner.headers)

    assert response.status_code == 400
    assert body(response)["code"] == "invalid_param"
    assert body(response)["params"] == arg
    assert error_keys_ok(body(response))
    ctx.assert_unchanged(before)


def test_app_list_strips_nul_characters_from_query_args(ctx):
    response = ctx.console.client.get("/console/api/apps", query_string={"name": "ch\x00at"},
                                      headers=ctx.owner.headers)

    assert response.status_code == 200
    assert [a["name"] for a in body(response)["data"]] == ["X-chat-app"]


def test_app_list_ignores_unknown_query_args(ctx):
    response = ctx.console.client.get("/console/api/apps?unknown=1&page=1&limit=100", headers=ctx.owner.headers)

    assert response.status_code == 200
    assert body(response)["total"] == 3


# ---- oversize bodies -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_body_app(scratch_database, pg_services, tmp_path_factory):
    return create_app(distributed_settings(Path(tmp_path_factory.mktemp("small")), scratch_database, pg_services[1],
                                           MAX_REQUEST_BODY_MB="1"))


def test_json_route_rejects_oversize_body_with_413(small_body_app, db_session):
    client = small_body_app.test_client()

    response = client.post("/console/api/login", data='{"email": "' + "x" * (2 * 1024 * 1024) + '"}',
                           content_type=JSON)

    assert response.status_code == 413
    assert error_keys_ok(body(response))
