"""Segments (chunks) and child chunks of a document: list, read, add, edit, enable/disable, delete.

Edits re-index only what changed, through segment_index_service (the indexing pipeline's own writers): an added
or edited segment is embedded (high_quality; the embedding cache makes unchanged text free) or keyword-indexed
(economy) and stored by its id, so the old entry is replaced. Deleting segments, and any edit of a parent-child
(hierarchical) document, drops the document's index entries and re-stores those of its remaining segments,
because the stores delete per document only. Disabled segments stay indexed; retrieval skips them.
Segments can be added only to a completed document (the pipeline owns a document while it indexes).
New segment ids follow indexing_service.segment_id(document, position, content). The store writes use their own
connections, so the rows are committed before the index is written; an index failure leaves the segment in
status `error` with the reason (as Dify does) instead of failing the call.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.model_runtime.errors import InvokeError
from api.core.rag.entities import ProcessRule, SourceDocument
from api.core.rag.processor import transform
from api.core.rag.tokenizer import count_tokens
from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.libs.pagination import Page
from api.models.dataset import ChildChunk, Dataset, Document, DocumentSegment, SegmentKeyword
from api.services import document_service, embedding_service, indexing_service
from api.services import segment_index_service as index
from api.services.errors import InvalidInputError, NotFoundError, SegmentNotFoundError, ServiceError
from api.services.workspace_service import Principal

logger = logging.getLogger(__name__)


def _escaped(keyword: str) -> str:
    return "%" + keyword[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_segments(session: Session, *, principal: Principal, dataset_id: str, document_id: str, page: int,
                  limit: int, keyword: str | None = None, status: str | None = None, enabled: str = "all"
                  ) -> tuple[Document, Page]:
    """A page of the document's segments by position, filtered by content, status and enabled."""
    _, document = document_service.get_document(session, principal=principal, dataset_id=dataset_id,
                                                 document_id=document_id)
    cond = [DocumentSegment.document_id == document.id]
    if keyword:
        cond.append(DocumentSegment.content.ilike(_escaped(keyword), escape="\\"))
    if status:
        cond.append(DocumentSegment.status == status)
    if enabled != "all":
        cond.append(DocumentSegment.enabled.is_(enabled == "true"))
    total = session.scalar(sa.select(sa.func.count(DocumentSegment.id)).where(*cond)) or 0
    items = session.scalars(sa.select(DocumentSegment).where(*cond).order_by(DocumentSegment.position)
                            .offset((page - 1) * limit).limit(limit)).all()
    return document, Page(list(items), total, page, limit)


def get_segment(session: Session, *, principal: Principal, dataset_id: str, document_id: str, segment_id: str,
                write: bool = False) -> tuple[Dataset, Document, DocumentSegment]:
    """Raises DatasetNotFoundError, DocumentNotFoundError, SegmentNotFoundError, PermissionDeniedError."""
    dataset, document = document_service.get_document(session, principal=principal, dataset_id=dataset_id,
                                                      document_id=document_id, write=write)
    segment = session.scalar(sa.select(DocumentSegment).where(DocumentSegment.id == segment_id,
                                                              DocumentSegment.document_id == document.id))
    if segment is None:
        raise SegmentNotFoundError()
    return dataset, document, segment


def child_chunks_of(session: Session, segment_ids: list[str]) -> dict[str, list[ChildChunk]]:
    """Child chunks per segment, by position."""
    result: dict[str, list[ChildChunk]] = {}
    if segment_ids:
        for child in session.scalars(sa.select(ChildChunk).where(ChildChunk.segment_id.in_(segment_ids))
                                     .order_by(ChildChunk.segment_id, ChildChunk.position)):
            result.setdefault(child.segment_id, []).append(child)
    return result


def list_child_chunks(session: Session, *, principal: Principal, dataset_id: str, document_id: str,
                      segment_id: str, page: int, limit: int, keyword: str | None = None) -> Page:
    """A page of one segment's child chunks by position."""
    _, _, segment = get_segment(session, principal=principal, dataset_id=dataset_id, document_id=document_id,
                                segment_id=segment_id)
    cond = [ChildChunk.segment_id == segment.id]
    if keyword:
        cond.append(ChildChunk.content.ilike(_escaped(keyword), escape="\\"))
    total = session.scalar(sa.select(sa.func.count(ChildChunk.id)).where(*cond)) or 0
    items = session.scalars(sa.select(ChildChunk).where(*cond).order_by(ChildChunk.position)
                            .offset((page - 1) * limit).limit(limit)).all()
    return Page(list(items), total, page, limit)


def _check_content(document: Document, content: str | None, answer: str | None) -> None:
    if not content or not content.strip():
        raise InvalidInputError("Content is empty", field="content")
    if document.doc_form == "qa_model" and not (answer or "").strip():
        raise InvalidInputError("Answer is required", field="answer")


def create_segments(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str, document_id: str,
                    items: list[dict[str, Any]]) -> tuple[Document, list[DocumentSegment]]:
    """Append segments (`content`, `answer`, `keywords`) to a completed document and index them. Commits.

    Raises: DocumentNotFoundError / NotFoundError "Document is not completed." / "Document is disabled.",
    InvalidInputError (empty content), ProviderNotInitializeError (high_quality without a usable model).
    """
    dataset, document = document_service.get_document(session, principal=principal, dataset_id=dataset_id,
                                                      document_id=document_id, write=True)
    if document.indexing_status != "completed":
        raise NotFoundError("Document is not completed.")
    if not document.enabled:
        raise NotFoundError("Document is disabled.")
    for item in items:
        _check_content(document, item.get("content"), item.get("answer"))
    if dataset.indexing_technique == "high_quality":
        embedding_service.bind_embedder(session, runtime=runtime, dataset=dataset)  # fail before writing
    position = session.scalar(sa.select(sa.func.max(DocumentSegment.position))
                              .where(DocumentSegment.document_id == document.id)) or 0
    now, created = utcnow(), []
    for item in items:
        position += 1
        content = item["content"]
        segment = DocumentSegment(
            id=indexing_service.segment_id(document.id, position, content), tenant_id=document.tenant_id,
            dataset_id=document.dataset_id, document_id=document.id, position=position, content=content,
            answer=item.get("answer"), word_count=len(content) + len(item.get("answer") or ""),
            tokens=count_tokens(content), keywords=item.get("keywords") or [],
            index_node_hash=index.content_hash(content), hit_count=0, enabled=True, status="indexing",
            created_by=principal.account_id, created_at=now, updated_by=principal.account_id, updated_at=now,
            indexing_at=now)
        segment.index_node_id = segment.id
        session.add(segment)
        created.append(segment)
    session.flush()
    _set_children(session, document, created, regenerate=True)
    _refresh_word_count(session, document)
    _index(session, runtime, dataset, document, created, explicit_keywords={s.id: s.keywords for s in created
                                                                            if s.keywords})
    return document, created


def update_segment(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str, document_id: str,
                   segment_id: str, changes: dict[str, Any]) -> tuple[Document, DocumentSegment]:
    """Edit content/answer/keywords and/or enabled; re-index the segment when its text or keywords changed
    (parent-child documents: the children are re-split when `regenerate_child_chunks` or the content changed).
    Commits. Raises SegmentNotFoundError, InvalidInputError."""
    dataset, document, segment = get_segment(session, principal=principal, dataset_id=dataset_id,
                                             document_id=document_id, segment_id=segment_id, write=True)
    now = utcnow()
    if changes.get("enabled") is not None:
        segment.enabled = changes["enabled"]
        segment.disabled_at, segment.disabled_by = (None, None) if segment.enabled else (now, principal.account_id)
    content = changes.get("content")
    text_changed = (content is not None and content != segment.content) or (
        changes.get("answer") is not None and changes["answer"] != segment.answer)
    keywords_changed = changes.get("keywords") is not None and list(changes["keywords"]) != list(segment.keywords or [])
    if text_changed:
        _check_content(document, content or segment.content, changes.get("answer", segment.answer))
        segment.content = content or segment.content
        segment.answer = changes.get("answer", segment.answer)
        segment.word_count = len(segment.content) + len(segment.answer or "")
        segment.tokens, segment.index_node_hash = count_tokens(segment.content), index.content_hash(segment.content)
    if keywords_changed:
        segment.keywords = list(changes["keywords"])
    segment.updated_at, segment.updated_by = now, principal.account_id
    if text_changed or keywords_changed:
        segment.status = "indexing"
        session.flush()
        _set_children(session, document, [segment], regenerate=text_changed or changes.get("regenerate_child_chunks"))
        _refresh_word_count(session, document)
        _index(session, runtime, dataset, document, [segment],
               explicit_keywords={segment.id: segment.keywords} if keywords_changed else {})
    else:
        session.commit()
    return document, segment


def set_enabled(session: Session, *, principal: Principal, dataset_id: str, document_id: str,
                segment_ids: list[str], enabled: bool) -> None:
    """Enable or disable segments (retrieval skips disabled ones). Commits. Raises SegmentNotFoundError."""
    _, document = document_service.get_document(session, principal=principal, dataset_id=dataset_id,
                                                document_id=document_id, write=True)
    segments = _segments(session, document, segment_ids)
    now = utcnow()
    for segment in segments:
        segment.enabled = enabled
        segment.disabled_at, segment.disabled_by = (None, None) if enabled else (now, principal.account_id)
        segment.updated_at = now
    session.commit()


def delete_segments(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str,
                    document_id: str, segment_ids: list[str]) -> None:
    """Delete segments (with their child chunks and keywords) and re-store the document's remaining index
    entries. Commits. Raises SegmentNotFoundError (nothing is deleted then)."""
    dataset, document = document_service.get_document(session, principal=principal, dataset_id=dataset_id,
                                                      document_id=document_id, write=True)
    ids = [s.id for s in _segments(session, document, segment_ids)]
    for model in (SegmentKeyword, ChildChunk):
        session.execute(sa.delete(model).where(model.segment_id.in_(ids)))
    session.execute(sa.delete(DocumentSegment).where(DocumentSegment.id.in_(ids)))
    session.flush()
    _refresh_word_count(session, document)
    _index(session, runtime, dataset, document, [], whole_document=True)


def _segments(session: Session, document: Document, segment_ids: list[str]) -> list[DocumentSegment]:
    ids = list(dict.fromkeys(segment_ids))
    rows = list(session.scalars(sa.select(DocumentSegment).where(DocumentSegment.id.in_(ids),
                                                                 DocumentSegment.document_id == document.id)))
    if not ids or len(rows) != len(ids):
        raise SegmentNotFoundError()
    return rows


def _refresh_word_count(session: Session, document: Document) -> None:
    document.word_count = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(DocumentSegment.word_count), 0))
                                         .where(DocumentSegment.document_id == document.id)) or 0
    document.updated_at = utcnow()


def _set_children(session: Session, document: Document, segments: list[DocumentSegment], *, regenerate: Any) -> None:
    """Parent-child documents: re-split each segment into child chunks by the document's subchunk rule."""
    if document.doc_form != "hierarchical_model" or not regenerate:
        return
    rule_row = document_service.process_rule_of(session, document)
    rule = ProcessRule.from_dict({"mode": rule_row.mode, "rules": rule_row.rules}) if rule_row else None
    if rule is None or rule.mode != "hierarchical":
        return
    rule = replace(rule, parent_mode="full-doc", pre_processing_rules=())
    now = utcnow()
    for segment in segments:
        session.execute(sa.delete(ChildChunk).where(ChildChunk.segment_id == segment.id))
        parents = transform([SourceDocument(segment.content)], rule)
        for position, child in enumerate(parents[0].children if parents else [], start=1):
            child_id = indexing_service.child_chunk_id(segment.id, position, child.content)
            session.add(ChildChunk(id=child_id, tenant_id=segment.tenant_id, dataset_id=segment.dataset_id,
                                   document_id=segment.document_id, segment_id=segment.id, position=position,
                                   content=child.content, word_count=len(child.content), index_node_id=child_id,
                                   index_node_hash=index.content_hash(child.content), type="automatic",
                                   created_by=segment.updated_by, created_at=now, updated_at=now))
    session.flush()


def _plan(session: Session, document: Document, segments: list[DocumentSegment]) -> index.Plan:
    children = child_chunks_of(session, [s.id for s in segments])
    planned = [index.PlannedSegment(
        id=s.id, position=s.position, content=s.content, tokens=s.tokens,
        children=tuple(index.PlannedChild(id=c.id, position=c.position, content=c.content,
                                          tokens=count_tokens(c.content)) for c in children.get(s.id, [])))
        for s in segments]
    return index.Plan(tenant_id=document.tenant_id, dataset_id=document.dataset_id, document_id=document.id,
                      created_by=document.created_by, segments=planned)


def _index(session: Session, runtime: Runtime, dataset: Dataset, document: Document, segments: list[DocumentSegment],
           *, explicit_keywords: dict[str, list[str]] | None = None, whole_document: bool = False) -> None:
    """Commit the rows, then (re)store the index entries of `segments` (all the document's segments when
    `whole_document` or parent-child). An index failure marks those segments `error`."""
    if whole_document or document.doc_form == "hierarchical_model":
        segments = list(session.scalars(sa.select(DocumentSegment).where(DocumentSegment.document_id == document.id)
                                        .order_by(DocumentSegment.position)))
        whole_document = True
    plan = _plan(session, document, segments)
    ids = [s.id for s in segments]
    if ids:
        session.execute(sa.delete(SegmentKeyword).where(SegmentKeyword.segment_id.in_(ids)))
    session.commit()  # the stores write on their own connections
    vectors, fulltext = runtime.vector_store, runtime.fulltext  # type: ignore[attr-defined]
    try:
        if whole_document:
            if dataset.indexing_technique == "high_quality":
                vectors.delete_documents(dataset.id, [document.id])
            fulltext.delete_documents(dataset.id, [document.id])
        if dataset.indexing_technique == "high_quality":
            embedder = embedding_service.bind_embedder(session, runtime=runtime, dataset=dataset)
            batch = runtime.settings.embedding_batch_size
            index.index_high_quality(session, plan, vectors=vectors, fulltext=fulltext, batch_size=batch,
                                     embed=lambda texts: embedding_service.embed_documents(session, embedder, texts,
                                                                                          batch_size=batch),
                                     on_batch=lambda: None)
        else:
            index.index_economy(session, plan, fulltext=fulltext, on_batch=lambda: None)
        _use_keywords(session, document, explicit_keywords or {})
        session.commit()
    except (InvokeError, ServiceError) as exc:
        session.rollback()
        logger.warning("segment indexing failed document_id=%s reason=%s", document.id, exc)
        session.execute(sa.update(DocumentSegment).where(DocumentSegment.id.in_(ids)).values(
            status="error", error=str(exc)[:2000], stopped_at=utcnow()).execution_options(synchronize_session=False))
        session.commit()
    for segment in segments:
        session.refresh(segment)


def _use_keywords(session: Session, document: Document, explicit: dict[str, list[str]]) -> None:
    """Keywords a user set replace the extracted ones (segment column and keyword table)."""
    for segment_id, words in explicit.items():
        words = list(dict.fromkeys(w.strip()[:255] for w in words if w and w.strip()))
        session.execute(sa.delete(SegmentKeyword).where(SegmentKeyword.segment_id == segment_id))
        session.add_all(SegmentKeyword(segment_id=segment_id, keyword=w, dataset_id=document.dataset_id,
                                       document_id=document.id) for w in dict.fromkeys(w.lower() for w in words))
        session.execute(sa.update(DocumentSegment).where(DocumentSegment.id == segment_id).values(keywords=words)
                        .execution_options(synchronize_session=False))
