"""Generate the OpenAPI documents in openapi/ from the URL map, `@doc` metadata and marshmallow schemas.

Three documents: console.json (`/console/api`), service.json (served at both `/v1` and `/api`),
ops.json (`/health`, `/ready`, `/metrics`). `undocumented(app)` lists rules without `@doc`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from api.schemas.base import ErrorSchema

OUT_DIR = Path(__file__).resolve().parents[1] / "openapi"
DOCUMENTS = {
    "console": ("/console/api", [{"url": "/console/api"}], "Console API"),
    "service": ("/v1", [{"url": "/v1"}, {"url": "/api"}], "Service API"),
    "ops": ("", [{"url": "/"}], "Operational endpoints"),
}
SKIPPED_PREFIXES = ("/api/",)  # the same resources as /v1, documented once with two servers
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_ERROR_TEXT = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 409: "Conflict",
               413: "Payload too large", 415: "Unsupported media type", 429: "Too many requests"}
_SECURITY = {"console": [{"consoleBearer": []}], "app_key": [{"appKey": []}], "dataset_key": [{"datasetKey": []}],
             "none": []}


def _document_for(rule: str) -> tuple[str, str] | None:
    if rule.startswith("/static") or rule == "/api" or rule.startswith(SKIPPED_PREFIXES):
        return None
    for name, (prefix, _servers, _title) in DOCUMENTS.items():
        if prefix and (rule == prefix or rule.startswith(prefix + "/")):
            return name, rule[len(prefix):] or "/"
    return "ops", rule


def _view_doc(app: Flask, endpoint: str, method: str) -> dict[str, Any] | None:
    view = app.view_functions[endpoint]
    target = getattr(getattr(view, "view_class", None), method.lower(), None) or view
    return getattr(target, "__apidoc__", None)


def _operation(meta: dict[str, Any], params: list[dict[str, Any]]) -> dict[str, Any]:
    enums = meta["path"]
    params = [{**p, "schema": {**p["schema"], "enum": list(enums[p["name"]])}} if p["name"] in enums else p
              for p in params]
    op: dict[str, Any] = {"summary": meta["summary"], "parameters": list(params),
                          "security": _SECURITY[meta["auth"]]}
    if meta["query"] is not None:
        op["parameters"].append({"in": "query", "schema": meta["query"]})
    if meta["body"] is not None:
        op["requestBody"] = {"required": meta["body_required"],
                             "content": {meta["content_type"]: {"schema": meta["body"]}}}
    success: dict[str, Any] = {"description": "Success"}
    if meta["response"] is not None:
        success["content"] = {"application/json": {"schema": meta["response"]}}
    op["responses"] = {str(meta["status"]): success}
    for status in meta["errors"]:
        op["responses"][str(status)] = {"description": _ERROR_TEXT.get(status, "Error"),
                                        "content": {"application/json": {"schema": "Error"}}}
    return op


def build_documents(app: Flask) -> dict[str, dict[str, Any]]:
    specs: dict[str, APISpec] = {}
    for name, (_prefix, servers, title) in DOCUMENTS.items():
        spec = APISpec(title=f"Openify {title}", version="1.0.0", openapi_version="3.0.3",
                       plugins=[MarshmallowPlugin()], servers=servers)
        spec.components.schema("Error", schema=ErrorSchema)
        spec.components.security_scheme("consoleBearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        spec.components.security_scheme("appKey", {"type": "http", "scheme": "bearer",
                                                   "description": "app-… key"})
        spec.components.security_scheme("datasetKey", {"type": "http", "scheme": "bearer",
                                                       "description": "dataset-… key"})
        specs[name] = spec
    paths: dict[tuple[str, str], dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        target = _document_for(rule.rule)
        if target is None:
            continue
        name, path = target
        params = [{"in": "path", "name": var, "required": True,
                   "schema": {"type": "string", **({"format": "uuid"} if conv == "uuid" else {})}}
                  for conv, var in _PARAM.findall(path)]
        oapi_path = _PARAM.sub(r"{\2}", path)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            meta = _view_doc(app, rule.endpoint, method)
            if meta is not None:
                paths.setdefault((name, oapi_path), {})[method.lower()] = _operation(meta, params)
    for (name, oapi_path), operations in sorted(paths.items()):
        specs[name].path(path=oapi_path, operations=operations)
    return {name: spec.to_dict() for name, spec in specs.items()}


def undocumented(app: Flask) -> list[str]:
    """`METHOD rule` for every routed method that carries no `@doc`."""
    missing = []
    for rule in app.url_map.iter_rules():
        if _document_for(rule.rule) is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if _view_doc(app, rule.endpoint, method) is None:
                missing.append(f"{method} {rule.rule}")
    return missing


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_documents(app: Flask, *, check: bool = False) -> list[str]:
    """Write openapi/<name>.json; with check=True write nothing and return the stale names."""
    stale = []
    for name, document in build_documents(app).items():
        path = OUT_DIR / f"{name}.json"
        text = render(document)
        if not path.exists() or path.read_text() != text:
            stale.append(name)
            if not check:
                OUT_DIR.mkdir(exist_ok=True)
                path.write_text(text)
    return stale
