"""Response bodies of the knowledge routes (datasets, documents, segments, retrieval records), shared by the console
and the Service API so both answer with the same shapes (reference §4.11, §7)."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.models.dataset import ChildChunk, Dataset, Document, DocumentSegment
from api.schemas.dataset import DatasetDetailSchema, HitTestingResultSchema
from api.schemas.document import (
    ChildChunkSchema,
    DocumentDetailSchema,
    DocumentSchema,
    DocumentStatusSchema,
    SegmentSchema,
)
from api.services import (
    app_service,
    dataset_permission_service,
    dataset_service,
    document_service,
    file_service,
    segment_service,
    tag_service,
)
from api.services.document_ingest_service import DocumentOptions
from api.services.retrieval_service import Record

_dataset, _document, _detail = DatasetDetailSchema(), DocumentSchema(), DocumentDetailSchema()
_status, _segment, _child, _hits = DocumentStatusSchema(), SegmentSchema(), ChildChunkSchema(), HitTestingResultSchema()
_ROW = ("id", "name", "description", "provider", "permission", "data_source_type", "indexing_technique",
        "created_by", "created_at", "updated_by", "updated_at", "embedding_model", "embedding_model_provider",
        "doc_form", "icon_info", "enable_api")


OPTION_KEYS = ("indexing_technique", "process_rule", "doc_form", "doc_language", "retrieval_model", "embedding_model",
               "embedding_model_provider")
CREATE_KEYS = ("name", "description", "indexing_technique", "permission", "provider", "embedding_model",
               "embedding_model_provider", "retrieval_model", "partial_member_list")


def dataset_create_args(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of dataset_service.create_dataset from a loaded DatasetCreateSchema."""
    return {k: args[k] for k in CREATE_KEYS}


def document_options(args: dict[str, Any]) -> DocumentOptions:
    """DocumentOptions from a loaded DocumentOptionsSchema (or a subclass)."""
    return DocumentOptions(**{k: args.get(k) for k in OPTION_KEYS})


def datasets(rows: list[Dataset]) -> list[dict[str, Any]]:
    """DatasetDetail of each dataset (counts, author, embedding availability, tags, partial-member list) in a few
    queries."""
    if not rows:
        return []
    session, tenant_id, ids = db.session, rows[0].tenant_id, [d.id for d in rows]
    stats = dataset_service.dataset_stats(session, tenant_id=tenant_id, dataset_ids=ids)
    tags = tag_service.tags_of(session, tenant_id=tenant_id, tag_type=tag_service.KNOWLEDGE, target_ids=ids)
    members = dataset_permission_service.member_lists(
        session, [d.id for d in rows if d.permission == dataset_permission_service.PARTIAL_MEMBERS])
    available = dataset_service.embedding_available(session, tenant_id=tenant_id, datasets=rows)
    names = app_service.get_creator_names(session, {d.created_by or "" for d in rows})
    result = []
    for row in rows:
        retrieval = dataset_service.retrieval_model_of(row)
        if row.indexing_technique == "economy":
            retrieval["search_method"] = "keyword_search"
        figures = stats[row.id]
        result.append(_dataset.dump({
            **{key: getattr(row, key) for key in _ROW}, "app_count": figures.app_count,
            "document_count": figures.document_count, "word_count": figures.word_count,
            "author_name": names.get(row.created_by or ""), "embedding_available": available[row.id],
            "retrieval_model_dict": retrieval, "summary_index_setting": None,
            "tags": [{"id": t.id, "name": t.name, "type": t.type} for t in tags[row.id]],
            "external_knowledge_info": None, "external_retrieval_model": None, "doc_metadata": [],
            "built_in_field_enabled": False, "pipeline_id": None, "runtime_mode": "general",
            "chunk_structure": None, "is_published": False, "total_documents": figures.document_count,
            "total_available_documents": figures.available_document_count, "is_multimodal": False,
            "partial_member_list": members.get(row.id, []),
        }))
    return result


def dataset(row: Dataset) -> dict[str, Any]:
    return datasets([row])[0]


def _file_detail(document: Document, files: dict[str, Any]) -> dict[str, Any] | None:
    upload = files.get((document.data_source_info or {}).get("upload_file_id") or "")
    if upload is None:
        return None
    return {"upload_file": {"id": upload.id, "name": upload.name, "size": upload.size, "extension": upload.extension,
                            "mime_type": upload.mime_type, "created_by": upload.created_by,
                            "created_at": int(upload.created_at.timestamp()) if upload.created_at else None}}


def _document_fields(document: Document, files: dict[str, Any], counts: Any) -> dict[str, Any]:
    return {
        "id": document.id, "position": document.position, "data_source_type": document.data_source_type,
        "data_source_info": document.data_source_info, "data_source_detail_dict": _file_detail(document, files),
        "dataset_process_rule_id": document.dataset_process_rule_id, "name": document.name,
        "created_from": document.created_from, "created_by": document.created_by, "created_at": document.created_at,
        "tokens": document.tokens, "indexing_status": document.indexing_status, "error": document.error,
        "enabled": document.enabled, "disabled_at": document.disabled_at, "disabled_by": document.disabled_by,
        "archived": document.archived, "display_status": document_service.display_status(document),
        "word_count": document.word_count, "hit_count": counts.hit_count, "doc_form": document.doc_form,
        "doc_metadata": [], "summary_index_status": None, "need_summary": False,
        "completed_segments": counts.completed, "total_segments": counts.total,
    }


def documents(rows: list[Document]) -> list[dict[str, Any]]:
    """Document list items (with completed/total segment counts)."""
    files = document_service.upload_files(db.session, rows)
    counts = document_service.segment_counts(db.session, [d.id for d in rows])
    return [_document.dump(_document_fields(d, files, counts[d.id])) for d in rows]


def document(row: Document) -> dict[str, Any]:
    return documents([row])[0]


def document_detail(dataset_row: Dataset, row: Document, metadata: str = "all") -> dict[str, Any]:
    """Dify's document detail; `metadata=only` → id/doc_type/doc_metadata, `without` drops the metadata."""
    if metadata == "only":
        return {"id": row.id, "doc_type": None, "doc_metadata": []}
    session = db.session
    counts = document_service.segment_counts(session, [row.id])[row.id]
    rule = document_service.process_rule_of(session, row)
    rule_dict = {"mode": rule.mode, "rules": rule.rules} if rule else None
    body = {**_document_fields(row, document_service.upload_files(session, [row]), counts),
            "dataset_process_rule": rule_dict, "document_process_rule": rule_dict, "completed_at": row.completed_at,
            "updated_at": row.updated_at, "indexing_latency": row.indexing_latency, "segment_count": counts.total,
            "average_segment_length": row.word_count // counts.total if counts.total else 0, "doc_type": None,
            "doc_language": row.doc_language}
    result = _detail.dump(body)
    if metadata == "without":
        result.pop("doc_metadata", None)
        result.pop("doc_type", None)
    return result


def status(row: Document, counts: Any) -> dict[str, Any]:
    """Dify's DocumentStatus (`paused` when the document is paused)."""
    return _status.dump({
        "id": row.id, "indexing_status": "paused" if row.is_paused else row.indexing_status,
        "processing_started_at": row.processing_started_at, "parsing_completed_at": row.parsing_completed_at,
        "cleaning_completed_at": row.cleaning_completed_at, "splitting_completed_at": row.splitting_completed_at,
        "completed_at": row.completed_at, "paused_at": row.paused_at, "error": row.error,
        "stopped_at": row.stopped_at, "completed_segments": counts.completed, "total_segments": counts.total})


def download_url(upload: Any) -> dict[str, str]:
    return {"url": file_service.preview_url(get_runtime().settings, request.host_url.rstrip("/"), upload.id)
            + "&as_attachment=true"}


def child_chunk(row: ChildChunk) -> dict[str, Any]:
    return _child.dump({c: getattr(row, c) for c in ("id", "segment_id", "content", "position", "word_count", "type",
                                                     "created_at", "updated_at")})


def segments(rows: list[DocumentSegment], *, with_children: bool = True) -> list[dict[str, Any]]:
    children = segment_service.child_chunks_of(db.session, [s.id for s in rows]) if with_children else {}
    return [_segment.dump({
        **{c: getattr(s, c) for c in ("id", "position", "document_id", "content", "answer", "word_count", "tokens",
                                      "index_node_id", "index_node_hash", "hit_count", "enabled", "disabled_at",
                                      "disabled_by", "status", "created_by", "created_at", "updated_at",
                                      "updated_by", "indexing_at", "completed_at", "error", "stopped_at")},
        "sign_content": s.content, "keywords": list(s.keywords or []),
        "child_chunks": [child_chunk(c) for c in children.get(s.id, [])], "attachments": [], "summary": None,
    }) for s in rows]


def segment(row: DocumentSegment) -> dict[str, Any]:
    return segments([row])[0]


def segment_page(document: Document, page: Any) -> dict[str, Any]:
    """Segment list body: the console's and the Service API's keys together."""
    return {"data": segments(page.items), "doc_form": document.doc_form, "page": page.page, "limit": page.limit,
            "total": page.total, "total_pages": page.total_pages, "has_more": page.has_more}


def child_chunk_page(page: Any) -> dict[str, Any]:
    return {"data": [child_chunk(c) for c in page.items], "page": page.page, "limit": page.limit,
            "total": page.total, "total_pages": page.total_pages}


def hit_testing(query: str, records: list[Record]) -> dict[str, Any]:
    """Dify's hit-testing / retrieve body."""
    items = []
    bodies = segments([record.segment for record in records], with_children=False)  # records carry their children
    for record, body in zip(records, bodies, strict=True):
        body.pop("child_chunks", None)
        body["document"] = {"id": record.document.id, "data_source_type": record.document.data_source_type,
                            "name": record.document.name, "doc_type": None, "doc_metadata": None}
        children = [{"id": c.id, "content": c.content, "position": c.position, "score": score}
                    for c, score in record.child_chunks]
        items.append({"segment": body, "child_chunks": children or None, "score": record.score,
                      "tsne_position": None, "files": [], "summary": None})
    return _hits.dump({"query": {"content": query}, "records": items})


def zip_response(name: str, chunks: Any) -> Response:
    """A streamed `application/zip` attachment (documents download-zip)."""
    return Response(chunks, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
