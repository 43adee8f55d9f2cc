"""JSON: parsed, then pretty-printed (2-space indent, non-ASCII kept) as one document."""

from __future__ import annotations

import json

from api.core.rag.entities import SourceDocument
from api.core.rag.errors import ExtractionError
from api.core.rag.extractors.text_extractor import decode_text


def extract_json(data: bytes) -> list[SourceDocument]:
    """One document with the pretty-printed JSON; invalid JSON raises ExtractionError."""
    text = decode_text(data, "JSON")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ExtractionError(f"The JSON file could not be read: {exc}")
    return [SourceDocument(text=json.dumps(value, indent=2, ensure_ascii=False), metadata={})]
