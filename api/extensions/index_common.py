"""Helpers shared by the knowledge index stores (`vector_store`, `embedded_vector_store`, `fulltext`,
`sqlite_fulltext`): engine resolution, batching, per-segment dedupe and the full-text tokeniser.

Stores take an Engine, or a callable returning one (`lambda: db.engine`, resolved per call inside the app
context), and run each write in a short transaction of their own; the embedded stores may instead be given the
caller's connection (see `Source`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from api.core.rag.ports import Hit, IndexedChunk

EngineSource = sa.Engine | Callable[[], sa.Engine]
# The embedded stores also accept a Connection (or a callable returning one, e.g. `lambda: db.session.connection()`):
# they then write inside that connection's transaction, which its owner commits. On SQLite, where one connection
# at a time may write, that is what keeps a store write from waiting on the caller's own open write transaction.
Source = sa.Engine | sa.Connection
SourceFactory = Source | Callable[[], Source]
BATCH_SIZE = 500
# Serialises lazy DDL across processes (CREATE … IF NOT EXISTS alone races on PostgreSQL's catalogs).
DDL_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('openify.knowledge_index_ddl'))"


def resolve_engine(source: EngineSource) -> sa.Engine:
    """`source` is an Engine or a zero-argument callable returning one."""
    return source if isinstance(source, sa.Engine) else source()


def resolve(source: SourceFactory) -> Source:
    return source if isinstance(source, sa.Engine | sa.Connection) else source()


@contextmanager
def transaction(target: Source) -> Iterator[sa.Connection]:
    """An Engine: a new connection in a transaction committed on exit. A Connection: itself, its owner commits."""
    if isinstance(target, sa.Connection):
        yield target
        return
    with target.begin() as conn:
        yield conn


@contextmanager
def reading(target: Source) -> Iterator[sa.Connection]:
    if isinstance(target, sa.Connection):
        yield target
        return
    with target.connect() as conn:
        yield conn


class LazySchema:
    """Creates a store's tables on first use with `create(conn)` (idempotent DDL). On an Engine the DDL commits at
    once. On a caller's Connection it joins that transaction, which may still roll back: the schema counts as
    ready only once `tables` are seen from a separate connection (committed)."""

    def __init__(self, tables: Sequence[str], create: Callable[[sa.Connection], None]) -> None:
        self.tables, self.create = tuple(tables), create
        self.ready = False
        self._lock = threading.Lock()

    def ensure(self, target: Source) -> None:
        if self.ready:
            return
        with self._lock:
            if self.ready:
                return
            if isinstance(target, sa.Engine):
                with target.begin() as conn:
                    self.create(conn)
                self.ready = True
                return
            with target.engine.connect() as probe:
                inspector = sa.inspect(probe)
                if all(inspector.has_table(name) for name in self.tables):
                    self.ready = True
                    return
            self.create(target)


def dialect_insert(bind: sa.Engine | sa.Connection) -> Callable[[sa.Table], Any]:
    """The dialect's INSERT construct (both support `on_conflict_do_update`)."""
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert


def batches(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def unique_by_id(chunks: Iterable[IndexedChunk]) -> list[IndexedChunk]:
    """Last write wins per id, sorted by id: no "affect row a second time" errors, no lock-order deadlocks."""
    return sorted({chunk.id: chunk for chunk in chunks}.values(), key=lambda chunk: chunk.id)


def best_per_segment(ranked: Iterable[tuple[str, float]], top_k: int) -> list[Hit]:
    """`ranked` is (segment_id, score) best first: keep each segment's first (best) row, scores clamped to [0, 1]."""
    hits: list[Hit] = []
    seen: set[str] = set()
    for segment_id, score in ranked:
        if segment_id in seen:
            continue
        seen.add(segment_id)
        hits.append(Hit(segment_id=segment_id, score=min(1.0, max(0.0, float(score)))))
        if len(hits) == top_k:
            break
    return hits


# Full text: both backends index and query the same token stream, so results agree across modes. Runs of CJK
# characters (no spaces between words) become overlapping bigrams, as Lucene's CJK analyzer does; other text is
# split into lowercased runs of letters and digits.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]+|[^\\W_{_CJK}]+")
_CJK_START = re.compile(f"[{_CJK}]")
MAX_QUERY_TERMS = 32


def text_tokens(text: str) -> list[str]:
    """Lowercased word tokens of `text`; a CJK run `ABCD` yields `AB BC CD` (a single character stays as is)."""
    lowered = text.lower()
    if not _CJK_START.search(lowered):
        return _TOKEN.findall(lowered)  # no CJK run: the regex's tokens as they are (one C call)
    tokens: list[str] = []
    for token in _TOKEN.findall(lowered):
        if _CJK_START.match(token) and len(token) > 1:
            tokens.extend(token[i:i + 2] for i in range(len(token) - 1))
        else:
            tokens.append(token)
    return tokens


def index_text(content: str) -> str:
    """What the full-text index stores for `content`: its tokens joined by spaces."""
    return " ".join(text_tokens(content))


def query_terms(query: str) -> list[str]:
    """Distinct tokens of a user query, in order, at most MAX_QUERY_TERMS. Only letters and digits survive, so
    no user input can form full-text query syntax."""
    return list(dict.fromkeys(text_tokens(query)))[:MAX_QUERY_TERMS]


def selective_terms(terms: list[str], fraction: Callable[[str], float], common_fraction: float) -> list[str]:
    """Drop terms found in at least `common_fraction` of the indexed rows (stop words of any language): they
    add no ranking signal and make every row a candidate. All terms common: keep them all."""
    kept = [term for term in terms if fraction(term) < common_fraction]
    return kept or terms


def merge_stages(all_terms: list[tuple[str, float]], any_term: list[tuple[str, float]], top_k: int) -> list[Hit]:
    """Rows matching every term first, normalised so the best scores 1.0; then rows matching some term, scaled
    below the lowest of those. Inputs are (segment_id, rank > 0) best first; best row per segment kept."""
    first = best_per_segment(_normalised(all_terms), top_k)
    if len(first) >= top_k or not any_term:
        return first
    ceiling = first[-1].score if first else 1.0
    seen = {hit.segment_id for hit in first}
    rest = [(segment, score * ceiling) for segment, score in _normalised(any_term) if segment not in seen]
    return first + best_per_segment(rest, top_k - len(first))


def _normalised(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    top = max((rank for _, rank in ranked), default=0.0)
    return [(segment, rank / top if top > 0 else 0.0) for segment, rank in ranked]
