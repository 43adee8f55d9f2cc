"""Full-text indexes implementing `api.core.rag.ports.FullTextIndex`.

`PgFullTextIndex` (PostgreSQL): table `knowledge_fulltext` (id, dataset_id, document_id, segment_id,
tsv tsvector) with a GIN index on tsv and a btree on (dataset_id, document_id), created lazily. `SqliteFullTextIndex`
(SQLite FTS5, bm25) lives in `api.extensions.sqlite_fulltext` and is re-exported here.

Both index the same token stream (`index_common.index_text`: lowercased letter/digit runs, CJK runs as bigrams,
so Chinese and Japanese match without a dictionary), with no stemming and no stop-word list (PostgreSQL's
'simple' configuration, FTS5's unicode61 tokenizer), so any language works, and answer a query the same way:

1. terms = the query's tokens (letters and digits only: user input never forms query syntax, so it never raises);
   terms found in at least `common_fraction` of all rows are dropped (unless all are), from PostgreSQL's own
   statistics (`pg_stats.most_common_elems`) or FTS5's vocabulary;
2. rows matching every term, ranked (`ts_rank_cd`, length-normalised / bm25) among the first `candidate_limit`
   matches: a term present in most rows costs a bounded amount of work, not a rank of every row;
3. only if that yields fewer than `top_k` segments: rows matching any term, ranked the same way, listed after
   and scored below them (natural-language questions rarely contain only words of one segment).

Scores are in [0, 1]: rank / best rank of the stage (see `index_common.merge_stages`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from api.core.rag.ports import Hit, IndexedChunk
from api.extensions.index_common import (
    DDL_LOCK_SQL,
    EngineSource,
    batches,
    index_text,
    merge_stages,
    query_terms,
    resolve_engine,
    selective_terms,
    unique_by_id,
)
from api.extensions.sqlite_fulltext import SqliteFullTextIndex

__all__ = ["PgFullTextIndex", "SqliteFullTextIndex"]

TABLE = "knowledge_fulltext"


class _TsVector(sa.types.UserDefinedType):
    """A tsvector column bound from text through `to_tsvector('simple', …)`."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "tsvector"

    def bind_expression(self, bindvalue: Any) -> Any:
        return sa.func.to_tsvector(sa.literal_column("'simple'"), bindvalue)


_table = sa.Table(TABLE, sa.MetaData(), sa.Column("id", sa.Text, primary_key=True), sa.Column("dataset_id", sa.Text),
                  sa.Column("document_id", sa.Text), sa.Column("segment_id", sa.Text), sa.Column("tsv", _TsVector()))

_STAGE_SQL = sa.text(
    f"SELECT m.segment_id, ts_rank_cd(m.tsv, q.query, 1) AS rank FROM ("
    f"SELECT segment_id, tsv FROM {TABLE} WHERE dataset_id = :dataset_id "
    f"AND tsv @@ to_tsquery('simple', :tsquery) LIMIT :candidates) AS m, to_tsquery('simple', :tsquery) AS q(query) "
    f"ORDER BY rank DESC LIMIT :n")
_STATS_SQL = sa.text(
    "SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs FROM pg_stats "
    f"WHERE schemaname = current_schema() AND tablename = '{TABLE}' AND attname = 'tsv'")


def _tsquery(terms: Sequence[str], operator: str) -> str:
    # Terms are letter/digit runs (query_terms), quoted anyway: to_tsquery then reads each as one lexeme.
    return f" {operator} ".join("'" + term.replace("'", "''") + "'" for term in terms)


class PgFullTextIndex:
    """PostgreSQL full text ('simple' config, GIN). `candidate_limit` bounds the rows ranked per stage;
    `common_fraction` is the document frequency from which a query term counts as a stop word."""

    def __init__(self, engine: EngineSource, *, candidate_limit: int = 2000, common_fraction: float = 0.2,
                 stats_ttl: float = 300.0) -> None:
        self._engine = engine
        self.candidate_limit, self.common_fraction, self.stats_ttl = candidate_limit, common_fraction, stats_ttl
        self._ready = False
        self._lock = threading.Lock()
        self._frequencies: dict[str, float] = {}
        self._stats_expire_at = 0.0

    def ensure_table(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            with resolve_engine(self._engine).begin() as conn:
                conn.execute(sa.text(DDL_LOCK_SQL))
                conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, "
                                     "dataset_id text NOT NULL, document_id text NOT NULL, segment_id text NOT NULL, "
                                     "tsv tsvector NOT NULL)"))
                conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_dataset_id_document_id "
                                     f"ON {TABLE} (dataset_id, document_id)"))
                conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_tsv ON {TABLE} USING gin (tsv)"))
            self._ready = True

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Insert or replace by id (`INSERT … ON CONFLICT (id) DO UPDATE`), batched, in one transaction."""
        unique = unique_by_id(chunks)
        if not unique:
            return
        self.ensure_table()
        stmt = postgresql.insert(_table)
        stmt = stmt.on_conflict_do_update(index_elements=[_table.c.id], set_={
            name: stmt.excluded[name] for name in ("dataset_id", "document_id", "segment_id", "tsv")})
        with resolve_engine(self._engine).begin() as conn:
            for batch in batches(unique):
                conn.execute(stmt, [{"id": c.id, "dataset_id": c.dataset_id, "document_id": c.document_id,
                                     "segment_id": c.segment_id, "tsv": index_text(c.content)} for c in batch])

    def _frequency(self, conn: sa.Connection) -> dict[str, float]:
        """Share of rows containing each frequent lexeme, from ANALYZE's statistics (refreshed every stats_ttl)."""
        now = time.monotonic()
        if now >= self._stats_expire_at:
            row = conn.execute(_STATS_SQL).first()
            elems, freqs = (row.elems or [], row.freqs or []) if row else ([], [])
            self._frequencies = dict(zip(elems, freqs, strict=False))
            self._stats_expire_at = now + self.stats_ttl
        return self._frequencies

    def search(self, dataset_id: str, query: str, *, top_k: int) -> list[Hit]:
        terms = query_terms(query)
        if top_k <= 0 or not terms:
            return []
        self.ensure_table()
        fetch = 3 * top_k + 10  # a segment may own several rows (child chunks)
        with resolve_engine(self._engine).connect() as conn:
            frequencies = self._frequency(conn)
            terms = selective_terms(terms, lambda term: frequencies.get(term, 0.0), self.common_fraction)
            args = {"dataset_id": dataset_id, "candidates": self.candidate_limit}
            every = [(r.segment_id, float(r.rank)) for r in conn.execute(
                _STAGE_SQL, {**args, "tsquery": _tsquery(terms, "&"), "n": fetch})]
            some: list[tuple[str, float]] = []
            if len(terms) > 1 and len({segment for segment, _ in every}) < top_k:
                some = [(r.segment_id, float(r.rank)) for r in conn.execute(
                    _STAGE_SQL, {**args, "tsquery": _tsquery(terms, "|"), "n": fetch + len(every)})]
        return merge_stages(every, some, top_k)

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None:
        if not document_ids:
            return
        self.ensure_table()
        with resolve_engine(self._engine).begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE dataset_id = :dataset_id "
                                 "AND document_id = ANY(:document_ids)"),
                         {"dataset_id": dataset_id, "document_ids": list(document_ids)})

    def delete_chunks(self, dataset_id: str, chunk_ids: Sequence[str]) -> None:
        if not chunk_ids:
            return
        self.ensure_table()
        with resolve_engine(self._engine).begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE dataset_id = :dataset_id AND id = ANY(:ids)"),
                         {"dataset_id": dataset_id, "ids": list(chunk_ids)})

    def delete_dataset(self, dataset_id: str) -> None:
        self.ensure_table()
        with resolve_engine(self._engine).begin() as conn:
            conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE dataset_id = :dataset_id"), {"dataset_id": dataset_id})
