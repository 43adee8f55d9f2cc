"""Small real files for the extractor tests, generated on the fly (PDF written by hand, Office files by their
libraries). The legacy .xls sample is checked in under tests/fixtures/rag/ (made once with xlwt)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import docx
import openpyxl

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "rag"


def make_pdf(pages: list[str]) -> bytes:
    """A valid PDF 1.4 with one page per entry, each line drawn with the standard Helvetica font."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{4 + 2 * i} 0 R' for i in range(len(pages)))}] "
        f"/Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in text.split("\n"):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("First paragraph about revenue.")
    table = document.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Region", "Sales"), ("North", "120"), ("South | East", "80")]):
        table.cell(r, 0).text = a
        table.cell(r, 1).text = b
    document.add_paragraph("Closing paragraph after the table.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    sheet.append(["Id", "Product", "Price", "Date"])
    sheet.append([1, "Widget", 9.5, dt.datetime(2024, 3, 1)])
    sheet.append([2, "Gadget", 12.0, None])
    sheet.append([None, None, None, None])
    sheet.append([3, "知识库", 7, dt.datetime(2024, 3, 2, 14, 30)])
    workbook.create_sheet("Blank")
    notes = workbook.create_sheet("Notes")
    notes.append(["Key", "Value"])
    notes.append(["owner", "ops team"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
