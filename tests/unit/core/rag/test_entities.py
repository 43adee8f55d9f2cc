"""ProcessRule parsing and validation (Dify's process_rule shape)."""

from __future__ import annotations

import pytest

from api.core.rag.entities import Chunk, ProcessRule, Segmentation, SourceDocument
from api.core.rag.errors import RuleError


def custom(**segmentation) -> dict:
    return {
        "mode": "custom",
        "rules": {
            "pre_processing_rules": [
                {"id": "remove_extra_spaces", "enabled": True},
                {"id": "remove_urls_emails", "enabled": False},
            ],
            "segmentation": {"separator": "\\n", "max_tokens": 300, "chunk_overlap": 30, **segmentation},
        },
    }


def test_automatic_defaults_match_dify():
    rule = ProcessRule.automatic()
    assert rule.mode == "automatic"
    assert rule.is_enabled("remove_extra_spaces")
    assert not rule.is_enabled("remove_urls_emails")
    assert rule.segmentation == Segmentation(separator="\n", max_tokens=500, chunk_overlap=50)
    assert ProcessRule.from_dict({"mode": "automatic", "rules": {"segmentation": {"max_tokens": 1}}}) == rule
    assert ProcessRule.from_dict({}) == rule


def test_custom_rule_parsed_with_and_without_rules_wrapper():
    rule = ProcessRule.from_dict(custom())
    assert rule.mode == "custom"
    assert rule.segmentation == Segmentation("\\n", 300, 30)
    assert rule.is_enabled("remove_extra_spaces")
    assert not rule.is_enabled("remove_urls_emails")
    flat = {"mode": "custom", **custom()["rules"]}
    assert ProcessRule.from_dict(flat) == rule
    assert ProcessRule.from_dict(rule.to_dict()) == rule


def test_chunk_overlap_defaults_to_zero_and_delimiter_alias():
    rule = ProcessRule.from_dict({"mode": "custom", "rules": {"segmentation": {"delimiter": "###", "max_tokens": 50}}})
    assert rule.segmentation == Segmentation("###", 50, 0)
    assert rule.pre_processing_rules == ()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"mode": "semantic"}, "mode"),
        ("custom", "process_rule"),
        ({"mode": "custom", "rules": {}}, "segmentation"),
        ({"mode": "custom", "rules": []}, "rules"),
        (custom(max_tokens=49), "segmentation.max_tokens"),
        (custom(max_tokens=4001), "segmentation.max_tokens"),
        (custom(max_tokens=True), "segmentation.max_tokens"),
        (custom(max_tokens="many"), "segmentation.max_tokens"),
        (custom(chunk_overlap=300), "segmentation.chunk_overlap"),
        (custom(chunk_overlap=-1), "segmentation.chunk_overlap"),
        (custom(separator=5), "segmentation.separator"),
        ({"mode": "custom", "rules": {"segmentation": {"max_tokens": 100}}}, "segmentation.separator"),
        ({"mode": "custom", "rules": {"segmentation": {"separator": "x"}}}, "segmentation.max_tokens"),
        (
            {
                "mode": "custom",
                "rules": {
                    "pre_processing_rules": [{"id": "shout", "enabled": True}],
                    "segmentation": {"separator": "x", "max_tokens": 100},
                },
            },
            "pre_processing_rules",
        ),
        (
            {
                "mode": "custom",
                "rules": {
                    "pre_processing_rules": {"id": "remove_urls_emails"},
                    "segmentation": {"separator": "x", "max_tokens": 100},
                },
            },
            "pre_processing_rules",
        ),
        ({"mode": "hierarchical", "rules": {"parent_mode": "chapter"}}, "parent_mode"),
        (
            {"mode": "hierarchical", "rules": {"subchunk_segmentation": {"max_tokens": 10}}},
            "subchunk_segmentation.max_tokens",
        ),
    ],
)
def test_invalid_rules_name_the_field(payload, field):
    with pytest.raises(RuleError) as info:
        ProcessRule.from_dict(payload)
    assert info.value.field == field
    assert info.value.code == "invalid_param"
    assert info.value.message


def test_boundaries_accepted():
    assert ProcessRule.from_dict(custom(max_tokens=50, chunk_overlap=49)).segmentation.max_tokens == 50
    assert ProcessRule.from_dict(custom(max_tokens="4000", chunk_overlap=0)).segmentation.max_tokens == 4000


def test_hierarchical_rule_with_defaults():
    rule = ProcessRule.from_dict({"mode": "hierarchical", "rules": {"parent_mode": "full-doc"}})
    assert rule.parent_mode == "full-doc"
    assert rule.segmentation.separator == "\n\n"
    assert rule.subchunk_segmentation == Segmentation("\n", 512, 0)
    rule = ProcessRule.from_dict(
        {
            "mode": "hierarchical",
            "rules": {
                "segmentation": {"separator": "\\n\\n", "max_tokens": 800},
                "subchunk_segmentation": {"separator": "\\n", "max_tokens": 100, "chunk_overlap": 10},
            },
        }
    )
    assert rule.parent_mode == "paragraph"
    assert rule.subchunk_segmentation == Segmentation("\\n", 100, 10)
    assert rule.to_dict()["rules"]["parent_mode"] == "paragraph"
    assert ProcessRule.from_dict(rule.to_dict()) == rule


def test_value_objects_have_independent_defaults():
    a, b = Chunk("x", 1, 1), Chunk("y", 2, 1)
    a.children.append(b)
    a.metadata["k"] = 1
    assert b.children == []
    assert b.metadata == {}
    assert SourceDocument("t").metadata == {}
