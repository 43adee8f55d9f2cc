"""Request parsing helpers shared by every controller."""

from __future__ import annotations

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
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise BadRequest(_BAD_JSON)
    if not isinstance(data, dict):
        raise ValidationError("JSON body must be an object.")
    return schema.load(data)


def query_args(schema: Schema) -> dict[str, Any]:
    return schema.load(request.args.to_dict())


def client_ip() -> str:
    # X-Forwarded-For is honoured only behind a proxy configured with ProxyFix (see api.app).
    return request.remote_addr or "unknown"


def service_api_base() -> str:
    settings = get_settings()
    return (settings.service_api_url or request.host_url.rstrip("/")) + "/v1"


def console_web_base() -> str:
    settings = get_settings()
    return settings.console_web_url or request.host_url.rstrip("/")
