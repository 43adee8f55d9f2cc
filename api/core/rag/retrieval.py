"""Retrieval settings (Dify's `retrieval_model` payload) and score fusion, framework-free.

`normalise_retrieval_model` validates a client's `retrieval_model` and returns it with every key present;
`RetrievalSettings.from_model` turns a stored one into typed settings. `fuse_weighted` combines vector and
full-text hits for hybrid search (Dify's weighted-score mode); `keyword_scores` ranks segments of an economy
dataset by the share of the query's keywords they contain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from api.core.rag.errors import RuleError
from api.core.rag.ports import Hit

SEARCH_METHODS = ("semantic_search", "full_text_search", "hybrid_search", "keyword_search")
RERANKING_MODES = ("reranking_model", "weighted_score")
WEIGHT_TYPES = ("semantic_first", "keyword_first", "customized")
DEFAULT_TOP_K = 4
MAX_TOP_K = 10
DEFAULT_VECTOR_WEIGHT = 0.7


def default_retrieval_model() -> dict[str, Any]:
    """Dify's default when a dataset has none (reference §4.11)."""
    return {"search_method": "semantic_search", "reranking_enable": False, "reranking_mode": None,
            "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""}, "weights": None,
            "top_k": DEFAULT_TOP_K, "score_threshold_enabled": False, "score_threshold": None}


def _bool(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RuleError(f"{key} must be a boolean.", field=f"retrieval_model.{key}")
    return value


def _number(value: Any, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(f"{field} must be a number.", field=field)
    if not low <= value <= high:
        raise RuleError(f"{field} must be between {low:g} and {high:g}.", field=field)
    return float(value)


def _name(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 255:
        raise RuleError(f"{field} must be a string of at most 255 characters.", field=field)
    return value


def _reranking_model(raw: Any) -> dict[str, str]:
    if raw is None:
        return {"reranking_provider_name": "", "reranking_model_name": ""}
    if not isinstance(raw, dict):
        raise RuleError("reranking_model must be an object.", field="retrieval_model.reranking_model")
    return {key: _name(raw.get(key), f"retrieval_model.reranking_model.{key}")
            for key in ("reranking_provider_name", "reranking_model_name")}


def _weights(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RuleError("weights must be an object.", field="retrieval_model.weights")
    weight_type = raw.get("weight_type") or "customized"
    if weight_type not in WEIGHT_TYPES:
        raise RuleError(f"weight_type must be one of {', '.join(WEIGHT_TYPES)}.",
                        field="retrieval_model.weights.weight_type")
    vector, keyword = raw.get("vector_setting") or {}, raw.get("keyword_setting") or {}
    if not isinstance(vector, dict) or not isinstance(keyword, dict):
        raise RuleError("vector_setting and keyword_setting must be objects.", field="retrieval_model.weights")
    vector_weight = _number(vector.get("vector_weight", DEFAULT_VECTOR_WEIGHT),
                            "retrieval_model.weights.vector_setting.vector_weight", 0, 1)
    keyword_weight = _number(keyword.get("keyword_weight", round(1 - vector_weight, 6)),
                             "retrieval_model.weights.keyword_setting.keyword_weight", 0, 1)
    return {"weight_type": weight_type,
            "vector_setting": {"vector_weight": vector_weight,
                               "embedding_provider_name": _name(vector.get("embedding_provider_name"),
                                                                "retrieval_model.weights.vector_setting"),
                               "embedding_model_name": _name(vector.get("embedding_model_name"),
                                                             "retrieval_model.weights.vector_setting")},
            "keyword_setting": {"keyword_weight": keyword_weight}}


def normalise_retrieval_model(raw: Any) -> dict[str, Any]:
    """Validate a Dify `retrieval_model`; return it with every key present.

    Raises RuleError (field = dotted path) for an unknown search_method or reranking_mode, top_k outside
    1..10, score_threshold outside 0..1, malformed reranking_model/weights, or reranking enabled in
    reranking_model mode without a model.
    """
    if not isinstance(raw, dict):
        raise RuleError("retrieval_model must be an object.", field="retrieval_model")
    method = raw.get("search_method")
    if method not in SEARCH_METHODS:
        raise RuleError(f"search_method must be one of {', '.join(SEARCH_METHODS)}.",
                        field="retrieval_model.search_method")
    top_k = raw.get("top_k", DEFAULT_TOP_K)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise RuleError(f"top_k must be an integer between 1 and {MAX_TOP_K}.", field="retrieval_model.top_k")
    threshold = raw.get("score_threshold")
    if threshold is not None:
        threshold = _number(threshold, "retrieval_model.score_threshold", 0, 1)
    mode = raw.get("reranking_mode")
    if mode is not None and mode not in RERANKING_MODES:
        raise RuleError(f"reranking_mode must be one of {', '.join(RERANKING_MODES)}.",
                        field="retrieval_model.reranking_mode")
    result = {
        "search_method": method, "reranking_enable": _bool(raw, "reranking_enable", False), "reranking_mode": mode,
        "reranking_model": _reranking_model(raw.get("reranking_model")), "weights": _weights(raw.get("weights")),
        "top_k": top_k, "score_threshold_enabled": _bool(raw, "score_threshold_enabled", False),
        "score_threshold": threshold,
    }
    rerank = result["reranking_model"]
    if (result["reranking_enable"] and mode != "weighted_score"
            and not (rerank["reranking_provider_name"] and rerank["reranking_model_name"])):
        raise RuleError("reranking_model is required when reranking is enabled.",
                        field="retrieval_model.reranking_model")
    return result


@dataclass(frozen=True)
class RetrievalSettings:
    """Typed view of a normalised retrieval model."""

    search_method: str = "semantic_search"
    top_k: int = DEFAULT_TOP_K
    score_threshold: float | None = None  # None: no threshold
    rerank_provider: str = ""
    rerank_model: str = ""  # non-empty: rerank the candidates with this model
    vector_weight: float = DEFAULT_VECTOR_WEIGHT
    keyword_weight: float = 1 - DEFAULT_VECTOR_WEIGHT

    @classmethod
    def from_model(cls, model: dict[str, Any] | None) -> RetrievalSettings:
        """Settings of a stored (already normalised) retrieval model; None → Dify's default."""
        model = model or default_retrieval_model()
        threshold = model.get("score_threshold") if model.get("score_threshold_enabled") else None
        rerank = model.get("reranking_model") or {}
        use_model = bool(model.get("reranking_enable")) and model.get("reranking_mode") != "weighted_score"
        weights = model.get("weights") or {}
        vector_weight = float((weights.get("vector_setting") or {}).get("vector_weight", DEFAULT_VECTOR_WEIGHT))
        keyword_weight = float((weights.get("keyword_setting") or {}).get("keyword_weight", 1 - vector_weight))
        return cls(search_method=model.get("search_method") or "semantic_search",
                   top_k=int(model.get("top_k") or DEFAULT_TOP_K),
                   score_threshold=float(threshold) if threshold is not None else None,
                   rerank_provider=rerank.get("reranking_provider_name", "") if use_model else "",
                   rerank_model=rerank.get("reranking_model_name", "") if use_model else "",
                   vector_weight=vector_weight, keyword_weight=keyword_weight)


def fuse_weighted(vector_hits: Sequence[Hit], text_hits: Sequence[Hit], *, vector_weight: float,
                  keyword_weight: float) -> list[Hit]:
    """Hybrid score per segment: vector_weight × similarity + keyword_weight × (full-text score scaled to the
    best full-text hit). Best first; ties keep the vector order."""
    vectors, texts = merge_best([vector_hits]), merge_best([text_hits])
    best_text = max((h.score for h in texts), default=0.0) or 1.0
    scores = {h.segment_id: vector_weight * h.score for h in vectors}
    for hit in texts:
        scores[hit.segment_id] = scores.get(hit.segment_id, 0.0) + keyword_weight * (hit.score / best_text)
    return sorted((Hit(segment_id=s, score=round(v, 6)) for s, v in scores.items()), key=lambda h: -h.score)


def merge_best(hit_lists: Iterable[Sequence[Hit]]) -> list[Hit]:
    """Union of hit lists keeping each segment's best score; best first."""
    best: dict[str, float] = {}
    for hits in hit_lists:
        for hit in hits:
            best[hit.segment_id] = max(best.get(hit.segment_id, float("-inf")), hit.score)
    return sorted((Hit(segment_id=s, score=v) for s, v in best.items()), key=lambda h: -h.score)


def keyword_scores(query_keywords: Sequence[str], matches: Iterable[tuple[str, str]]) -> list[Hit]:
    """Rank segments by the share of the query's keywords they contain; `matches` are (segment_id, keyword)."""
    wanted = {k.lower() for k in query_keywords}
    if not wanted:
        return []
    found: dict[str, set[str]] = {}
    for segment_id, keyword in matches:
        if keyword.lower() in wanted:
            found.setdefault(segment_id, set()).add(keyword.lower())
    return sorted((Hit(segment_id=s, score=round(len(k) / len(wanted), 6)) for s, k in found.items()),
                  key=lambda h: -h.score)
