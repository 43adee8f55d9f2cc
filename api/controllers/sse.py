"""Turning a service event stream into an SSE response (after releasing the DB session)."""

from collections.abc import Iterator
from typing import Any

from flask import Response

from api.extensions.database import db
from api.libs import sse


def sse_response(events: Iterator[dict[str, Any] | None]) -> Response:
    # The generator runs after the request handler returns: give the pooled connection back now.
    db.session.remove()
    return Response(sse.frames(events), mimetype=sse.MIMETYPE, headers=sse.HEADERS, direct_passthrough=True)
