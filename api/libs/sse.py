"""Server-sent events framing: `data: <compact JSON>\\n\\n` and the keep-alive `event: ping\\n\\n`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

PING = b"event: ping\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
MIMETYPE = "text/event-stream"


_NAME = re.compile(rb'\{"event":"([A-Za-z_]+)"')


class RawEvent(NamedTuple):
    """An event already serialised as compact JSON (as its producer published it), relayed without re-parsing."""

    name: str
    data: bytes

    @classmethod
    def of(cls, data: bytes) -> RawEvent:
        """Read the name from the leading `{"event":"…"` our producers write; parse only if it is not there."""
        match = _NAME.match(data)
        name = match.group(1).decode() if match else str(json.loads(data).get("event"))
        return cls(name, data)

    def decode(self) -> dict[str, Any]:
        return json.loads(self.data)


def encode(event: dict[str, Any]) -> bytes:
    """Compact JSON, non-ASCII kept (the producer side of RawEvent: put `event` first)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def format_event(event: dict[str, Any] | RawEvent) -> bytes:
    data = event.data if isinstance(event, RawEvent) else encode(event)
    return b"data: " + data + b"\n\n"


def frames(events: Iterator[dict[str, Any] | RawEvent | None]) -> Iterator[bytes]:
    """Frame a stream of events (dicts or pre-serialised RawEvents); `None` means a keep-alive ping."""
    for event in events:
        yield PING if event is None else format_event(event)
