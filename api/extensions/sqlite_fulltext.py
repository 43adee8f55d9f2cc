"""SQLite FTS5 full-text index (embedded mode), implementing `api.core.rag.ports.FullTextIndex`.

Tables, created lazily:
- `knowledge_fulltext_rows` (row_id INTEGER PRIMARY KEY, id UNIQUE, dataset_id, document_id, segment_id): maps the
  port's string ids to FTS rowids; btree on (dataset_id, document_id) for deletes.
- `knowledge_fulltext` USING fts5(body, dataset_key): `body` is `index_text(content)`, `dataset_key` one token
  derived from the dataset id, so the dataset filter is part of the MATCH (FTS5 intersects doclists) instead of
  a filter applied to every row matching a common term in any dataset. bm25 weighs `dataset_key` 0.
- `knowledge_fulltext_vocab` USING fts5vocab(…, 'row'): document frequencies, to drop stop-word-like terms.

A query is built only from quoted letter/digit tokens (`query_terms`), so user input can never break FTS5 syntax.
Query semantics and scores as `api.extensions.fulltext` describes (every term first, then any term).
`source` is an Engine, a Connection or a callable returning either: given the caller's connection (embedded mode
passes the session's), writes join its transaction, so they never wait on the caller's own SQLite write lock.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import sqlalchemy as sa

from api.core.rag.ports import Hit, IndexedChunk
from api.extensions.index_common import (
    LazySchema,
    Source,
    SourceFactory,
    batches,
    index_text,
    merge_stages,
    query_terms,
    reading,
    resolve,
    selective_terms,
    transaction,
    unique_by_id,
)

ROWS, FTS, VOCAB = "knowledge_fulltext_rows", "knowledge_fulltext", "knowledge_fulltext_vocab"
_DDL = (
    f"CREATE TABLE IF NOT EXISTS {ROWS} (row_id INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
    "dataset_id TEXT NOT NULL, document_id TEXT NOT NULL, segment_id TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS ix_{ROWS}_dataset_id_document_id ON {ROWS} (dataset_id, document_id)",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(body, dataset_key, "
    "tokenize = 'unicode61 remove_diacritics 2')",
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {VOCAB} USING fts5vocab({FTS}, 'row')",
)
_STAGE_SQL = sa.text(
    f"SELECT r.segment_id, -m.score AS rank FROM (SELECT rowid AS row_id, bm25({FTS}, 1.0, 0.0) AS score "
    f"FROM {FTS} WHERE {FTS} MATCH :match LIMIT :candidates) AS m JOIN {ROWS} AS r ON r.row_id = m.row_id "
    "WHERE r.dataset_id = :dataset_id ORDER BY m.score LIMIT :n")
_TERM_CACHE_SIZE = 10_000


def dataset_key(dataset_id: str) -> str:
    """One FTS5 token standing for the dataset (letters and digits only)."""
    return "k" + hashlib.sha1(dataset_id.encode(), usedforsecurity=False).hexdigest()


def _match(dataset_id: str, terms: Sequence[str], operator: str) -> str:
    quoted = f" {operator} ".join('"' + term.replace('"', '""') + '"' for term in terms)
    return f'dataset_key : "{dataset_key(dataset_id)}" AND ({quoted})'


class SqliteFullTextIndex:
    """FTS5 with bm25 (`source`: see the module docstring). `candidate_limit` bounds the rows ranked per stage;
    `common_fraction` is the document frequency from which a query term counts as a stop word; frequencies are
    cached for `stats_ttl` seconds."""

    def __init__(self, source: SourceFactory, *, candidate_limit: int = 2000, common_fraction: float = 0.2,
                 stats_ttl: float = 300.0) -> None:
        self._source = source
        self.candidate_limit, self.common_fraction, self.stats_ttl = candidate_limit, common_fraction, stats_ttl
        self._schema = LazySchema([ROWS, FTS, VOCAB], _create_tables)
        self._lock = threading.Lock()
        self._row_count: tuple[float, int] = (0.0, 0)  # (expires at, rows)
        self._term_docs: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def _target(self) -> Source:
        target = resolve(self._source)
        self._schema.ensure(target)
        return target

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Replace rows by id: delete the old FTS rows, insert with fresh row ids, all in one transaction."""
        unique = unique_by_id(chunks)
        if not unique:
            return
        with transaction(self._target()) as conn:
            for batch in batches(unique):
                ids = sa.bindparam("ids", expanding=True)
                # The DELETE comes first: it takes SQLite's write lock before max(row_id) is read.
                conn.execute(sa.text(f"DELETE FROM {FTS} WHERE rowid IN (SELECT row_id FROM {ROWS} WHERE id IN :ids)")
                             .bindparams(ids), {"ids": [c.id for c in batch]})
                conn.execute(sa.text(f"DELETE FROM {ROWS} WHERE id IN :ids").bindparams(ids),
                             {"ids": [c.id for c in batch]})
                start = conn.execute(sa.text(f"SELECT coalesce(max(row_id), 0) + 1 FROM {ROWS}")).scalar_one()
                conn.execute(sa.text(f"INSERT INTO {ROWS} (row_id, id, dataset_id, document_id, segment_id) "
                                     "VALUES (:row_id, :id, :dataset_id, :document_id, :segment_id)"),
                             [{"row_id": start + i, "id": c.id, "dataset_id": c.dataset_id,
                               "document_id": c.document_id, "segment_id": c.segment_id} for i, c in enumerate(batch)])
                conn.execute(sa.text(f"INSERT INTO {FTS} (rowid, body, dataset_key) VALUES (:row_id, :body, :key)"),
                             [{"row_id": start + i, "body": index_text(c.content), "key": dataset_key(c.dataset_id)}
                              for i, c in enumerate(batch)])

    def _fractions(self, conn: sa.Connection, terms: Sequence[str]) -> dict[str, float]:
        """Share of all rows holding each term (fts5vocab counts a term's doclist: cached, it can be long)."""
        now = time.monotonic()
        expires, rows = self._row_count
        if now >= expires:
            rows = int(conn.execute(sa.text(f"SELECT count(*) FROM {ROWS}")).scalar_one())
            self._row_count = (now + self.stats_ttl, rows)
        with self._lock:
            cached = {t: self._term_docs[t][1] for t in terms if t in self._term_docs and self._term_docs[t][0] > now}
        missing = [t for t in terms if t not in cached]
        if missing:
            found = dict(conn.execute(sa.text(f"SELECT term, doc FROM {VOCAB} WHERE term IN :terms")
                                      .bindparams(sa.bindparam("terms", expanding=True)), {"terms": missing}).all())
            with self._lock:
                for term in missing:
                    cached[term] = int(found.get(term, 0))
                    self._term_docs[term] = (now + self.stats_ttl, cached[term])
                    self._term_docs.move_to_end(term)
                while len(self._term_docs) > _TERM_CACHE_SIZE:
                    self._term_docs.popitem(last=False)
        return {term: cached[term] / rows if rows else 0.0 for term in terms}

    def search(self, dataset_id: str, query: str, *, top_k: int) -> list[Hit]:
        terms = query_terms(query)
        if top_k <= 0 or not terms:
            return []
        fetch = 3 * top_k + 10  # a segment may own several rows (child chunks)
        with reading(self._target()) as conn:
            fractions = self._fractions(conn, terms)
            terms = selective_terms(terms, fractions.__getitem__, self.common_fraction)
            args = {"dataset_id": dataset_id, "candidates": self.candidate_limit}
            every = [(r.segment_id, float(r.rank)) for r in conn.execute(
                _STAGE_SQL, {**args, "match": _match(dataset_id, terms, "AND"), "n": fetch})]
            some: list[tuple[str, float]] = []
            if len(terms) > 1 and len({segment for segment, _ in every}) < top_k:
                some = [(r.segment_id, float(r.rank)) for r in conn.execute(
                    _STAGE_SQL, {**args, "match": _match(dataset_id, terms, "OR"), "n": fetch + len(every)})]
        return merge_stages(every, some, top_k)

    def _delete(self, where: str, params: dict[str, object], *binds: sa.BindParameter) -> None:
        with transaction(self._target()) as conn:
            conn.execute(sa.text(f"DELETE FROM {FTS} WHERE rowid IN (SELECT row_id FROM {ROWS} WHERE {where})")
                         .bindparams(*binds), params)
            conn.execute(sa.text(f"DELETE FROM {ROWS} WHERE {where}").bindparams(*binds), params)

    def delete_documents(self, dataset_id: str, document_ids: Sequence[str]) -> None:
        if document_ids:
            self._delete("dataset_id = :dataset_id AND document_id IN :document_ids",
                         {"dataset_id": dataset_id, "document_ids": list(document_ids)},
                         sa.bindparam("document_ids", expanding=True))

    def delete_chunks(self, dataset_id: str, chunk_ids: Sequence[str]) -> None:
        if chunk_ids:
            self._delete("dataset_id = :dataset_id AND id IN :chunk_ids",
                         {"dataset_id": dataset_id, "chunk_ids": list(chunk_ids)},
                         sa.bindparam("chunk_ids", expanding=True))

    def delete_dataset(self, dataset_id: str) -> None:
        self._delete("dataset_id = :dataset_id", {"dataset_id": dataset_id})


def _create_tables(conn: sa.Connection) -> None:
    for ddl in _DDL:
        conn.execute(sa.text(ddl))
