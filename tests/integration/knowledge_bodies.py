"""The knowledge routes' rows of the bad-input tables (see bad_input_support): for each JSON write route a
(status, valid payload, deep wrong values) triple, and the knowledge write routes that read no JSON body."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

Payload = Callable[[Any], dict[str, Any]]
Row = tuple[int, Payload, tuple[dict[str, Any], ...]]


def _fixed(data: dict[str, Any]) -> Payload:
    return lambda c: copy.deepcopy(data)


_RETRIEVAL_OK = {"search_method": "keyword_search", "reranking_enable": False, "top_k": 3,
                 "score_threshold_enabled": False}
RETRIEVAL_WRONG: tuple[dict[str, Any], ...] = tuple({"retrieval_model": w} for w in (
    {"search_method": "bogus"}, {"search_method": 1}, {**_RETRIEVAL_OK, "top_k": 0}, {**_RETRIEVAL_OK, "top_k": 11},
    {**_RETRIEVAL_OK, "top_k": "x"}, {**_RETRIEVAL_OK, "score_threshold": 2}, {**_RETRIEVAL_OK, "score_threshold": "x"},
    {**_RETRIEVAL_OK, "reranking_enable": "x"}, {**_RETRIEVAL_OK, "reranking_mode": "bogus"},
    {**_RETRIEVAL_OK, "reranking_enable": True, "reranking_mode": "reranking_model"},
    {**_RETRIEVAL_OK, "reranking_model": "x"}, {**_RETRIEVAL_OK, "weights": "x"},
    {**_RETRIEVAL_OK, "weights": {"vector_setting": {"vector_weight": 2}}},
    {**_RETRIEVAL_OK, "score_threshold_enabled": 1}))
RULE_WRONG: tuple[dict[str, Any], ...] = tuple({"process_rule": w} for w in (
    {"mode": "bogus"}, {"mode": 1}, {"mode": "custom"}, {"mode": "custom", "rules": "x"},
    {"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 10}}},
    {"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 5000}}},
    {"mode": "custom", "rules": {"segmentation": {"separator": 1, "max_tokens": 100}}},
    {"mode": "custom", "rules": {"segmentation": {"separator": "\n", "max_tokens": 100, "chunk_overlap": 100}}},
    {"mode": "custom", "rules": {"pre_processing_rules": [{"id": "bogus"}],
                                 "segmentation": {"separator": "\n", "max_tokens": 100}}},
    {"mode": "hierarchical", "rules": {"parent_mode": "bogus"}}))
DATA_SOURCE_WRONG: tuple[dict[str, Any], ...] = (
    {"data_source": {"info_list": "x"}}, {"data_source": {"info_list": {"data_source_type": "notion_import"}}},
    {"data_source": {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": "x"}}}},
    {"data_source": {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": [1]}}}},
    {"doc_form": "qa_model"}, {"doc_form": "hierarchical_model"})
_TEXT_DOC = {"name": "doc", "text": "Some text about foxes.", "process_rule": {"mode": "automatic"},
             "doc_form": "text_model", "doc_language": "English", "indexing_technique": "economy"}
_QUERY = _fixed({"query": "foxes"})


def _new_dataset(c: Any) -> dict[str, Any]:
    return {"name": f"kb-{uuid.uuid4().hex[:8]}", "description": "d", "indexing_technique": "economy",
            "permission": "only_me", "retrieval_model": _RETRIEVAL_OK}


def _knowledge_config(c: Any) -> dict[str, Any]:
    return {"data_source": {"info_list": {"data_source_type": "upload_file",
                                          "file_info_list": {"file_ids": [c.seed.upload_file_id]}}},
            "process_rule": {"mode": "automatic"}, "doc_form": "text_model", "doc_language": "English"}


def _seeded_document(c: Any) -> dict[str, Any]:
    return {"document_ids": [c.seed.document_id]}


_DATASET_PATCH = _fixed({"name": "X-dataset", "description": "changed", "retrieval_model": _RETRIEVAL_OK})
_DATASET = "/datasets/<uuid:dataset_id>"
_DOCUMENT = f"{_DATASET}/documents/<uuid:document_id>"
_CHILDREN = f"{_DOCUMENT}/segments/<uuid:segment_id>/child_chunks"  # walked on the seeded parent-child document
_CHILD = _fixed({"content": "A customized child chunk."})


def _child_batch(c: Any) -> dict[str, Any]:
    return {"chunks": [{"id": c.seed.child_chunk_id, "content": "Edited child."}, {"content": "New child."}]}


def _estimate(c: Any) -> dict[str, Any]:
    return {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": [c.seed.upload_file_id]}},
            "process_rule": {"mode": "automatic"}, "indexing_technique": "economy", "doc_form": "text_model",
            "doc_language": "English"}
# Service API rows, without the /v1 | /api prefix.
SERVICE_KNOWLEDGE: dict[str, Row] = {
    "POST /datasets": (200, _new_dataset, RETRIEVAL_WRONG),
    f"PATCH {_DATASET}": (200, _DATASET_PATCH, RETRIEVAL_WRONG),
    f"POST {_DATASET}/retrieve": (200, _QUERY, RETRIEVAL_WRONG),
    f"POST {_DATASET}/hit-testing": (200, _QUERY, RETRIEVAL_WRONG),
    **{f"POST {_DATASET}/document/create{sep}by{sep}text": (200, _fixed(_TEXT_DOC), RULE_WRONG + RETRIEVAL_WRONG)
       for sep in "-_"},
    **{f"POST {_DOCUMENT}/update{sep}by{sep}text": (200, _fixed({"name": "renamed", "text": "New text."}),
                                                    RULE_WRONG) for sep in "-_"},
    f"PATCH {_DATASET}/documents/status/<string:action>": (200, _seeded_document, ()),
    f"POST {_DOCUMENT}/segments": (200, _fixed({"segments": [{"content": "A new segment.", "keywords": ["new"]}]}),
                                   ()),
    f"POST {_DOCUMENT}/segments/<uuid:segment_id>": (
        200, _fixed({"segment": {"content": "Edited.", "keywords": ["edited"], "enabled": True}}), ()),
    f"POST {_CHILDREN}": (200, _CHILD, ()),
    f"PATCH {_CHILDREN}/<uuid:child_chunk_id>": (200, _CHILD, ()),
    f"POST {_DATASET}/documents/download-zip": (200, _seeded_document, ()),
    "POST /datasets/tags": (200, _fixed({"name": "New tag"}), ()),
    "PATCH /datasets/tags": (200, lambda c: {"name": "Renamed tag", "tag_id": c.seed.tag_id}, ()),
    "DELETE /datasets/tags": (204, lambda c: {"tag_id": c.seed.tag_id}, ()),
    "POST /datasets/tags/binding": (204, lambda c: {"tag_ids": [c.seed.tag_id], "target_id": c.seed.dataset_id}, ()),
    "POST /datasets/tags/unbinding": (204, lambda c: {"tag_id": c.seed.tag_id, "target_id": c.seed.dataset_id}, ()),
}
CONSOLE_KNOWLEDGE: dict[str, Row] = {
    "POST /console/api/datasets": (201, _new_dataset, RETRIEVAL_WRONG),
    f"PATCH /console/api{_DATASET}": (200, _DATASET_PATCH, RETRIEVAL_WRONG),
    f"POST /console/api{_DATASET}/hit-testing": (200, _QUERY, RETRIEVAL_WRONG),
    f"POST /console/api{_DATASET}/documents": (200, _knowledge_config, RULE_WRONG + DATA_SOURCE_WRONG),
    f"POST /console/api{_DATASET}/retry": (200, _seeded_document, ()),
    f"POST /console/api{_DOCUMENT}/segment": (200, _fixed({"content": "A new segment.", "keywords": ["new"]}), ()),
    f"PATCH /console/api{_DOCUMENT}/segments/<uuid:segment_id>": (
        200, _fixed({"content": "Edited.", "keywords": ["edited"], "regenerate_child_chunks": False}), ()),
    f"POST /console/api{_CHILDREN}": (200, _CHILD, ()),
    f"PATCH /console/api{_CHILDREN}": (200, _child_batch, ()),
    f"PATCH /console/api{_CHILDREN}/<uuid:child_chunk_id>": (200, _CHILD, ()),
    f"POST /console/api{_DOCUMENT}/rename": (200, _fixed({"name": "Renamed document"}), ()),
    f"POST /console/api{_DATASET}/documents/download-zip": (200, _seeded_document, ()),
    "POST /console/api/datasets/indexing-estimate": (200, _estimate, RULE_WRONG + (
        {"doc_form": "qa_model"}, {"doc_form": "hierarchical_model"},
        {"info_list": {"data_source_type": "upload_file", "file_info_list": {"file_ids": "x"}}},
        {"info_list": {"data_source_type": "notion_import"}})),
}
# Writes that read no JSON body: multipart uploads, and actions whose ids come in the query string.
KNOWLEDGE_BODYLESS = frozenset({
    *(f"POST {prefix}{_DATASET}/document/create{sep}by{sep}file" for prefix in ("/v1", "/api") for sep in "-_"),
    *(f"POST {prefix}{_DOCUMENT}/update{sep}by{sep}file" for prefix in ("/v1", "/api") for sep in "-_"),
    f"POST /console/api{_DATASET}/api-keys/<string:status>",
    f"PATCH /console/api{_DATASET}/documents/status/<string:action>/batch",
    f"PATCH /console/api{_DOCUMENT}/segment/<string:action>",
    f"PATCH /console/api{_DOCUMENT}/processing/pause",
    f"PATCH /console/api{_DOCUMENT}/processing/resume",
})
