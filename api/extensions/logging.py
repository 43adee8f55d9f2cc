"""Structured (JSON) logs carrying the request id, with a last-line redaction of secrets.

We never log secrets on purpose; the redaction filter is the safety net for a third-party
library or an exception message that echoes a header or body.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import logging.handlers
import queue
import re
import sys
import time

from api.config import Settings

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_SECRET_PATTERNS = (
    re.compile(r"\b(app|dataset)-[A-Za-z0-9]{24}\b"),  # API keys
    re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"),  # JWTs
    re.compile(r"\b[0-9a-fA-F]{64,}\b|\$argon2[a-z]*\$[^\s'\",]+"),  # refresh tokens, digests, password hashes
    re.compile(r"(?i)(password|secret|token|api_key|authorization)(\"?\s*[:=]\s*\"?)[^\s\",&]+"),
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS[:3]:
        text = pattern.sub("[REDACTED]", text)
    return _SECRET_PATTERNS[3].sub(r"\1\2[REDACTED]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "message": record.getMessage(),
        }
        if record.exc_text:
            payload["exc"] = record.exc_text
        elif record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return super().format(record)


class _RequestIdFilter(logging.Filter):
    """Stamp the request id on the record in the caller's thread (the writer thread has no context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(settings: Settings) -> None:
    """Log through a queue: request threads only enqueue; one writer thread redacts, formats and writes.

    Keeps the stderr write and its lock off the request path (it cost ~30% of a cached API call).
    """
    root = logging.getLogger()
    if any(getattr(h, "_openify", False) for h in root.handlers):
        return
    writer = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        writer.setFormatter(JsonFormatter())
    else:
        writer.setFormatter(TextFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    writer.addFilter(RedactingFilter())
    handler = logging.handlers.QueueHandler(queue.SimpleQueue())
    handler._openify = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    listener = logging.handlers.QueueListener(handler.queue, writer, respect_handler_level=True)
    listener.start()
    atexit.register(listener.stop)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # httpx logs every model call's URL at INFO: a line per generation on the hot path, and a URL may carry a
    # provider's key in its query string. Failures still reach the logs as the provider errors they become.
    logging.getLogger("httpx").setLevel(logging.WARNING)
