"""Request parsing helpers shared by every controller."""

from __future__ import annotations

import math
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import BadRequest

from api.extensions.runtime import get_settings

_BAD_JSON = "Invalid JSON payload received or JSON payload is empty."


def json_body(schema: Schema, *, optional: bool = False) -> dict[str, Any]:
    """Load the JSON body with `schema`; malformed JSON → 400, non-object → 400 invalid_param."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return schema.load({})
        raise BadRequest(_BAD_JSON)
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:  # nested deeper than the JSON parser recurses
        raise BadRequest(_BAD_JSON)
    if data is None:
        raise BadRequest(_BAD_JSON)
    if not isinstance(data, dict):
        raise ValidationError("JSON body must be an object.")
    _reject_unstorable(data)
    return schema.load(data)


def _reject_unstorable(data: Any) -> None:
    """400 for NUL characters and NaN/Infinity anywhere in a JSON body: PostgreSQL stores neither (a 500 later)."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:  # iterative: the body may nest as deep as the JSON parser allows
        path, value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError({path: ["Must not contain NUL characters."]} if path else "NUL character in body.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError({path: ["Must be a finite number."]} if path else "Non-finite number in body.")
        if isinstance(value, dict):
            if any("\x00" in key for key in value):
                raise ValidationError("JSON keys must not contain NUL characters.")
            stack.extend((f"{path}.{key}" if path else key, item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))


def query_args(schema: Schema) -> dict[str, Any]:
    args = request.args.to_dict()
    for key, value in args.items():
        if "\x00" in value:
            raise ValidationError({key: ["Must not contain NUL characters."]})
    return schema.load(args)


def client_ip() -> str:
    # X-Forwarded-For is honoured only behind a proxy configured with ProxyFix (see api.app).
    return request.remote_addr or "unknown"


def service_api_base() -> str:
    settings = get_settings()
    return (settings.service_api_url or request.host_url.rstrip("/")) + "/v1"


def console_web_base() -> str:
    settings = get_settings()
    return settings.console_web_url or request.host_url.rstrip("/")
