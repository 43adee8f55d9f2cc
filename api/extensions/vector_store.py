"""Vector stores implementing `api.core.rag.ports.VectorStore`.

`PgVectorStore` (distributed mode): one table per embedding dimension, `knowledge_vectors_{dim}`, with an HNSW
index (cosine) and a btree on (dataset_id, document_id), created lazily on first use of a dimension under an
advisory lock so concurrent processes never race on the DDL. A search filters by dataset and relies on pgvector
0.8's iterative index scans (`hnsw.iterative_scan = relaxed_order`), so a filtered HNSW scan still yields enough
rows; rows are re-sorted and reduced to the best one per segment here. The planner serves a dataset that is a
small share of its table from the btree instead, sorting its few rows exactly. Dimensions above pgvector's HNSW limit
for `vector` (2000) are indexed as `halfvec` (up to 4000); larger ones are searched exactly.

`EmbeddedVectorStore` (embedded mode: exact search over an in-process matrix) lives in
`api.extensions.embedded_vector_store` and is re-exported here.

PgVectorStore writes in short transactions of its own on the engine (never inside the caller's session), so its
rows are visible to other processes at once and are not undone by the caller's rollback; re-running an indexing
step is harmless because every write is an idempotent upsert or delete.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from api.core.errors import CoreError
from api.core.rag.ports import Hit, IndexedChunk
from api.extensions.embedded_vector_store import EmbeddedVectorStore
from api.extensions.index_common import (
    DDL_LOCK_SQL,
    EngineSource,
    batches,
    best_per_segment,
    resolve_engine,
    unique_by_id,
)

__all__ = ["EmbeddedVectorStore", "PgVectorStore", "VectorStoreUnavailableError", "vector_literal"]

HNSW_MAX_DIM = 2000  # pgvector's limit for an HNSW index on `vector`
HALFVEC_MAX_DIM = 4000  # ... and on `halfvec`; larger vectors are searched by a sequential scan
MAX_FETCH = 1000  # rows fetched at most to find top_k distinct segments (hnsw.ef_search's own maximum)


class VectorStoreUnavailableError(CoreError):
    """The database cannot hold vectors (e.g. PostgreSQL without the pgvector extension)."""

    code = "vector_store_unavailable"
    default_message = "The vector store is unavailable."


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form, e.g. `[0.1,0.2]`: a JSON array of numbers, written by orjson (shortest round-trip
    digits; 20x the per-float repr() it replaced, which cost 2 ms per 1536-dimension vector here)."""
    try:
        return orjson.dumps(vector, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    except orjson.JSONEncodeError:  # anything orjson does not take (a non-contiguous array, Decimals): as floats
        values = vector.tolist() if isinstance(vector, np.ndarray) else vector
        return "[" + ",".join(repr(float(v)) for v in values) + "]"


class _PgVector(sa.types.UserDefinedType):
    """`vector(dim)` bound from a sequence of floats as pgvector's text form."""

    cache_ok = True

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def get_col_spec(self, **_kw: Any) -> str:
        return f"vector({self.dim})"

    def bind_processor(self, dialect: Any) -> Callable[[Any], str | None]:
        return lambda value: None if value is None else vector_literal(value)


class PgVectorStore:
    """pgvector, one table per dimension. `m`/`ef_construction` shape indexes created from now on;
    `ef_search` is the candidate-list size of every search (raised to the rows a search fetches). The defaults
    measured recall@10 0.999 at p50 2.2 ms on 100k × 384 clustered vectors (bench/bench_retrieval.py)."""

    def __init__(self, engine: EngineSource, *, m: int = 16, ef_construction: int = 64, ef_search: int = 64) -> None:
        self._engine = engine
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self._ready: set[int] = set()
        self._tables: dict[int, sa.Table] = {}
        self._lock = threading.Lock()

    @staticmethod
    def table_name(dim: int) -> str:
        return f"knowledge_vectors_{int(dim)}"

    @staticmethod
    def _distance_operand(dim: int, operand: str) -> str:
        """`operand` in the type the HNSW index is built on (halfvec above the `vector` limit)."""
        return f"CAST({operand} AS halfvec({dim}))" if HNSW_MAX_DIM < dim <= HALFVEC_MAX_DIM else operand

    def index_ddl(self, dim: int) -> str | None:
        """The HNSW index of the `dim` table, or None when no HNSW index can cover that dimension."""
        if dim > HALFVEC_MAX_DIM:
            return None
        column = self._distance_operand(dim, "embedding")
        opclass = "vector_cosine_ops" if dim <= HNSW_MAX_DIM else "halfvec_cosine_ops"
        return (f"CREATE INDEX IF NOT EXISTS ix_{self.table_name(dim)}_embedding ON {self.table_name(dim)} "
                f"USING hnsw (({column}) {opclass}) WITH (m = {int(self.m)}, ef_construction = "
                f"{int(self.ef_construction)})")

    def ensure_table(self, dim: int, *, index: bool = True) -> None:
        """Create the extension, the `dim` table and its indexes if missing (`index=False`: skip the HNSW index,
        for bulk loads that call `create_index` afterwards). Raises VectorStoreUnavailableError without pgvector."""
        if dim in self._ready:
            return
        with self._lock:
            if dim in self._ready:
                return
            if dim < 1:
                raise ValueError("a vector needs at least one dimension")
            name = self.table_name(dim)
            with resolve_engine(self._engine).begin() as conn:
                conn.execute(sa.text(DDL_LOCK_SQL))
                try:
                    with conn.begin_nested():
                        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
                except sa.exc.DBAPIError as exc:
                    raise VectorStoreUnavailableError(
                        "PostgreSQL has no usable 'vector' extension (pgvector): install pgvector or set "
                        f"VECTOR_STORE=embedded ({exc.orig})") from exc
                conn.execute(sa.text(
                    f"CREATE TABLE IF NOT EXISTS {name} (id text PRIMARY KEY, dataset_id text NOT NULL, "
                    f"document_id text NOT NULL, segment_id text NOT NULL, embedding vector({int(dim)}) NOT NULL)"))
                conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_{name}_dataset_id_document_id "
                                     f"ON {name} (dataset_id, document_id)"))
                ddl = self.index_ddl(dim)
                if index and ddl:
                    conn.execute(sa.text(ddl))
            if index:
                self._ready.add(dim)

    def create_index(self, dim: int) -> None:
        """Build the HNSW index of the `dim` table (after a bulk load into a table made with `index=False`)."""
        ddl = self.index_ddl(dim)
        if ddl:
            with resolve_engine(self._engine).begin() as conn:
                conn.execute(sa.text(ddl))

    def _table(self, dim: int) -> sa.Table:
        if dim not in self._tables:
            self._tables[dim] = sa.Table(
                self.table_name(dim), sa.MetaData(), sa.Column("id", sa.Text, primary_key=True),
                sa.Column("dataset_id", sa.Text), sa.Column("document_id", sa.Text), sa.Column("segment_id", sa.Text),
                sa.Column("embedding", _PgVector(dim)))
        return self._tables[dim]

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Insert or replace by id (`INSERT … ON CONFLICT (id) DO UPDATE`), batched, one transaction per dim."""
        by_dim: dict[int, list[IndexedChunk]] = defaultdict(list)
        for chunk in unique_by_id(chunks):
            if chunk.vector is None:
                raise ValueError(f"chunk {chunk.id} has no vector")
            by_dim[len(chunk.vector)].append(chunk)
        for dim, group in by_dim.items():
            self.ensure_table(dim)
            table = self._table(dim)
            stmt = postgresql.insert(table)
            stmt = stmt.on_conflict_do_update(index_elements=[table.c.id], set_={
                name: stmt.excluded[name] for name in ("dataset_id", "document_id", "segment_id", "embedding")})
            with resolve_engine(self._engine).begin() as conn:
                for batch in batches(group):
                    conn.execute(stmt, [{"id": c.id, "dataset_id": c.dataset_id, "document_id": c.document_id,
                                         "segment_id": c.segment_id, "embedding": c.vector} for c in batch])

    def search_statement(self, dim: int) -> sa.TextClause:
        """The nearest-rows query of the `dim` table; binds :q (vector text), :dataset_id and :n."""
        query = self._distance_operand(dim, f"CAST(:q AS vector({dim}))")
        distance = f"{self._distance_operand(dim, 'embedding')} <=> {query}"
        return sa.text(f"SELECT segment_id, {distance} AS distance FROM {self.table_name(dim)} "
                       f"WHERE dataset_id = :dataset_id ORDER BY {distance} LIMIT :n")

    def configure_search(self, conn: sa.Connection, fetch: int) -> None:
        """Transaction-local settings: iterative scans keep walking the HNSW graph until enough rows pass the
        dataset filter (relaxed order: callers re-sort); the pooled connection keeps its defaults."""
        conn.execute(sa.text("SELECT set_config('hnsw.ef_search', :ef, true), "
                             "set_config('hnsw.iterative_scan', 'relaxed_order', true)"),
                     {"ef": str(min(MAX_FETCH, max(self.ef_search, fetch)))})

    def search(self, dataset_id: str, vector: Sequence[float], *, top_k: int) -> list[Hit]:
        """Nearest segments of `dataset_id` by cosine similarity (1 - cosine distance), best row per segment."""
        dim = len(vector)
        if top_k <= 0 or dim == 0:
            return []
        self.ensure_table(dim)
        sql, literal = self.search_statement(dim), vector_literal(vector)
        fetch = min(MAX_FETCH, max(2 * top_k, top_k + 10))
        while True:
            with resolve_engine(self._engine).begin() as conn:
                self.configure_search(conn, fetch)
                rows = conn.execute(sql, {"q": literal, "dataset_id": dataset_id, "n": fetch}).all()
            ranked = sorted(((row.segment_id, 1.0 - float(row.distance)) for row in rows), key=lambda r: -r[1])
            hits = best_per_segment(ranked, top_k)
            if len(hits) >= top_k or len(rows) < fetch or fetch >= MAX_FETCH:
                return hits
            fetch = min(MAX_FETCH, fetch * 4)

    def _existing_tables(self, conn: sa.Connection) -> list[str]:
        return list(conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename ~ '^knowledge_vectors_[0-9]+$' ORDER BY tablename")).scalars())

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None:
        if not document_ids:
            return
        with resolve_engine(self._engine).begin() as conn:
            for name in self._existing_tables(conn):
                conn.execute(sa.text(f"DELETE FROM {name} WHERE dataset_id = :dataset_id "
                                     "AND document_id = ANY(:document_ids)"),
                             {"dataset_id": dataset_id, "document_ids": list(document_ids)})

    def delete_chunks(self, dataset_id: str, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        with resolve_engine(self._engine).begin() as conn:
            for name in self._existing_tables(conn):
                conn.execute(sa.text(f"DELETE FROM {name} WHERE dataset_id = :dataset_id AND id = ANY(:ids)"),
                             {"dataset_id": dataset_id, "ids": list(chunk_ids)})

    def delete_dataset(self, dataset_id: str) -> None:
        with resolve_engine(self._engine).begin() as conn:
            for name in self._existing_tables(conn):
                conn.execute(sa.text(f"DELETE FROM {name} WHERE dataset_id = :dataset_id"), {"dataset_id": dataset_id})
