"""Plain text (txt, and Dify's other plain formats vtt/properties): decoded to str, one document.

Decoding: UTF-8 (a BOM is dropped), then charset-normalizer's best guess; undecodable bytes raise ExtractionError.
Among single-byte guesses that fit about equally well, Windows-1252 (the commonest legacy encoding) wins, so short
French or German text is not read as Baltic or Central European. Line ends are normalised to "\\n".
"""

from __future__ import annotations

from charset_normalizer import from_bytes
from charset_normalizer.utils import is_multi_byte_encoding

from api.core.rag.entities import SourceDocument
from api.core.rag.errors import ExtractionError

_PREFERRED_SINGLE_BYTE = "cp1252"
_CHAOS_TOLERANCE = 0.1


def decode_text(data: bytes, kind: str = "text") -> str:
    """`data` as text: utf-8 / utf-8-sig first, else charset-normalizer; ExtractionError when nothing fits."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = _guess(data, kind)
        if text.startswith("\ufeff"):
            text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _guess(data: bytes, kind: str) -> str:
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise ExtractionError(f"The {kind} file could not be read: its character encoding is unknown.")
    if not is_multi_byte_encoding(best.encoding):
        for match in matches:
            if match.encoding == _PREFERRED_SINGLE_BYTE and match.chaos <= best.chaos + _CHAOS_TOLERANCE:
                return str(match)
    return str(best)


def extract_text(data: bytes) -> list[SourceDocument]:
    """One document holding the decoded text."""
    return [SourceDocument(text=decode_text(data), metadata={})]
