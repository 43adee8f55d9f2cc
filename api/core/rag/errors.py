"""Errors of the knowledge pipeline (extraction, process rules).

Each carries a wire `code` and a message a person can read, e.g. "The PDF file could not be read: ...".
Services map them to HTTP statuses or store the message on the document (`documents.error`).
"""

from __future__ import annotations

from api.core.errors import CoreError


class ExtractionError(CoreError):
    """A file could not be read: corrupt, truncated, encrypted or undecodable."""

    code = "file_extraction_failed"
    default_message = "The file could not be read."


class UnsupportedFileTypeError(CoreError):
    """The file's extension is not one the pipeline can extract."""

    code = "unsupported_file_type"
    default_message = "File type not allowed."


class RuleError(CoreError):
    """A process rule is invalid; `field` names the offending field (dotted path, e.g. `segmentation.max_tokens`)."""

    code = "invalid_param"
    default_message = "The process rule is invalid."

    def __init__(self, message: str | None = None, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field
