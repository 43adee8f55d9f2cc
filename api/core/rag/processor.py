"""Transform extracted documents into chunks: clean each document by the rule, then split it.

This is the "Transform" step of Dify's indexing pipeline (reference §10.3, step 3), minus persistence.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.core.rag.cleaner import clean
from api.core.rag.entities import Chunk, ProcessRule, SourceDocument
from api.core.rag.splitter import split


def transform(documents: Sequence[SourceDocument], rule: ProcessRule) -> list[Chunk]:
    """Clean and split `documents` by `rule` into one list of chunks.

    Positions are 1-based and contiguous across all documents; each chunk carries a copy of its document's
    metadata (e.g. `{"page": 2}`). In hierarchical full-doc mode the documents are joined with "\\n" into one
    parent first (as Dify does), which takes the first document's metadata.
    """
    if not documents:
        return []
    if rule.mode == "hierarchical" and rule.parent_mode == "full-doc":
        text = "\n".join(clean(doc.text, rule) for doc in documents)
        chunks = split(text, rule)
        for chunk in chunks:
            chunk.metadata = dict(documents[0].metadata)
        return chunks
    result: list[Chunk] = []
    for doc in documents:
        for chunk in split(clean(doc.text, rule), rule):
            chunk.position = len(result) + 1
            chunk.metadata = dict(doc.metadata)
            result.append(chunk)
    return result
