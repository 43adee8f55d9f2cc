"""Server-sent events framing: `data: <compact JSON>\\n\\n` and the keep-alive `event: ping\\n\\n`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

PING = b"event: ping\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
MIMETYPE = "text/event-stream"


def format_event(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n\n"


def frames(events: Iterator[dict[str, Any] | None]) -> Iterator[bytes]:
    """Frame a stream of event dicts; `None` means a keep-alive ping."""
    for event in events:
        yield PING if event is None else format_event(event)
