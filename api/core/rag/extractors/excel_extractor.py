"""Excel: xlsx via openpyxl (read-only, cached formula values) and legacy xls via xlrd.

One document per non-empty sheet, metadata {"sheet": name}; per sheet the first non-empty row is the header and
each further row becomes a "header: value; ..." line (see csv_extractor.rows_to_lines).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl
import xlrd

from api.core.rag.entities import SourceDocument
from api.core.rag.errors import ExtractionError
from api.core.rag.extractors.csv_extractor import rows_to_lines


def extract_xlsx(data: bytes) -> list[SourceDocument]:
    """One document per sheet with data."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ExtractionError("The Excel file could not be read: it is damaged or is not an .xlsx file.")
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = [(ws.title, rows_to_lines(ws.iter_rows(values_only=True))) for ws in workbook.worksheets]
    finally:
        workbook.close()
    return [SourceDocument(text="\n".join(lines), metadata={"sheet": name}) for name, lines in sheets if lines]


def extract_xls(data: bytes) -> list[SourceDocument]:
    """One document per sheet with data (Excel 97-2003 workbooks)."""
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
    except xlrd.XLRDError as exc:
        raise ExtractionError(f"The Excel file could not be read: {exc}")
    try:
        docs = []
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            lines = rows_to_lines(_xls_rows(sheet, book.datemode))
            if lines:
                docs.append(SourceDocument(text="\n".join(lines), metadata={"sheet": sheet.name}))
            book.unload_sheet(index)
        return docs
    finally:
        book.release_resources()


def _xls_rows(sheet: Any, datemode: int) -> Iterator[list[Any]]:
    for r in range(sheet.nrows):
        row = []
        for cell in sheet.row(r):
            if cell.ctype == xlrd.XL_CELL_DATE:
                try:
                    row.append(xlrd.xldate.xldate_as_datetime(cell.value, datemode))
                except (ValueError, OverflowError, xlrd.xldate.XLDateError):
                    row.append(cell.value)
            elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                row.append(bool(cell.value))
            elif cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
                row.append(None)
            else:
                row.append(cell.value)
        yield row
