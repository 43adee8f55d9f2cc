"""Ports of the knowledge pipeline. `api.extensions` implements each for both modes:
pgvector + PostgreSQL full text in distributed mode, an embedded vector index + SQLite FTS5 in
embedded mode. Services call only these Protocols, so more stores can follow.

Every write is idempotent by `IndexedChunk.id` (the segment's or child chunk's index_node_id):
re-running a document's indexing writes the same rows, never duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class IndexedChunk:
    id: str  # index_node_id: stable for (document, position, content)
    dataset_id: str
    document_id: str
    segment_id: str  # the segment returned to callers (the parent, for child chunks)
    content: str
    vector: Sequence[float] | None = None


@dataclass(frozen=True)
class Hit:
    segment_id: str
    score: float  # higher is better; cosine similarity in [0, 1] for vectors, normalised rank for full text


class VectorStore(Protocol):
    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Insert or replace chunks (with vectors) by id."""

    def search(self, dataset_id: str, vector: Sequence[float], *, top_k: int) -> list[Hit]:
        """The `top_k` nearest segments by cosine similarity (best per segment)."""

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None: ...

    def delete_chunks(self, dataset_id: str, chunk_ids: Sequence[str]) -> None:
        """Remove single entries by id (e.g. a deleted child chunk); unknown ids are ignored."""

    def delete_dataset(self, dataset_id: str) -> None: ...


class FullTextIndex(Protocol):
    def upsert(self, chunks: Sequence[IndexedChunk]) -> None: ...

    def search(self, dataset_id: str, query: str, *, top_k: int) -> list[Hit]:
        """The `top_k` best full-text matches; fast even for a term that occurs in most segments."""

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None: ...

    def delete_chunks(self, dataset_id: str, chunk_ids: Sequence[str]) -> None:
        """Remove single entries by id; unknown ids are ignored."""

    def delete_dataset(self, dataset_id: str) -> None: ...


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (batched by the implementation)."""
