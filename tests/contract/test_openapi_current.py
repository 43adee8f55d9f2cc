"""The checked-in OpenAPI documents are what the code generates, and every route is in them."""

import re

import pytest

from api.app import create_app
from api.openapi import OUT_DIR, build_documents, render, undocumented
from tests.conftest import embedded_settings


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(embedded_settings(tmp_path_factory.mktemp("openapi")))


@pytest.fixture(scope="module")
def documents(app):
    return build_documents(app)


def test_openapi_documents_are_current(documents):
    stale = [name for name, doc in documents.items()
             if not (OUT_DIR / f"{name}.json").exists() or (OUT_DIR / f"{name}.json").read_text() != render(doc)]

    assert stale == [], f"regenerate with `make openapi`: {stale}"


def test_every_route_method_carries_doc_metadata(app):
    assert undocumented(app) == []


def test_every_routed_method_appears_in_a_document(app, documents):
    documented = {(method.upper(), server["url"].rstrip("/") + path)
                  for doc in documents.values() for path, ops in doc["paths"].items() for method in ops
                  for server in doc["servers"]}
    missing = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if (method, path) not in documented and (method, path.rstrip("/")) not in documented:
                missing.append(f"{method} {rule.rule}")

    assert missing == []


def _operations(app):
    """(rule, method, view function) of every routed class-based view method."""
    for rule in app.url_map.iter_rules():
        view_class = getattr(app.view_functions[rule.endpoint], "view_class", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            fn = getattr(view_class, method.lower(), None)
            if fn is not None:
                yield rule.rule, method, fn


def test_a_required_user_is_documented_as_required(app):
    """Where the app-key decorator answers "Arg user must be provided.", the documented body or query says `user` is
    required (a client generated from the document must send it); where `user` is read, it is documented."""
    checked, wrong = 0, []
    for rule, method, fn in _operations(app):
        user_from, user_required = getattr(fn, "__end_user_arg__", (None, False))
        if user_from is None:
            continue
        meta = fn.__apidoc__
        schema = meta["query"] if user_from == "query" else meta["body"]
        field = schema._declared_fields.get("user") if schema is not None else None
        checked += 1
        if field is None or field.required != user_required:
            wrong.append(f"{method} {rule}: user from {user_from}, required={user_required}, documented {field!r}")

    assert checked >= 10
    assert wrong == []
