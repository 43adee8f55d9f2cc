"""Request parsing helpers shared by every controller."""

from __future__ import annotations

import math
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import BadRequest

from api.extensions.runtime import get_settings

_BAD_JSON = "Invalid JSON payload received or JSON payload is empty."
TOGGLE_ACTIONS = ("enable", "disable")  # path values that switch a feature on or off


def json_object(*, optional: bool = False) -> dict[str, Any]:
    """The JSON body as an object with NUL characters removed from every string and key (PostgreSQL stores none;
    Dify strips them from queries). Malformed JSON → 400; not an object, NaN or Infinity → 400 invalid_param."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return {}
        raise BadRequest(_BAD_JSON)
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:  # nested deeper than the JSON parser recurses
        raise BadRequest(_BAD_JSON)
    if data is None:
        raise BadRequest(_BAD_JSON)
    if not isinstance(data, dict):
        raise ValidationError("JSON body must be an object.")
    return _storable(data)


def json_body(schema: Schema, *, optional: bool = False) -> dict[str, Any]:
    """Load the JSON body with `schema` (see json_object)."""
    return schema.load(json_object(optional=optional))


def _storable(data: dict[str, Any]) -> dict[str, Any]:
    """Strip NUL characters in place and refuse NaN/Infinity, anywhere in `data` (a 500 in PostgreSQL otherwise)."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # iterative: the body may nest as deep as the JSON parser allows
        path, node = stack.pop()
        if isinstance(node, dict) and any("\x00" in key for key in node):
            items = list(node.items())
            node.clear()
            node.update((key.replace("\x00", ""), value) for key, value in items)
        for key, value in list(node.items()) if isinstance(node, dict) else enumerate(node):
            where = f"{path}[{key}]" if isinstance(node, list) else f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and "\x00" in value:
                node[key] = value.replace("\x00", "")
            elif isinstance(value, float) and not math.isfinite(value):
                raise ValidationError({where: ["Must be a finite number."]})
            elif isinstance(value, dict | list):
                stack.append((where, value))
    return data


def query_args(schema: Schema) -> dict[str, Any]:
    """Load the query string with `schema`, NUL characters removed; a List field gets every value of its
    repeated argument (`?tag_ids=a&tag_ids=b`), any other field the first."""
    lists = {f.data_key or name for name, f in schema.fields.items() if isinstance(f, fields.List)}
    return schema.load({key: [v.replace("\x00", "") for v in request.args.getlist(key)] if key in lists
                        else request.args[key].replace("\x00", "") for key in request.args})


def client_ip() -> str:
    # X-Forwarded-For is honoured only behind a proxy configured with ProxyFix (see api.app).
    return request.remote_addr or "unknown"


def service_api_base() -> str:
    settings = get_settings()
    return (settings.service_api_url or request.host_url.rstrip("/")) + "/v1"


def console_web_base() -> str:
    settings = get_settings()
    return settings.console_web_url or request.host_url.rstrip("/")
