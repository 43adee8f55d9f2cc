"""transform(): clean + split over several extracted documents."""

from __future__ import annotations

from api.core.rag.entities import ProcessRule, SourceDocument
from api.core.rag.processor import transform


def test_positions_are_contiguous_across_documents_and_metadata_is_kept():
    docs = [SourceDocument("Page one A\n\nPage one B", {"page": 1}), SourceDocument("Page two", {"page": 2})]
    rule = ProcessRule.from_dict(
        {"mode": "custom", "rules": {"segmentation": {"separator": "\\n\\n", "max_tokens": 100}}}
    )
    chunks = transform(docs, rule)
    assert [(c.position, c.content, c.metadata) for c in chunks] == [
        (1, "Page one A", {"page": 1}),
        (2, "Page one B", {"page": 1}),
        (3, "Page two", {"page": 2}),
    ]
    chunks[0].metadata["x"] = 1
    assert docs[0].metadata == {"page": 1}


def test_cleaning_runs_before_splitting():
    docs = [SourceDocument("a   b\n\n\n\n\nc <|x|> mail me@example.com", {})]
    rule = ProcessRule.from_dict(
        {
            "mode": "custom",
            "rules": {
                "pre_processing_rules": [
                    {"id": "remove_extra_spaces", "enabled": True},
                    {"id": "remove_urls_emails", "enabled": True},
                ],
                "segmentation": {"separator": "\\n\\n", "max_tokens": 100},
            },
        }
    )
    assert [c.content for c in transform(docs, rule)] == ["a b", "c <x> mail"]


def test_full_doc_joins_documents_into_one_parent():
    docs = [SourceDocument("first page", {"page": 1}), SourceDocument("second page", {"page": 2})]
    rule = ProcessRule.from_dict({"mode": "hierarchical", "rules": {"parent_mode": "full-doc"}})
    [parent] = transform(docs, rule)
    assert parent.content == "first page\nsecond page"
    assert [c.content for c in parent.children] == ["first page", "second page"]
    assert parent.metadata == {"page": 1}


def test_empty_input():
    assert transform([], ProcessRule.automatic()) == []
    assert transform([SourceDocument("   ", {})], ProcessRule.automatic()) == []
