"""Word (docx) via python-docx: paragraphs and tables in document order, one document.

Headings ("Heading N" styles) become Markdown headings ("#" * N), tables become Markdown tables (first row as the
header; horizontally merged cells appear once). Blocks are joined with "\\n", as Dify does.
"""

from __future__ import annotations

import io
import zipfile

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from api.core.rag.entities import SourceDocument
from api.core.rag.errors import ExtractionError


def extract_docx(data: bytes) -> list[SourceDocument]:
    """One document with the text of the body's paragraphs and tables, in order."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ExtractionError("The Word file could not be read: it is damaged or is not a .docx file.")
    document = docx.Document(io.BytesIO(data))
    blocks = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            blocks.append(_paragraph_text(block))
        elif isinstance(block, Table):
            blocks.append(table_to_markdown(_table_rows(block)))
    return [SourceDocument(text="\n".join(blocks).strip("\n"), metadata={})]


def table_to_markdown(rows: list[list[str]]) -> str:
    """Rows of cell texts as a Markdown table (first row as header); "" for an empty table."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    padded = [[_cell(c) for c in row] + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(padded[0]) + " |", "|" + "---|" * width]
    lines.extend("| " + " | ".join(row) + " |" for row in padded[1:])
    return "\n".join(lines)


def _paragraph_text(paragraph: Paragraph) -> str:
    text = paragraph.text
    style = paragraph.style.name if paragraph.style is not None else ""
    if text.strip() and style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        if level.isdigit() and 1 <= int(level) <= 6:
            return "#" * int(level) + " " + text.strip()
    return text


def _table_rows(table: Table) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells, previous = [], None
        for cell in row.cells:
            if cell._tc is previous:  # a horizontally merged cell repeats; keep it once
                continue
            previous = cell._tc
            cells.append(cell.text)
        rows.append(cells)
    return rows


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
