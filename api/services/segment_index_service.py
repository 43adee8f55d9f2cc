"""Segment rows and index entries of one document, written idempotently (a helper of indexing_service).

`plan` turns chunks into segments with deterministic ids; `write` makes the document's segment and child chunk
rows exactly the planned ones (upsert by id, delete the rest, dropping the document's index entries first when
any row goes; no commit); `index_high_quality` / `index_economy` then store the index entries batch by batch, mark
each batch's segments `completed` and commit, then call the caller's per-batch checkpoint.

The stores write on their own connections, so a store is never called while this session holds uncommitted
writes (on SQLite that would make the two connections wait on each other's lock): store deletes run before the
row writes, and the embedding-cache rows of a batch are committed before its vectors are stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.core.rag.entities import Chunk
from api.core.rag.keywords import extract_keywords
from api.core.rag.ports import FullTextIndex, IndexedChunk, VectorStore
from api.libs.clock import utcnow
from api.models.dataset import ChildChunk, Document, DocumentSegment, SegmentKeyword
from api.models.file import UploadFile

ROW_BATCH = 500  # rows per INSERT/DELETE statement
ECONOMY_BATCH = 256  # segments per economy checkpoint
KEYWORDS_PER_SEGMENT = 10  # Dify's keyword table default
KEYWORD_MAX_LENGTH = 255


def content_hash(text: str) -> str:
    """The SHA-256 hex digest of `text` (UTF-8) that marks a segment's content as indexed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PlannedChild:
    id: str
    position: int
    content: str
    tokens: int


@dataclass(frozen=True)
class PlannedSegment:
    id: str
    position: int
    content: str
    tokens: int
    children: tuple[PlannedChild, ...] = ()

    def index_units(self, dataset_id: str, document_id: str) -> list[IndexedChunk]:
        """What gets embedded and searched: the child chunks (parent-child mode) or the segment itself."""
        if self.children:
            return [IndexedChunk(id=c.id, dataset_id=dataset_id, document_id=document_id, segment_id=self.id,
                                 content=c.content) for c in self.children]
        return [IndexedChunk(id=self.id, dataset_id=dataset_id, document_id=document_id, segment_id=self.id,
                             content=self.content)]


@dataclass(frozen=True)
class Plan:
    tenant_id: str
    dataset_id: str
    document_id: str
    created_by: str | None
    segments: list[PlannedSegment] = field(default_factory=list)

    @property
    def word_count(self) -> int:
        """The document's word count as Dify counts it: characters over all planned segments."""
        return sum(len(segment.content) for segment in self.segments)  # Dify counts characters


def plan(document: Document, chunks: Sequence[Chunk], *, segment_id: Callable[[str, int, str], str],
         child_id: Callable[[str, int, str], str]) -> Plan:
    """Planned segments at positions 1..n (contiguous, whatever the chunks carry)."""
    planned: list[PlannedSegment] = []
    for position, chunk in enumerate(chunks, start=1):
        sid = segment_id(document.id, position, chunk.content)
        children = tuple(PlannedChild(id=child_id(sid, index, child.content), position=index,
                                      content=child.content, tokens=child.tokens)
                         for index, child in enumerate(chunk.children, start=1))
        planned.append(PlannedSegment(id=sid, position=position, content=chunk.content, tokens=chunk.tokens,
                                      children=children))
    return Plan(tenant_id=document.tenant_id, dataset_id=document.dataset_id, document_id=document.id,
                created_by=document.created_by, segments=planned)


def write(session: Session, planned: Plan, *, vectors: VectorStore | None, fulltext: FullTextIndex) -> None:
    """Make the document's segment and child chunk rows exactly `planned` (status `indexing`); no commit.

    When rows must go (content changed, fewer segments than before), the document's index entries are deleted
    first (the stores are re-filled batch by batch afterwards), so no index entry outlives its row.
    """
    existing = set(session.scalars(sa.select(DocumentSegment.id)
                                   .where(DocumentSegment.document_id == planned.document_id)))
    existing_children = set(session.scalars(sa.select(ChildChunk.id)
                                            .where(ChildChunk.document_id == planned.document_id)))
    stale = existing - {s.id for s in planned.segments}
    stale_children = existing_children - {c.id for s in planned.segments for c in s.children}
    if stale or stale_children:
        if vectors is not None:
            vectors.delete_documents(planned.dataset_id, [planned.document_id])
        fulltext.delete_documents(planned.dataset_id, [planned.document_id])
        for ids in _batches(sorted(stale_children)):
            session.execute(sa.delete(ChildChunk).where(ChildChunk.id.in_(ids)))
        for ids in _batches(sorted(stale)):
            session.execute(sa.delete(SegmentKeyword).where(SegmentKeyword.segment_id.in_(ids)))
            session.execute(sa.delete(ChildChunk).where(ChildChunk.segment_id.in_(ids)))
            session.execute(sa.delete(DocumentSegment).where(DocumentSegment.id.in_(ids)))
    now = utcnow()
    base = {"tenant_id": planned.tenant_id, "dataset_id": planned.dataset_id, "document_id": planned.document_id,
            "created_by": planned.created_by, "created_at": now, "updated_at": now}
    rows = [{**base, "id": s.id, "position": s.position, "content": s.content, "word_count": len(s.content),
             "tokens": s.tokens, "index_node_id": s.id, "index_node_hash": content_hash(s.content),
             "status": "indexing", "indexing_at": now, "completed_at": None, "error": None, "enabled": True,
             "hit_count": 0} for s in planned.segments]
    _upsert(session, DocumentSegment, rows, ("position", "content", "word_count", "tokens", "index_node_id",
                                             "index_node_hash", "status", "indexing_at", "completed_at", "error",
                                             "updated_at"))
    child_rows = [{**base, "id": c.id, "segment_id": s.id, "position": c.position, "content": c.content,
                   "word_count": len(c.content), "index_node_id": c.id, "index_node_hash": content_hash(c.content),
                   "type": "automatic"} for s in planned.segments for c in s.children]
    _upsert(session, ChildChunk, child_rows, ("segment_id", "position", "content", "word_count", "index_node_id",
                                              "index_node_hash", "updated_at"))


def index_high_quality(session: Session, planned: Plan, *, vectors: VectorStore, fulltext: FullTextIndex,
                       embed: Callable[[list[str]], list[list[float]]], batch_size: int,
                       on_batch: Callable[[], None]) -> int:
    """Embed and store the index units in batches of about `batch_size` texts, committing each; returns the tokens
    embedded."""
    tokens = 0
    batch: list[PlannedSegment] = []
    units = 0
    for segment in planned.segments:
        batch.append(segment)
        units += max(1, len(segment.children))
        tokens += sum(c.tokens for c in segment.children) if segment.children else segment.tokens
        if units >= batch_size:
            _store_vectors(session, planned, batch, vectors, fulltext, embed)
            on_batch()
            batch, units = [], 0
    if batch:
        _store_vectors(session, planned, batch, vectors, fulltext, embed)
        on_batch()
    return tokens


def index_economy(session: Session, planned: Plan, *, fulltext: FullTextIndex, on_batch: Callable[[], None]) -> int:
    """Keyword table (segment_keywords + segments.keywords) and full text, no model call, committing each batch;
    returns 0 tokens (as Dify reports for economy documents)."""
    for start in range(0, len(planned.segments), ECONOMY_BATCH):
        batch = planned.segments[start:start + ECONOMY_BATCH]
        keywords = {segment.id: _keywords(segment.content) for segment in batch}
        fulltext.upsert([unit for segment in batch
                         for unit in segment.index_units(planned.dataset_id, planned.document_id)])
        rows = [{"segment_id": sid, "keyword": word, "dataset_id": planned.dataset_id,
                 "document_id": planned.document_id} for sid, words in keywords.items() for word in words]
        table = SegmentKeyword.__table__
        for chunk in _batches(rows):
            session.execute(_insert(session, table).on_conflict_do_nothing(
                index_elements=["segment_id", "keyword"]).returning(table.c.segment_id), chunk)  # see _upsert
        _mark_completed(session, batch, keywords)
        session.commit()
        on_batch()
    return 0


def owned_upload_files(session: Session, *, dataset_id: str, document_ids: list[str] | None) -> list[UploadFile]:
    """Upload files of these documents (None: the whole dataset) that no other document refers to."""
    query = sa.select(Document.data_source_info).where(Document.dataset_id == dataset_id)
    if document_ids is not None:
        query = query.where(Document.id.in_(document_ids))
    file_ids = {fid for info in session.scalars(query) if (fid := _upload_file_id(info))}
    owned: list[UploadFile] = []
    for file_id in sorted(file_ids):
        others = sa.select(Document.id).where(Document.data_source_info["upload_file_id"].as_string() == file_id)
        others = (others.where(Document.dataset_id != dataset_id) if document_ids is None
                  else others.where(Document.id.not_in(document_ids)))
        if session.scalar(others.limit(1)) is None and (upload := session.get(UploadFile, file_id)) is not None:
            owned.append(upload)
    return owned


def delete_rows(session: Session, *, dataset_id: str, document_ids: list[str] | None) -> None:
    """Delete keywords, child chunks and segments of these documents (None: the whole dataset); no commit."""
    if document_ids is None:
        for model in (SegmentKeyword, ChildChunk, DocumentSegment):
            session.execute(sa.delete(model).where(model.dataset_id == dataset_id))
        return
    for ids in _batches(document_ids):
        for model in (SegmentKeyword, ChildChunk, DocumentSegment):
            session.execute(sa.delete(model).where(model.dataset_id == dataset_id, model.document_id.in_(ids)))


def _store_vectors(session: Session, planned: Plan, batch: list[PlannedSegment], vectors: VectorStore,
                   fulltext: FullTextIndex, embed: Callable[[list[str]], list[list[float]]]) -> None:
    units = [unit for segment in batch for unit in segment.index_units(planned.dataset_id, planned.document_id)]
    embedded = embed([unit.content for unit in units])
    session.commit()  # the new embedding-cache rows: no open write transaction while the stores write
    vectors.upsert([replace(unit, vector=vector) for unit, vector in zip(units, embedded, strict=True)])
    fulltext.upsert(units)
    _mark_completed(session, batch, None)
    session.commit()


_SEGMENTS = DocumentSegment.__table__
# Core statements (no ORM bulk machinery per row): the economy path marks every segment with its keywords.
_COMPLETE_WITH_KEYWORDS = (sa.update(_SEGMENTS).where(_SEGMENTS.c.id == sa.bindparam("segment_id"))
                           .values(keywords=sa.bindparam("segment_keywords"), status="completed",
                                   completed_at=sa.bindparam("now"), updated_at=sa.bindparam("now"), error=None))


def _mark_completed(session: Session, batch: list[PlannedSegment], keywords: dict[str, list[str]] | None) -> None:
    now = utcnow()
    if keywords is None:
        session.execute(sa.update(_SEGMENTS).where(_SEGMENTS.c.id.in_([s.id for s in batch]))
                        .values(status="completed", completed_at=now, updated_at=now, error=None))
        return
    session.execute(_COMPLETE_WITH_KEYWORDS, [{"segment_id": s.id, "segment_keywords": keywords[s.id], "now": now}
                                              for s in batch])


def _keywords(content: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in extract_keywords(content, KEYWORDS_PER_SEGMENT):
        seen.setdefault(word[:KEYWORD_MAX_LENGTH], None)
    return list(seen)


def _upload_file_id(info: Any) -> str | None:
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            return None
    value = info.get("upload_file_id") if isinstance(info, dict) else None
    return str(value) if value else None


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _upsert(session: Session, model: Any, rows: list[dict[str, Any]], updated: Iterable[str]) -> None:
    if not rows:
        return
    table = model.__table__  # Core, not the ORM's bulk path: same SQL, a fraction of the Python per row
    stmt = _insert(session, table)
    stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={name: stmt.excluded[name] for name in updated})
    # RETURNING is what makes SQLAlchemy send an executemany INSERT … ON CONFLICT as multi-row VALUES (one statement
    # per chunk, not per row); rows are unique by key, so no row is affected twice (bench/bench_indexing.py).
    stmt = stmt.returning(table.c.id)
    for chunk in _batches(rows):
        session.execute(stmt, chunk)


def _batches(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), ROW_BATCH):
        yield items[start:start + ROW_BATCH]
