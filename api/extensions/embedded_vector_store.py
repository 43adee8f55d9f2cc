"""The embedded vector store (`VECTOR_STORE=embedded`, the default on SQLite): exact cosine search.

Vectors are float32 blobs in `knowledge_vectors` of the app database (any SQLAlchemy dialect), served from an
in-process matrix of normalised vectors per dataset: one matrix-vector product and a partial sort per query, so
recall is 1.0 by construction. A version row per dataset (`knowledge_vector_versions`) gets a new random token in
the same transaction as every write (writers of a dataset take turns on that row): each search compares it with
the cached one and reloads a dataset written elsewhere, while this process's own writes patch its matrix in place.
Least recently used datasets leave the cache beyond `max_cache_bytes`. Thread-safe.

Given the caller's connection (embedded mode passes the request's or task's session connection), writes join its
transaction: on SQLite a store write never waits on the caller's own open write transaction.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from api.core.rag.ports import Hit, IndexedChunk
from api.extensions.index_common import (
    DDL_LOCK_SQL,
    LazySchema,
    Source,
    SourceFactory,
    batches,
    best_per_segment,
    dialect_insert,
    reading,
    resolve,
    transaction,
    unique_by_id,
)

_embedded_meta = sa.MetaData()
EMBEDDED_VECTORS = sa.Table(
    "knowledge_vectors", _embedded_meta,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("dataset_id", sa.String(255), nullable=False),
    sa.Column("document_id", sa.String(255), nullable=False),
    sa.Column("segment_id", sa.String(255), nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float32 little-endian, as given (not normalised)
    sa.Index("ix_knowledge_vectors_dataset_id_document_id", "dataset_id", "document_id"),
)
EMBEDDED_VERSIONS = sa.Table(
    "knowledge_vector_versions", _embedded_meta,
    sa.Column("dataset_id", sa.String(255), primary_key=True),
    # A fresh random token per write: never reused, even when a write rolls back (a counter would be).
    sa.Column("token", sa.String(32), nullable=False),
)


def _normalised(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


class _DatasetIndex:
    """One dataset's vectors of one dimension: rows [0, n) of a growable, normalised float32 matrix."""

    def __init__(self, dim: int, token: str, rows: Sequence[Any]) -> None:
        self.dim, self.token, self.lock = dim, token, threading.Lock()
        self.ids = [row.id for row in rows]
        self.docs = [row.document_id for row in rows]
        self.segs = [row.segment_id for row in rows]
        self.pos = {chunk_id: i for i, chunk_id in enumerate(self.ids)}
        self.matrix = np.zeros((max(16, len(rows) + len(rows) // 8), dim), dtype=np.float32)
        if rows:
            raw = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4").reshape(len(rows), dim)
            self.matrix[:len(rows)] = _normalised(raw)

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes)

    def put(self, chunks: Sequence[IndexedChunk], vectors: np.ndarray) -> None:
        with self.lock:
            for chunk, vector in zip(chunks, vectors, strict=True):
                row = self.pos.get(chunk.id)
                if row is None:
                    row = len(self.ids)
                    if row == self.matrix.shape[0]:
                        grown = np.zeros((row * 2, self.dim), dtype=np.float32)
                        grown[:row] = self.matrix
                        self.matrix = grown
                    self.pos[chunk.id] = row
                    self.ids.append(chunk.id)
                    self.docs.append(chunk.document_id)
                    self.segs.append(chunk.segment_id)
                else:
                    self.docs[row], self.segs[row] = chunk.document_id, chunk.segment_id
                self.matrix[row] = vector

    def remove_documents(self, document_ids: set[str]) -> bool:
        return self._keep_only(lambda i: self.docs[i] not in document_ids)

    def remove_ids(self, chunk_ids: set[str]) -> bool:
        return self._keep_only(lambda i: self.ids[i] not in chunk_ids)

    def _keep_only(self, kept: Callable[[int], bool]) -> bool:
        with self.lock:
            keep = [i for i in range(len(self.ids)) if kept(i)]
            if len(keep) == len(self.ids):
                return True
            self.matrix[:len(keep)] = self.matrix[keep]
            self.ids = [self.ids[i] for i in keep]
            self.docs = [self.docs[i] for i in keep]
            self.segs = [self.segs[i] for i in keep]
            self.pos = {chunk_id: i for i, chunk_id in enumerate(self.ids)}
            return True

    def search(self, query: np.ndarray, top_k: int) -> list[Hit]:
        """Exact: score every row (one matrix-vector product), then sort only the best `m` rows, widening `m`
        until they hold `top_k` distinct segments (any segment left out scores below all of them)."""
        with self.lock:
            n = len(self.ids)
            if n == 0:
                return []
            # numpy's own single-threaded SIMD loop, not BLAS: for one matrix-vector product it streams memory
            # ~2.5x faster than OpenBLAS's threaded sgemv measured here, and keeps one core per query.
            scores = np.einsum("ij,j->i", self.matrix[:n], query)
            m = min(n, max(2 * top_k, top_k + 16))
            while True:
                best = np.argpartition(-scores, m - 1)[:m] if m < n else np.arange(n)
                best = best[np.argsort(-scores[best], kind="stable")]
                hits = best_per_segment(((self.segs[i], float(scores[i])) for i in best), top_k)
                if len(hits) >= top_k or m == n:
                    return hits
                m = min(n, m * 4)


class EmbeddedVectorStore:
    """Exact cosine search over vectors kept in the app database and cached per dataset in process memory.
    `source`: an Engine, a Connection, or a callable returning either (see `index_common.Source`)."""

    def __init__(self, source: SourceFactory, *, max_cache_bytes: int = 1 << 30) -> None:
        self._source = source
        self._max_cache_bytes = max_cache_bytes
        self._cache: OrderedDict[str, _DatasetIndex] = OrderedDict()
        self._load_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._lock = threading.Lock()
        self._schema = LazySchema([EMBEDDED_VECTORS.name, EMBEDDED_VERSIONS.name], _create_tables)

    def _target(self) -> Source:
        target = resolve(self._source)
        self._schema.ensure(target)
        return target

    @staticmethod
    def _lock_versions(conn: sa.Connection, dataset_ids: Iterable[str]) -> dict[str, str]:
        """Before a write: lock each dataset's version row (so writers of a dataset take turns) and return the
        current tokens."""
        tokens: dict[str, str] = {}
        for dataset_id in sorted(set(dataset_ids)):
            conn.execute(dialect_insert(conn)(EMBEDDED_VERSIONS).values(dataset_id=dataset_id, token="")
                         .on_conflict_do_nothing(index_elements=["dataset_id"]))
            tokens[dataset_id] = conn.execute(sa.select(EMBEDDED_VERSIONS.c.token).with_for_update()
                                              .where(EMBEDDED_VERSIONS.c.dataset_id == dataset_id)).scalar_one()
        return tokens

    @staticmethod
    def _new_tokens(conn: sa.Connection, old: dict[str, str]) -> dict[str, tuple[str, str]]:
        """After a write, in its transaction: a new token per dataset; returns {dataset: (old, new)}."""
        changes = {dataset_id: (token, uuid.uuid4().hex) for dataset_id, token in old.items()}
        for dataset_id, (_, new) in changes.items():
            conn.execute(sa.update(EMBEDDED_VERSIONS).where(EMBEDDED_VERSIONS.c.dataset_id == dataset_id)
                         .values(token=new))
        return changes

    def _patch(self, changes: dict[str, tuple[str, str]], change: Callable[[str, _DatasetIndex], bool]) -> None:
        """After the write: apply `change` to cached indexes that saw the state before it; drop the others."""
        with self._lock:
            for dataset_id, (old, new) in changes.items():
                index = self._cache.get(dataset_id)
                if index is None:
                    continue
                if index.token == old and change(dataset_id, index):
                    index.token = new
                else:
                    del self._cache[dataset_id]

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        unique = unique_by_id(chunks)
        if not unique:
            return
        raw: list[np.ndarray] = []
        for chunk in unique:
            if chunk.vector is None or len(chunk.vector) == 0:
                raise ValueError(f"chunk {chunk.id} has no vector")
            raw.append(np.asarray(chunk.vector, dtype="<f4"))
        rows = [{"id": c.id, "dataset_id": c.dataset_id, "document_id": c.document_id, "segment_id": c.segment_id,
                 "dim": int(v.shape[0]), "vector": v.tobytes()} for c, v in zip(unique, raw, strict=True)]
        with transaction(self._target()) as conn:
            old = self._lock_versions(conn, (c.dataset_id for c in unique))
            stmt = dialect_insert(conn)(EMBEDDED_VECTORS)
            stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={
                name: stmt.excluded[name] for name in ("dataset_id", "document_id", "segment_id", "dim", "vector")})
            for batch in batches(rows):
                conn.execute(stmt, list(batch))
            changes = self._new_tokens(conn, old)
        by_dataset: dict[str, list[int]] = defaultdict(list)
        for i, chunk in enumerate(unique):
            by_dataset[chunk.dataset_id].append(i)

        def change(dataset_id: str, index: _DatasetIndex) -> bool:
            picked = by_dataset[dataset_id]
            if any(raw[i].shape[0] != index.dim for i in picked):
                return False  # another dimension (a new embedding model): reload on the next search
            index.put([unique[i] for i in picked], _normalised(np.stack([raw[i] for i in picked])))
            return True

        self._patch(changes, change)

    def search(self, dataset_id: str, vector: Sequence[float], *, top_k: int) -> list[Hit]:
        query = np.asarray(vector, dtype=np.float32)
        if top_k <= 0 or query.size == 0:
            return []
        index = self._index(dataset_id, int(query.size))
        return index.search(_normalised(query), top_k) if index else []

    def _index(self, dataset_id: str, dim: int) -> _DatasetIndex | None:
        target = self._target()
        with reading(target) as conn:  # the token first: rows read after it are at least that new
            token = conn.execute(sa.select(EMBEDDED_VERSIONS.c.token)
                                 .where(EMBEDDED_VERSIONS.c.dataset_id == dataset_id)).scalar()
        if not token:
            return None
        with self._lock:
            load_lock = self._load_locks[dataset_id]
        with load_lock:  # one loader per dataset; other datasets stay searchable
            with self._lock:
                index = self._cache.get(dataset_id)
                if index is not None and index.token == token and index.dim == dim:
                    self._cache.move_to_end(dataset_id)
                    return index
            with reading(target) as conn:
                rows = conn.execute(sa.select(EMBEDDED_VECTORS.c.id, EMBEDDED_VECTORS.c.document_id,
                                              EMBEDDED_VECTORS.c.segment_id, EMBEDDED_VECTORS.c.vector)
                                    .where(EMBEDDED_VECTORS.c.dataset_id == dataset_id,
                                           EMBEDDED_VECTORS.c.dim == dim)).all()
            index = _DatasetIndex(dim, token, rows)
            with self._lock:
                self._cache[dataset_id] = index
                total = sum(cached.nbytes for cached in self._cache.values())
                while total > self._max_cache_bytes and len(self._cache) > 1:
                    total -= self._cache.popitem(last=False)[1].nbytes
            return index

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None:
        if not document_ids:
            return
        with transaction(self._target()) as conn:
            old = self._lock_versions(conn, [dataset_id])
            conn.execute(sa.delete(EMBEDDED_VECTORS).where(EMBEDDED_VECTORS.c.dataset_id == dataset_id,
                                                           EMBEDDED_VECTORS.c.document_id.in_(list(document_ids))))
            changes = self._new_tokens(conn, old)
        gone = set(document_ids)
        self._patch(changes, lambda _dataset_id, index: index.remove_documents(gone))

    def delete_chunks(self, dataset_id: str, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        with transaction(self._target()) as conn:
            old = self._lock_versions(conn, [dataset_id])
            conn.execute(sa.delete(EMBEDDED_VECTORS).where(EMBEDDED_VECTORS.c.dataset_id == dataset_id,
                                                           EMBEDDED_VECTORS.c.id.in_(list(chunk_ids))))
            changes = self._new_tokens(conn, old)
        gone = set(chunk_ids)
        self._patch(changes, lambda _dataset_id, index: index.remove_ids(gone))

    def delete_dataset(self, dataset_id: str) -> None:
        """Removes the vectors; the version row stays (with a new token) so no process keeps serving them."""
        with transaction(self._target()) as conn:
            old = self._lock_versions(conn, [dataset_id])
            conn.execute(sa.delete(EMBEDDED_VECTORS).where(EMBEDDED_VECTORS.c.dataset_id == dataset_id))
            self._new_tokens(conn, old)
        with self._lock:
            self._cache.pop(dataset_id, None)


def _create_tables(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(DDL_LOCK_SQL))
    _embedded_meta.create_all(conn, checkfirst=True)
