"""In-memory stand-ins for the knowledge ports (core.rag.ports.VectorStore / FullTextIndex), passed in through
service parameters by tests that exercise the indexing service before (or without) the real stores.

Both keep entries by id, as the real stores must (upsert replaces), count every write, and can be told to
"crash" on a given upsert call with an exception that is not an `Exception` (the process dying mid-run).
"""

from __future__ import annotations

from collections.abc import Sequence

from api.core.rag.ports import Hit, IndexedChunk


class Crash(BaseException):
    """Simulates the worker process dying: no `except Exception` handler sees it."""


class InMemoryIndex:
    def __init__(self, *, crash_on_upsert: int | None = None) -> None:
        self.entries: dict[str, IndexedChunk] = {}
        self.upserts = 0
        self.upserted_ids: list[str] = []
        self.crash_on_upsert = crash_on_upsert

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        self.upserts += 1
        if self.crash_on_upsert is not None and self.upserts == self.crash_on_upsert:
            raise Crash(f"simulated crash on upsert #{self.upserts}")
        for chunk in chunks:
            self.entries[chunk.id] = chunk
            self.upserted_ids.append(chunk.id)

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None:
        doomed = set(document_ids)
        self.entries = {k: v for k, v in self.entries.items()
                        if not (v.dataset_id == dataset_id and v.document_id in doomed)}

    def delete_chunks(self, dataset_id: str, chunk_ids: Sequence[str]) -> None:
        doomed = set(chunk_ids)
        self.entries = {k: v for k, v in self.entries.items() if not (v.dataset_id == dataset_id and k in doomed)}

    def delete_dataset(self, dataset_id: str) -> None:
        self.entries = {k: v for k, v in self.entries.items() if v.dataset_id != dataset_id}

    def ids(self, document_id: str | None = None) -> set[str]:
        return {k for k, v in self.entries.items() if document_id is None or v.document_id == document_id}


class InMemoryVectorStore(InMemoryIndex):
    def search(self, dataset_id: str, vector: Sequence[float], *, top_k: int) -> list[Hit]:
        def cosine(a: Sequence[float], b: Sequence[float]) -> float:
            dot = sum(x * y for x, y in zip(a, b, strict=False))
            norm = (sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5)
            return dot / norm if norm else 0.0

        best: dict[str, float] = {}
        for entry in self.entries.values():
            if entry.dataset_id == dataset_id and entry.vector is not None:
                score = cosine(vector, entry.vector)
                best[entry.segment_id] = max(score, best.get(entry.segment_id, -1.0))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:top_k]
        return [Hit(segment_id=sid, score=score) for sid, score in ranked]


class InMemoryFullText(InMemoryIndex):
    def search(self, dataset_id: str, query: str, *, top_k: int) -> list[Hit]:
        terms = query.lower().split()
        hits = [Hit(segment_id=e.segment_id, score=1.0) for e in self.entries.values()
                if e.dataset_id == dataset_id and any(t in e.content.lower() for t in terms)]
        return hits[:top_k]
