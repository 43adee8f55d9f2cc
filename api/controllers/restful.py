"""flask-restful wiring: an Api that leaves every error to the one mapping in controllers/errors.py."""

from __future__ import annotations

from typing import Any

import flask_restful
from werkzeug.routing import BaseConverter


class Api(flask_restful.Api):
    def error_router(self, original_handler: Any, e: Exception) -> Any:
        return original_handler(e)


class UUIDStringConverter(BaseConverter):
    """`<uuid:...>` that yields the lower-case string; anything else does not match (404)."""

    regex = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> str:
        return value.lower()

    def to_url(self, value: Any) -> str:
        return str(value)
