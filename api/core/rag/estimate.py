"""Indexing estimate: what indexing would produce from extracted documents, without embedding or storing anything.

Dify's IndexingRunner.indexing_estimate, minus the model: each source (one file) is cleaned and split by the
process rule exactly as the pipeline does (processor.transform); the estimate counts the segments and keeps the
first PREVIEW_LIMIT of them, with their child chunks in parent-child mode (`child_chunks` is None otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.core.rag.entities import ProcessRule, SourceDocument
from api.core.rag.processor import transform

PREVIEW_LIMIT = 10  # Dify's preview cap


@dataclass
class IndexingEstimate:
    total_segments: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Dify's body: `{"total_segments", "preview": [{"content", "child_chunks"}], "qa_preview": None}`."""
        return {"total_segments": self.total_segments, "preview": list(self.preview), "qa_preview": None}


def estimate(sources: Iterable[Sequence[SourceDocument]], rule: ProcessRule, *,
             preview_limit: int = PREVIEW_LIMIT) -> IndexingEstimate:
    """Split every source (the documents extracted from one file) by `rule`; count and preview the segments.

    Accepts a lazy iterable, so a caller can extract one file at a time.
    """
    result = IndexingEstimate()
    for documents in sources:
        for chunk in transform(documents, rule):
            result.total_segments += 1
            if len(result.preview) < preview_limit:
                children = [child.content for child in chunk.children] if rule.mode == "hierarchical" else None
                result.preview.append({"content": chunk.content, "child_chunks": children})
    return result
