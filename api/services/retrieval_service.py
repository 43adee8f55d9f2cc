"""Retrieval from datasets: hit testing / the Service API's `retrieve`, and context for chat and completion apps.

Search methods (Dify's): semantic_search (the query embedded with the dataset's embedding model, searched in
the vector store), full_text_search (the full-text index), hybrid_search (both, fused by weights or reranked by
a rerank model) and keyword_search (economy datasets: the query's keywords matched against segment_keywords;
an economy dataset always searches this way). Candidates are over-fetched from the index and then filtered to
enabled, completed segments of enabled, non-archived, completed documents, so disabled or archived content
never comes back even though it stays indexed. Then: optional rerank, score threshold, top_k, and each
returned segment's hit_count + 1 (committed). Hierarchical documents return the parent segment with its child
chunks that share words with the query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from api.core.model_runtime import registry
from api.core.rag.keywords import extract_keywords
from api.core.rag.ports import Hit
from api.core.rag.retrieval import RetrievalSettings, fuse_weighted, keyword_scores, merge_best
from api.extensions.runtime import Runtime
from api.models.dataset import ChildChunk, Dataset, Document, DocumentSegment, SegmentKeyword
from api.services import dataset_service, embedding_service, provider_service
from api.services.errors import DatasetNotInitializedError, InvalidInputError
from api.services.workspace_service import Principal

OVERFETCH = 4  # candidates per requested result, so filtering out disabled content still leaves enough
MAX_CANDIDATES = 100
MAX_QUERY_LENGTH = 250


@dataclass(frozen=True)
class Record:
    """One retrieved segment with its document, score and (hierarchical documents) matching child chunks."""

    segment: DocumentSegment
    document: Document
    dataset: Dataset
    score: float
    child_chunks: list[tuple[ChildChunk, float]] = field(default_factory=list)


def hit_test(session: Session, *, principal: Principal, runtime: Runtime, dataset_id: str, query: str,
             retrieval_model: dict[str, Any] | None) -> list[Record]:
    """Console hit testing / Service API retrieve on one dataset the caller may read.

    Raises: DatasetNotFoundError, PermissionDeniedError, InvalidInputError (empty or > 250-character query, bad
    retrieval model), DatasetNotInitializedError (nothing was ever indexed), provider and invoke errors.
    """
    dataset = dataset_service.get_dataset(session, principal=principal, dataset_id=dataset_id)
    if not query or not query.strip():
        raise InvalidInputError("Query is required", field="query")
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInputError(f"Query cannot exceed {MAX_QUERY_LENGTH} characters", field="query")
    model = dataset_service.validate_retrieval_model(retrieval_model) if retrieval_model else None
    return retrieve(session, runtime=runtime, dataset=dataset, query=query, retrieval_model=model)


def retrieve(session: Session, *, runtime: Runtime, dataset: Dataset, query: str,
             retrieval_model: dict[str, Any] | None = None, top_k: int | None = None,
             with_threshold: bool = True) -> list[Record]:
    """The best segments of `dataset` for `query` by `retrieval_model` (None → the dataset's own). Commits
    (hit counts). Raises DatasetNotInitializedError when the dataset has never been indexed."""
    if dataset.indexing_technique is None:
        raise DatasetNotInitializedError()
    settings = RetrievalSettings.from_model(retrieval_model or dataset_service.retrieval_model_of(dataset))
    if top_k is not None:
        settings = replace(settings, top_k=top_k)
    if not with_threshold:
        settings = replace(settings, score_threshold=None)
    hits = _search(session, runtime, dataset, query, settings)
    records = _load_records(session, dataset, hits)
    if settings.rerank_model:
        records = rerank(session, runtime=runtime, tenant_id=dataset.tenant_id, query=query, records=records,
                         provider=settings.rerank_provider, model=settings.rerank_model)
    if settings.score_threshold is not None:
        records = [r for r in records if r.score >= settings.score_threshold]
    records = records[:settings.top_k]
    records = _with_children(session, records, query)
    count_hits(session, [r.segment.id for r in records])
    return records


def _method(dataset: Dataset, settings: RetrievalSettings) -> str:
    if dataset.indexing_technique == "economy":
        return "keyword_search"
    return "full_text_search" if settings.search_method == "keyword_search" else settings.search_method


def _search(session: Session, runtime: Runtime, dataset: Dataset, query: str, settings: RetrievalSettings
            ) -> list[Hit]:
    method = _method(dataset, settings)
    fetch = min(MAX_CANDIDATES, settings.top_k * OVERFETCH)
    if method == "keyword_search":
        return _keyword_hits(session, dataset, query)
    vector_hits = _vector_hits(session, runtime, dataset, query, fetch) if method != "full_text_search" else []
    text_hits = runtime.fulltext.search(dataset.id, query, top_k=fetch) if method != "semantic_search" else []
    if method == "semantic_search":
        return list(vector_hits)
    if method == "full_text_search":
        return list(text_hits)
    if settings.rerank_model:
        return merge_best([vector_hits, text_hits])  # the rerank model scores the union
    return fuse_weighted(vector_hits, text_hits, vector_weight=settings.vector_weight,
                         keyword_weight=settings.keyword_weight)


def _vector_hits(session: Session, runtime: Runtime, dataset: Dataset, query: str, fetch: int) -> list[Hit]:
    embedder = embedding_service.bind_embedder(session, runtime=runtime, dataset=dataset)
    vector = embedder.model.embed([query]).vectors[0]
    return runtime.vector_store.search(dataset.id, vector, top_k=fetch)


def _keyword_hits(session: Session, dataset: Dataset, query: str) -> list[Hit]:
    keywords = extract_keywords(query, max_keywords=10) or [w.lower() for w in query.split() if w.strip()][:10]
    if not keywords:
        return []
    rows = session.execute(sa.select(SegmentKeyword.segment_id, SegmentKeyword.keyword).where(
        SegmentKeyword.dataset_id == dataset.id, SegmentKeyword.keyword.in_({k.lower() for k in keywords} |
                                                                            set(keywords)))).all()
    return keyword_scores(keywords, [(s, k) for s, k in rows])


def _load_records(session: Session, dataset: Dataset, hits: Sequence[Hit]) -> list[Record]:
    """Records for `hits` in hit order, keeping only retrievable segments (see the module docstring)."""
    ids = [h.segment_id for h in hits]
    if not ids:
        return []
    joined = sa.select(DocumentSegment, Document).join(Document, Document.id == DocumentSegment.document_id)
    # Only the id lookup is in SQL, the rest is checked here: SQLite has no statistics (no ANALYZE) and, given more
    # predicates, plans a scan through an index on dataset_id or indexing_status, visiting every segment of the
    # dataset (60-80 ms at 100k segments, bench/bench_retrieve_http.py) instead of looking up <= 100 ids.
    rows = session.execute(joined.where(DocumentSegment.id.in_(ids))).all()
    found = {segment.id: (segment, document) for segment, document in rows
             if segment.dataset_id == dataset.id and segment.enabled and segment.status == "completed"
             and document.enabled and not document.archived and document.indexing_status == "completed"}
    scores = {h.segment_id: h.score for h in merge_best([hits])}
    ordered = sorted(found, key=lambda i: -scores[i])
    return [Record(segment=found[i][0], document=found[i][1], dataset=dataset, score=round(scores[i], 6))
            for i in ordered]


def rerank(session: Session, *, runtime: Runtime, tenant_id: str, query: str, records: list[Record], provider: str,
           model: str) -> list[Record]:
    """Re-score `records` with a rerank model of the workspace; best first.

    Raises ProviderNotInitializeError (no credentials) and InvokeError from the model."""
    if not records:
        return []
    target = provider_service.resolve_target(session, cache=runtime.cache, secret_key=runtime.settings.secret_key,
                                             tenant_id=tenant_id, provider=provider, model=model, model_type="rerank")
    ranker = registry.get_rerank(target.provider, target.name, target.credentials)
    hits = ranker.rerank(query, [r.segment.content for r in records], len(records))
    return [replace(records[h.index], score=round(float(h.score), 6)) for h in hits]


def _with_children(session: Session, records: list[Record], query: str) -> list[Record]:
    parents = [r.segment.id for r in records if r.document.doc_form == "hierarchical_model"]
    if not parents:
        return records
    words = {w.lower() for w in extract_keywords(query, max_keywords=20)} | {w.lower() for w in query.split()}
    children: dict[str, list[ChildChunk]] = {}
    for child in session.scalars(sa.select(ChildChunk).where(ChildChunk.segment_id.in_(parents))
                                 .order_by(ChildChunk.position)):
        children.setdefault(child.segment_id, []).append(child)
    result = []
    for record in records:
        kids = children.get(record.segment.id, [])
        matching = [c for c in kids if any(w in c.content.lower() for w in words)] or kids[:1]
        result.append(replace(record, child_chunks=[(c, record.score) for c in matching]))
    return result


def count_hits(session: Session, segment_ids: list[str]) -> None:
    """hit_count + 1 for each retrieved segment; loaded segments get the new counts (from RETURNING, so reading
    them costs no query per segment). Commits."""
    if segment_ids:
        counts = dict(session.execute(
            sa.update(DocumentSegment).where(DocumentSegment.id.in_(segment_ids))
            .values(hit_count=DocumentSegment.hit_count + 1).returning(DocumentSegment.id, DocumentSegment.hit_count)
            .execution_options(synchronize_session=False)).all())
        for segment in (s for s in session.identity_map.values() if isinstance(s, DocumentSegment)):
            if segment.id in counts:
                set_committed_value(segment, "hit_count", counts[segment.id])
    session.commit()


# ---- knowledge for chat and completion apps ------------------------------------------------------------------

@dataclass(frozen=True)
class AppKnowledge:
    """What a chat/completion turn gets from its datasets: prompt context and Dify's `retriever_resources`."""

    context: str = ""
    resources: list[dict[str, Any]] = field(default_factory=list)


def _configured_dataset_ids(dataset_configs: dict[str, Any]) -> list[str]:
    items = ((dataset_configs.get("datasets") or {}).get("datasets") or []) if isinstance(dataset_configs, dict) else []
    ids = []
    for item in items:
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if isinstance(dataset, dict) and dataset.get("enabled", True) is not False and isinstance(dataset.get("id"),
                                                                                                  str):
            ids.append(dataset["id"])
    return list(dict.fromkeys(ids))


def uses_knowledge(config: dict[str, Any]) -> bool:
    """Whether an app's model config names datasets to retrieve from (retrieve_for_app may search)."""
    return bool(_configured_dataset_ids(config.get("dataset_configs") or {}))


def retrieve_for_app(session: Session, *, runtime: Runtime, tenant_id: str, config: dict[str, Any], query: str,
                     inputs: dict[str, Any] | None, app_mode: str, invoke_from: str | None) -> AppKnowledge:
    """Retrieve context for one turn from the app's `dataset_configs` (only the workspace's initialised datasets).

    `single`: the first configured dataset with its own retrieval model. `multiple`: every dataset, each searched
    with its own method, merged, optionally reranked (`reranking_enable` with a `reranking_model`), then
    `score_threshold` (when `score_threshold_enabled`) and `top_k` (default 4). Completion apps search with
    the input named by `dataset_query_variable`. `resources` is empty when the app's `retriever_resource` feature
    is off. Commits (hit counts). Raises provider/invoke errors of the embedding or rerank model.
    """
    dataset_configs = config.get("dataset_configs") or {}
    if app_mode == "completion":
        query = str((inputs or {}).get(config.get("dataset_query_variable") or "") or "")
    ids = _configured_dataset_ids(dataset_configs)
    if not ids or not query.strip():
        return AppKnowledge()
    by_id = {d.id: d for d in session.scalars(sa.select(Dataset).where(
        Dataset.id.in_(ids), Dataset.tenant_id == tenant_id, Dataset.indexing_technique.is_not(None)))}
    datasets = [by_id[i] for i in ids if i in by_id]
    if not datasets:
        return AppKnowledge()
    query = query[:MAX_QUERY_LENGTH * 4]
    if dataset_configs.get("retrieval_model") == "single":
        records = retrieve(session, runtime=runtime, dataset=datasets[0], query=query)
    else:
        records = _multiple(session, runtime, tenant_id, datasets, query, dataset_configs)
    show = (config.get("retriever_resource") or {}).get("enabled", True) is not False
    origin = "dev" if invoke_from == "debugger" else "api"
    return AppKnowledge(context="\n".join(_context_text(r) for r in records),
                        resources=[resource(r, i + 1, origin) for i, r in enumerate(records)] if show else [])


def _multiple(session: Session, runtime: Runtime, tenant_id: str, datasets: list[Dataset], query: str,
              dataset_configs: dict[str, Any]) -> list[Record]:
    top_k = dataset_configs.get("top_k") or 4
    records: list[Record] = []
    for dataset in datasets:
        records += retrieve(session, runtime=runtime, dataset=dataset, query=query, top_k=top_k, with_threshold=False)
    records.sort(key=lambda r: -r.score)
    rerank_model = dataset_configs.get("reranking_model") or {}
    if (dataset_configs.get("reranking_enable") and dataset_configs.get("reranking_mode") != "weighted_score"
            and rerank_model.get("reranking_provider_name") and rerank_model.get("reranking_model_name")):
        records = rerank(session, runtime=runtime, tenant_id=tenant_id, query=query, records=records,
                         provider=rerank_model["reranking_provider_name"], model=rerank_model["reranking_model_name"])
    threshold = dataset_configs.get("score_threshold") if dataset_configs.get("score_threshold_enabled") else None
    if isinstance(threshold, int | float):
        records = [r for r in records if r.score >= threshold]
    return records[:top_k]


def _context_text(record: Record) -> str:
    segment = record.segment
    return f"question:{segment.content} answer:{segment.answer}" if segment.answer else segment.content


def resource(record: Record, position: int, retriever_from: str) -> dict[str, Any]:
    """Dify's retriever_resources item for one record."""
    segment, document = record.segment, record.document
    return {"position": position, "dataset_id": record.dataset.id, "dataset_name": record.dataset.name,
            "document_id": document.id, "document_name": document.name,
            "data_source_type": document.data_source_type, "segment_id": segment.id,
            "retriever_from": retriever_from, "score": record.score, "hit_count": segment.hit_count,
            "word_count": segment.word_count, "segment_position": segment.position,
            "index_node_hash": segment.index_node_hash, "content": _context_text(record), "page": None,
            "doc_metadata": document.doc_metadata, "title": document.name, "files": None, "summary": None}


def supported_methods(runtime: Runtime) -> list[str]:
    """The search methods the configured stores serve (Dify's retrieval-setting): semantic search with a vector
    store, full text and hybrid with a full-text index. Both vector stores (pgvector, embedded) and both full-text
    indexes (PostgreSQL, FTS5) support all three. keyword_search is the economy method and is not listed (Dify)."""
    methods = ["semantic_search"] if runtime.vector_store is not None else []
    if runtime.fulltext is not None:
        methods += ["full_text_search", "hybrid_search"] if methods else ["full_text_search"]
    return methods
