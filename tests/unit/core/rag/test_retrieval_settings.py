"""Retrieval settings validation and score fusion (api.core.rag.retrieval)."""

from __future__ import annotations

import pytest

from api.core.rag.errors import RuleError
from api.core.rag.ports import Hit
from api.core.rag.retrieval import (
    RetrievalSettings,
    default_retrieval_model,
    fuse_weighted,
    keyword_scores,
    merge_best,
    normalise_retrieval_model,
)


def test_normalise_retrieval_model_fills_every_key():
    model = normalise_retrieval_model({"search_method": "full_text_search"})

    assert model == {**default_retrieval_model(), "search_method": "full_text_search"}


@pytest.mark.parametrize(("raw", "field"), [
    ("x", "retrieval_model"), ({"search_method": "magic"}, "retrieval_model.search_method"),
    ({"search_method": "semantic_search", "top_k": 0}, "retrieval_model.top_k"),
    ({"search_method": "semantic_search", "top_k": True}, "retrieval_model.top_k"),
    ({"search_method": "semantic_search", "score_threshold": -0.1}, "retrieval_model.score_threshold"),
    ({"search_method": "semantic_search", "reranking_mode": "x"}, "retrieval_model.reranking_mode"),
    ({"search_method": "semantic_search", "reranking_enable": True}, "retrieval_model.reranking_model"),
    ({"search_method": "hybrid_search", "weights": {"keyword_setting": {"keyword_weight": 3}}},
     "retrieval_model.weights.keyword_setting.keyword_weight"),
])
def test_normalise_retrieval_model_names_the_bad_field(raw, field):
    with pytest.raises(RuleError) as caught:
        normalise_retrieval_model(raw)

    assert caught.value.field == field


def test_weighted_reranking_needs_no_model():
    model = normalise_retrieval_model({"search_method": "hybrid_search", "reranking_enable": True,
                                       "reranking_mode": "weighted_score",
                                       "weights": {"vector_setting": {"vector_weight": 0.2}}})

    settings = RetrievalSettings.from_model(model)

    assert (settings.rerank_model, settings.vector_weight, settings.keyword_weight) == ("", 0.2, 0.8)


def test_settings_apply_the_threshold_only_when_enabled():
    off = RetrievalSettings.from_model({"search_method": "semantic_search", "score_threshold": 0.5})
    on = RetrievalSettings.from_model({"search_method": "semantic_search", "score_threshold": 0.5,
                                       "score_threshold_enabled": True})

    assert (off.score_threshold, on.score_threshold) == (None, 0.5)


def test_fuse_weighted_scales_full_text_scores_and_adds_weights():
    vector = [Hit("a", 0.9), Hit("b", 0.1)]
    text = [Hit("b", 4.0), Hit("c", 2.0)]

    fused = fuse_weighted(vector, text, vector_weight=0.5, keyword_weight=0.5)

    assert [(h.segment_id, h.score) for h in fused] == [("b", 0.55), ("a", 0.45), ("c", 0.25)]


def test_merge_best_keeps_each_segments_best_score():
    assert merge_best([[Hit("a", 0.2)], [Hit("a", 0.7), Hit("b", 0.5)]]) == [Hit("a", 0.7), Hit("b", 0.5)]


def test_keyword_scores_rank_by_share_of_query_keywords():
    hits = keyword_scores(["fox", "dog"], [("s1", "fox"), ("s2", "fox"), ("s2", "Dog"), ("s3", "cat")])

    assert hits == [Hit("s2", 1.0), Hit("s1", 0.5)]
