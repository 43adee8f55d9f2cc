"""Child chunks of parent-child (`hierarchical_model`) documents: add, edit one, edit a segment's set, delete.

A child chunk is what a parent-child document embeds and searches; retrieval answers with its parent segment. Every
write keeps the stores in step, entry by entry: a new or edited child is embedded (high_quality datasets; the
embedding cache makes unchanged text free) and upserted into the vector store and the full-text index under its
id, so an edit replaces the old entry; a deleted child is removed from both by id. Economy datasets search a keyword
table per segment instead: it becomes the parent's keywords plus each child's, so a new child's words find the
parent and a deleted child's words no longer do (the full-text entries are kept in step too).
Added and edited children become type `customized`, as in Dify.

Order (the stores write on their own connections): the embedding happens first, so a model failure changes
nothing; store deletions run before the row deletions are committed, and store upserts after the rows are
committed, so the stores never hold an entry whose row is gone. A re-index of the document (update, retry, resume)
re-splits it and replaces customized children with automatic ones, as Dify's re-indexing does.
New child ids follow indexing_service.child_chunk_id(segment, position, content); an edit keeps the id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.rag.keywords import extract_keywords
from api.core.rag.ports import IndexedChunk
from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.models.dataset import ChildChunk, Dataset, Document, DocumentSegment, SegmentKeyword
from api.services import embedding_service, indexing_service, segment_service
from api.services import segment_index_service as index
from api.services.document_ingest_service import INDEXING_ACTIVE
from api.services.errors import ChildChunkNotFoundError, InvalidActionError, InvalidInputError
from api.services.workspace_service import Principal

HIERARCHICAL = "hierarchical_model"


@dataclass(frozen=True)
class _Target:
    dataset: Dataset
    document: Document
    segment: DocumentSegment


def _target(session: Session, principal: Principal, dataset_id: str, document_id: str, segment_id: str) -> _Target:
    """The parent segment, checked for writing child chunks: lookups first (404), then the document's form."""
    dataset, document, segment = segment_service.get_segment(session, principal=principal, dataset_id=dataset_id,
                                                             document_id=document_id, segment_id=segment_id,
                                                             write=True)
    if document.doc_form != HIERARCHICAL:
        raise InvalidInputError("Child chunks exist only in parent-child documents (doc_form hierarchical_model).",
                                field="doc_form")
    if document.indexing_status == "waiting" or document.indexing_status in INDEXING_ACTIVE:
        raise InvalidActionError("Document is being indexed, please try again later")
    return _Target(dataset, document, segment)


def _child(session: Session, target: _Target, child_chunk_id: str) -> ChildChunk:
    child = session.scalar(sa.select(ChildChunk).where(ChildChunk.id == child_chunk_id,
                                                       ChildChunk.segment_id == target.segment.id,
                                                       ChildChunk.document_id == target.document.id))
    if child is None:
        raise ChildChunkNotFoundError()
    return child


def _content(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError("Content is empty", field="content")
    return value


def _units(target: _Target, children: Sequence[ChildChunk]) -> list[IndexedChunk]:
    return [IndexedChunk(id=c.index_node_id or c.id, dataset_id=target.dataset.id, document_id=target.document.id,
                         segment_id=target.segment.id, content=c.content) for c in children]


def _embed(session: Session, runtime: Runtime, target: _Target, units: list[IndexedChunk]) -> list[IndexedChunk]:
    """Vectors for `units` (high_quality), before anything is written; flushes embedding-cache rows only."""
    if target.dataset.indexing_technique != "high_quality" or not units:
        return units
    embedder = embedding_service.bind_embedder(session, runtime=runtime, dataset=target.dataset)
    vectors = embedding_service.embed_documents(session, embedder, [u.content for u in units],
                                                batch_size=runtime.settings.embedding_batch_size)
    return [replace(unit, vector=vector) for unit, vector in zip(units, vectors, strict=True)]


def _store(session: Session, runtime: Runtime, target: _Target, units: list[IndexedChunk]) -> None:
    """Upsert the entries; commits (embedded mode's stores write inside the session's transaction)."""
    if units:
        if target.dataset.indexing_technique == "high_quality":
            runtime.vector_store.upsert(units)
        runtime.fulltext.upsert(units)
    session.commit()


def _unstore(runtime: Runtime, target: _Target, ids: list[str]) -> None:
    if not ids:
        return
    if target.dataset.indexing_technique == "high_quality":
        runtime.vector_store.delete_chunks(target.dataset.id, ids)
    runtime.fulltext.delete_chunks(target.dataset.id, ids)


def _refresh_keywords(session: Session, target: _Target) -> None:
    """Economy datasets: the segment's keyword rows become its own keywords plus its children's. Flushes only."""
    if target.dataset.indexing_technique == "high_quality":
        return
    session.flush()
    texts = [target.segment.content, *session.scalars(sa.select(ChildChunk.content).where(
        ChildChunk.segment_id == target.segment.id).order_by(ChildChunk.position))]
    words = list(dict.fromkeys(word[:index.KEYWORD_MAX_LENGTH] for text in texts
                               for word in extract_keywords(text, index.KEYWORDS_PER_SEGMENT)))
    session.execute(sa.delete(SegmentKeyword).where(SegmentKeyword.segment_id == target.segment.id))
    session.add_all(SegmentKeyword(segment_id=target.segment.id, keyword=word, dataset_id=target.dataset.id,
                                   document_id=target.document.id) for word in dict.fromkeys(w.lower() for w in words))
    target.segment.keywords = words


def _new_child(target: _Target, principal: Principal, position: int, content: str) -> ChildChunk:
    now = utcnow()
    child_id = indexing_service.child_chunk_id(target.segment.id, position, content)
    return ChildChunk(id=child_id, tenant_id=target.segment.tenant_id, dataset_id=target.dataset.id,
                      document_id=target.document.id, segment_id=target.segment.id, position=position,
                      content=content, word_count=len(content), index_node_id=child_id,
                      index_node_hash=index.content_hash(content), type="customized",
                      created_by=principal.account_id, created_at=now, updated_by=principal.account_id,
                      updated_at=now)


def _edit(child: ChildChunk, principal: Principal, content: str) -> None:
    child.content, child.word_count = content, len(content)
    child.index_node_hash = index.content_hash(content)
    child.type, child.updated_by, child.updated_at = "customized", principal.account_id, utcnow()


def _next_position(session: Session, segment_id: str) -> int:
    return (session.scalar(sa.select(sa.func.max(ChildChunk.position)).where(ChildChunk.segment_id == segment_id))
            or 0) + 1


def create_child_chunk(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                       document_id: str, segment_id: str, content: str) -> ChildChunk:
    """Append a `customized` child chunk to a parent segment and index it (dataset editors). Commits.

    Raises: DatasetNotFoundError, DocumentNotFoundError, SegmentNotFoundError, PermissionDeniedError,
    InvalidInputError (empty content, not a parent-child document), InvalidActionError (document being indexed),
    ProviderNotInitializeError / InvokeError (high_quality embedding failed: nothing is written).
    """
    target = _target(session, principal, dataset_id, document_id, segment_id)
    child = _new_child(target, principal, _next_position(session, target.segment.id), _content(content))
    units = _embed(session, runtime, target, _units(target, [child]))
    session.add(child)
    _refresh_keywords(session, target)
    session.commit()
    _store(session, runtime, target, units)
    return child


def update_child_chunk(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                       document_id: str, segment_id: str, child_chunk_id: str, content: str) -> ChildChunk:
    """Replace one child chunk's text and re-index it under the same id (it becomes `customized`). Commits.

    Raises: as create_child_chunk, plus ChildChunkNotFoundError.
    """
    target = _target(session, principal, dataset_id, document_id, segment_id)
    child = _child(session, target, child_chunk_id)
    content = _content(content)
    if content == child.content:
        return child
    _edit(child, principal, content)
    units = _embed(session, runtime, target, _units(target, [child]))
    _refresh_keywords(session, target)
    session.commit()
    _store(session, runtime, target, units)
    return child


def delete_child_chunk(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                       document_id: str, segment_id: str, child_chunk_id: str) -> None:
    """Remove one child chunk from the stores, then its row. Commits.

    Raises: DatasetNotFoundError, DocumentNotFoundError, SegmentNotFoundError, ChildChunkNotFoundError,
    PermissionDeniedError, InvalidInputError (not a parent-child document), InvalidActionError (being indexed).
    """
    target = _target(session, principal, dataset_id, document_id, segment_id)
    child = _child(session, target, child_chunk_id)
    session.commit()  # end the read transaction before the stores write
    _unstore(runtime, target, [child.index_node_id or child.id])
    session.execute(sa.delete(ChildChunk).where(ChildChunk.id == child.id))
    _refresh_keywords(session, target)
    session.commit()


def update_child_chunks(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                        document_id: str, segment_id: str, chunks: list[dict[str, Any]]) -> list[ChildChunk]:
    """Make the segment's child chunks exactly `chunks` (Dify's batch edit): an item with the `id` of an existing
    child edits it (when its text changed), an item without `id` adds a child, and every existing child not named
    is deleted; an `id` that is not one of this segment's children is ignored (as Dify does). Commits.

    Returns the added and edited children by position. Raises: as create_child_chunk.
    """
    target = _target(session, principal, dataset_id, document_id, segment_id)
    existing = {c.id: c for c in segment_service.child_chunks_of(session, [target.segment.id]).get(
        target.segment.id, [])}
    named: set[str] = set()
    changed: list[ChildChunk] = []
    added_texts: list[str] = []
    contents = [_content(item.get("content")) for item in chunks]  # all checked before anything changes
    for item, content in zip(chunks, contents, strict=True):
        child = existing.get(item.get("id") or "")
        if item.get("id"):
            if child is not None and child.id not in named:
                named.add(child.id)
                if child.content != content:
                    _edit(child, principal, content)
                    changed.append(child)
            continue
        added_texts.append(content)
    doomed = [c for c in existing.values() if c.id not in named]
    position = max((c.position for c in existing.values()), default=0)
    added = [_new_child(target, principal, position + i, text) for i, text in enumerate(added_texts, start=1)]
    units = _embed(session, runtime, target, _units(target, changed + added))
    session.commit()  # edits and embedding-cache rows; the stores write next
    _unstore(runtime, target, [c.index_node_id or c.id for c in doomed])
    if doomed:
        session.execute(sa.delete(ChildChunk).where(ChildChunk.id.in_([c.id for c in doomed])))
    session.add_all(added)
    _refresh_keywords(session, target)
    session.commit()
    _store(session, runtime, target, units)
    return sorted(changed + added, key=lambda c: c.position)
