"""PDF via pypdfium2 (PDFium, a self-contained wheel): one document per page, metadata {"page": n} (1-based).

PDFium is not thread-safe, so extraction is serialised by a process-wide lock. Encrypted, corrupt or truncated
files raise ExtractionError ("The PDF file could not be read: ...").
"""

from __future__ import annotations

import threading

import pypdfium2 as pdfium

from api.core.rag.entities import SourceDocument
from api.core.rag.errors import ExtractionError

_PDFIUM_LOCK = threading.Lock()


def extract_pdf(data: bytes) -> list[SourceDocument]:
    """One document per page, in page order, with the page's text (line ends normalised to "\\n")."""
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise ExtractionError(f"The PDF file could not be read: {_reason(exc)}")
        try:
            return [SourceDocument(text=_page_text(pdf, i), metadata={"page": i + 1}) for i in range(len(pdf))]
        finally:
            pdf.close()


def _page_text(pdf: pdfium.PdfDocument, index: int) -> str:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_bounded()
        finally:
            textpage.close()
    finally:
        page.close()
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _reason(exc: Exception) -> str:
    message = str(exc).strip()
    lowered = message.lower()
    if "password" in lowered:
        return "it is password-protected."
    if "format" in lowered or "data" in lowered:
        return "the file is damaged or is not a PDF."
    return message or exc.__class__.__name__
