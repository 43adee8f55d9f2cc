"""CSV via the stdlib csv module: the first row is the header, each further row becomes one line
"header1: value1; header2: value2" (empty values skipped), like Dify's per-row "column: value" documents.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from api.core.rag.entities import SourceDocument
from api.core.rag.errors import ExtractionError
from api.core.rag.extractors.text_extractor import decode_text


def extract_csv(data: bytes) -> list[SourceDocument]:
    """One document; one line per data row."""
    text = decode_text(data, "CSV")
    try:
        delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise ExtractionError(f"The CSV file could not be read: {exc}")
    return [SourceDocument(text="\n".join(rows_to_lines(rows)), metadata={})]


def rows_to_lines(rows: Iterable[Sequence[Any]]) -> list[str]:
    """Header + data rows as "header: value; ..." lines; blank rows skipped, unnamed columns "Column N"."""
    lines: list[str] = []
    headers: list[str] | None = None
    for row in rows:
        values = [format_value(v) for v in row]
        if not any(values):
            continue
        if headers is None:
            headers = [v or f"Column {i + 1}" for i, v in enumerate(values)]
            continue
        pairs = [
            f"{headers[i] if i < len(headers) else f'Column {i + 1}'}: {value}"
            for i, value in enumerate(values)
            if value
        ]
        lines.append("; ".join(pairs))
    return lines


def format_value(value: Any) -> str:
    """A cell value as text: None -> "", 3.0 -> "3", dates ISO-formatted, whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())
