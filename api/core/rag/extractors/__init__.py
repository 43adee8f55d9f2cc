"""File extraction registry: bytes of an uploaded file -> list[SourceDocument], by file extension.

`extract` raises only UnsupportedFileTypeError (unknown extension) or ExtractionError (corrupt, encrypted or
undecodable input, with a human-readable message such as "The PDF file could not be read: ..."); any other failure
inside a parser is wrapped into ExtractionError.
"""

from __future__ import annotations

from collections.abc import Callable

from api.core.rag.entities import SourceDocument
from api.core.rag.errors import ExtractionError, UnsupportedFileTypeError
from api.core.rag.extractors.csv_extractor import extract_csv
from api.core.rag.extractors.excel_extractor import extract_xls, extract_xlsx
from api.core.rag.extractors.html_extractor import extract_html
from api.core.rag.extractors.json_extractor import extract_json
from api.core.rag.extractors.markdown_extractor import extract_markdown
from api.core.rag.extractors.pdf_extractor import extract_pdf
from api.core.rag.extractors.text_extractor import decode_text, extract_text
from api.core.rag.extractors.word_extractor import extract_docx

Extractor = Callable[[bytes], list[SourceDocument]]

# extension -> (human name used in messages, extractor)
_REGISTRY: dict[str, tuple[str, Extractor]] = {
    "txt": ("text", extract_text),
    "vtt": ("text", extract_text),
    "properties": ("text", extract_text),
    "md": ("Markdown", extract_markdown),
    "markdown": ("Markdown", extract_markdown),
    "mdx": ("Markdown", extract_markdown),
    "html": ("HTML", extract_html),
    "htm": ("HTML", extract_html),
    "pdf": ("PDF", extract_pdf),
    "docx": ("Word", extract_docx),
    "csv": ("CSV", extract_csv),
    "xlsx": ("Excel", extract_xlsx),
    "xls": ("Excel", extract_xls),
    "json": ("JSON", extract_json),
}

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_REGISTRY)

__all__ = ["SUPPORTED_EXTENSIONS", "decode_text", "extension_of", "extract", "is_supported"]


def extension_of(filename: str) -> str:
    """The lower-cased extension of `filename` without the dot ("" when there is none)."""
    name = filename.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def is_supported(filename: str) -> bool:
    """True when `extract` knows the extension of `filename`."""
    return extension_of(filename) in _REGISTRY


def extract(filename: str, data: bytes) -> list[SourceDocument]:
    """Extract the text documents of the file `filename` whose content is `data`.

    Raises UnsupportedFileTypeError for an extension outside SUPPORTED_EXTENSIONS and ExtractionError for input
    that cannot be parsed; never any other exception type.
    """
    extension = extension_of(filename)
    entry = _REGISTRY.get(extension)
    if entry is None:
        shown = f".{extension}" if extension else "without an extension"
        raise UnsupportedFileTypeError(f"File type not allowed: {shown}. Supported: {', '.join(sorted(_REGISTRY))}.")
    kind, extractor = entry
    try:
        return extractor(bytes(data))
    except ExtractionError:
        raise
    except Exception as exc:  # a parser's own failure on corrupt input
        reason = str(exc).strip() or exc.__class__.__name__
        raise ExtractionError(f"The {kind} file could not be read: {reason}")
