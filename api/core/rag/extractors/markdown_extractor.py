"""Markdown (md, markdown, mdx): the decoded text as-is, one document (no header-based sectioning)."""

from __future__ import annotations

from api.core.rag.entities import SourceDocument
from api.core.rag.extractors.text_extractor import decode_text


def extract_markdown(data: bytes) -> list[SourceDocument]:
    """One document holding the Markdown source text."""
    return [SourceDocument(text=decode_text(data, "Markdown"), metadata={})]
