"""Operational endpoints (/health, /ready, /metrics) and the per-request hooks:
request id, access log line (path without query string), Prometheus metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

import sqlalchemy as sa
from flask import Flask, Response, g, jsonify, request

from api.extensions import metrics
from api.extensions.database import db
from api.extensions.logging import request_id_var
from api.extensions.runtime import get_runtime
from api.libs.apidoc import doc

logger = logging.getLogger("api.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _before() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.request_id, g.started = request_id, time.perf_counter()
    request_id_var.set(request_id)


def _after(response: Response) -> Response:
    started = g.get("started")
    if started is None:
        return response
    elapsed = time.perf_counter() - started
    endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    metrics.observe(request.method, endpoint, response.status_code, elapsed)
    response.headers["X-Request-Id"] = g.request_id
    logger.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed * 1000)
    return response


@doc("Process is up", auth="none")
def health() -> Response:
    return jsonify({"status": "ok"})


@doc("Database (and Redis when configured) reachable", auth="none", errors=(503,))
def ready() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        logger.warning("readiness: database unreachable")
        checks["database"] = "unreachable"
    finally:
        db.session.remove()
    client = get_runtime().redis
    if client is not None:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception:
            logger.warning("readiness: redis unreachable")
            checks["redis"] = "unreachable"
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        body = {"code": "not_ready", "message": f"{', '.join(failing)} unreachable", "status": 503, "checks": checks}
        return jsonify(body), 503
    return jsonify({"status": "ready", "checks": checks}), 200


@doc("Prometheus metrics", auth="none", content_type="text/plain")
def metrics_endpoint() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, content_type=content_type)


def _teardown(_exc: BaseException | None) -> None:
    request_id_var.set("-")


def register_ops(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
    app.teardown_request(_teardown)
    app.add_url_rule("/health", "health", health)
    app.add_url_rule("/ready", "ready", ready)
    app.add_url_rule("/metrics", "metrics", metrics_endpoint)
