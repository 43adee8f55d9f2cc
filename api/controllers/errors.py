"""The one translation of errors to HTTP: `{"code","message","status"}` bodies for everything."""

from __future__ import annotations

import logging
import re
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from api.core.app.model_config import ModelConfigError
from api.core.errors import CoreError
from api.extensions.database import is_connect_failure
from api.services.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RunFailedError,
    ServiceError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)

logger = logging.getLogger(__name__)

_STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (InvalidInputError, 400),
    (ModelConfigError, 400),
    (UnauthorizedError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (TooManyRequestsError, 429),
    (ServiceUnavailableError, 503),
)
_BAD_JSON = "Invalid JSON payload received or JSON payload is empty."


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_response(code: str, message: str, status: int, **extra: Any) -> Response:
    body = {"code": code, "message": message, "status": status, **extra}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    if isinstance(messages, dict) and messages:
        key, value = next(iter(messages.items()))
        path = f"{prefix}.{key}" if prefix else str(key)
        return _first_error(value, path) if isinstance(value, dict) else (path, _first_error(value, path)[1])
    if isinstance(messages, list) and messages:
        return prefix, str(messages[0]) if not isinstance(messages[0], dict | list) else _first_error(messages[0])[1]
    return prefix, str(messages)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    @app.errorhandler(CoreError)
    def _domain_error(exc: ServiceError | CoreError) -> Response:
        status = exc.status if isinstance(exc, RunFailedError) else next(
            (s for t, s in _STATUS_BY_ERROR if isinstance(exc, t)), 400)
        extra: dict[str, Any] = {}
        field = getattr(exc, "field", None)
        if field:
            extra["params"] = field
        response = error_response(exc.code, exc.message, status, **extra)
        if isinstance(exc, ServiceUnavailableError):
            response.headers["Retry-After"] = "1"
        if isinstance(exc, TooManyRequestsError):
            response.headers["Retry-After"] = str(exc.retry_after)
            if exc.limit:
                response.headers["X-RateLimit-Limit"] = str(exc.limit)
                response.headers["X-RateLimit-Remaining"] = str(exc.remaining)
                response.headers["X-RateLimit-Reset"] = str(exc.retry_after)
        return response

    @app.errorhandler(ValidationError)
    def _invalid_payload(exc: ValidationError) -> Response:
        field, reason = _first_error(exc.normalized_messages())
        if field == "_schema":
            field = ""
        message = f"{field}: {reason}" if field else reason
        return error_response("invalid_param", message, 400, params=field or None)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or ""
        if "Failed to decode JSON object" in message or "did not attempt to load JSON" in message:
            message = _BAD_JSON
        code = _snake(type(exc).__name__)
        if status == 404 and code == "not_found":
            message = "The requested URL was not found on the server."
        response = error_response(code, message, status)
        if status == 405 and exc.response is None:
            allowed = getattr(exc, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(sqlalchemy.exc.TimeoutError)  # connection pool exhausted
    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    def _overloaded(exc: Exception) -> Response:
        # Load shedding, not a bug: tell the client to retry instead of answering 500.
        logger.warning("service unavailable: %s", type(exc).__name__)
        response = error_response("service_unavailable", "The service is busy. Please retry shortly.", 503)
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(sqlalchemy.exc.DBAPIError)
    def _database(exc: sqlalchemy.exc.DBAPIError) -> Response:
        # A pooled connection found dead (database restarted): SQLAlchemy has already dropped the pool, so the
        # client's retry gets a fresh connection. No connection could be made at all (server down, or its
        # max_connections reached): also retryable. Anything else is a bug.
        if exc.connection_invalidated or is_connect_failure(exc):
            return _overloaded(exc)
        return _unexpected(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error: %s", type(exc).__name__)
        return error_response("internal_server_error", "Internal Server Error", 500)
