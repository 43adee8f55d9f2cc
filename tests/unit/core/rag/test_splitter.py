"""Splitting per contract §10: custom (every separator, no merging), automatic (merging), hierarchical."""

from __future__ import annotations

import random
import re

import pytest

from api.core.rag.entities import ProcessRule, Segmentation
from api.core.rag.splitter import (
    decode_separator,
    recursive_split,
    split,
    split_automatic,
    split_custom,
    split_hierarchical,
)
from api.core.rag.tokenizer import count_tokens

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "omicron",
    "sigma",
    "omega",
]


def words(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def assert_well_formed(chunks, max_tokens):
    assert [c.position for c in chunks] == list(range(1, len(chunks) + 1))
    for chunk in chunks:
        assert chunk.content
        assert chunk.content == chunk.content.strip()
        assert chunk.tokens == count_tokens(chunk.content)
        assert chunk.tokens <= max_tokens


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- custom -----------------------------------------------------------------------------------------------------


def test_custom_cuts_at_every_separator_and_never_merges():
    chunks = split_custom("a\n\nb\n\nc", "\n\n", 500, 0)
    assert [c.content for c in chunks] == ["a", "b", "c"]
    assert [c.tokens for c in chunks] == [1, 1, 1]


def test_custom_honours_escaped_newline():
    chunks = split_custom("first line\nsecond line\nthird", "\\n", 100, 0)
    assert [c.content for c in chunks] == ["first line", "second line", "third"]
    assert [c.content for c in split_custom("x\ty", "\\t", 100, 0)] == ["x", "y"]
    assert decode_separator("\\n\\n") == "\n\n"
    assert decode_separator("\\\\n") == "\\n"
    assert decode_separator("。") == "。"


def test_custom_drops_empty_and_blank_pieces():
    chunks = split_custom("\n\na\n\n\n\n   \n\nb\n\n", "\n\n", 100, 0)
    assert [c.content for c in chunks] == ["a", "b"]
    assert split_custom("", "\n", 100, 0) == []
    assert split_custom("   \n  ", "\n", 100, 0) == []


def test_custom_other_separators_and_no_separator():
    assert [c.content for c in split_custom("一。二。三", "。", 100, 0)] == ["一", "二", "三"]
    assert [c.content for c in split_custom("p1***p2***p3", "***", 100, 0)] == ["p1", "p2", "p3"]
    assert [c.content for c in split_custom(" whole text ", "", 100, 0)] == ["whole text"]


def test_custom_long_piece_is_split_recursively_with_overlap():
    long_piece = words(600, seed=1)
    text = f"short intro\n\n{long_piece}\n\nshort outro"
    chunks = split_custom(text, "\\n\\n", 60, 15)
    assert_well_formed(chunks, 60)
    assert chunks[0].content == "short intro"
    assert chunks[-1].content == "short outro"
    middle = [c.content for c in chunks[1:-1]]
    assert len(middle) >= 10
    for previous, current in zip(middle, middle[1:], strict=False):
        shared = _shared_words(previous, current)
        assert shared >= 1
        assert count_tokens(" ".join(current.split()[:shared])) <= 15 + 1
    assert _dedupe_overlaps(middle) == long_piece.split()


def test_custom_long_piece_without_overlap_covers_text_exactly():
    long_piece = words(500, seed=2)
    chunks = split_custom(long_piece, "\\n", 50, 0)
    assert_well_formed(chunks, 50)
    assert " ".join(c.content for c in chunks) == long_piece


def test_custom_recursion_prefers_sentences_then_words():
    sentences = [f"Sentence {i} says {words(12, seed=i)}." for i in range(30)]
    text = " ".join(sentences)
    chunks = split_custom(text, "\\n\\n", 80, 0)
    assert_well_formed(chunks, 80)
    assert all(c.content.endswith(".") for c in chunks)  # cuts fell on sentence ends
    assert " ".join(c.content for c in chunks) == text


def test_character_fallback_for_text_without_boundaries():
    rng = random.Random(3)
    blob = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(4000))
    chunks = split_custom(blob, "\\n", 50, 0)
    assert_well_formed(chunks, 50)
    assert "".join(c.content for c in chunks) == blob


def test_chinese_text_splits_at_sentence_ends():
    text = "".join(f"第{i}句话讲的是知识库如何检索文档并返回答案。" for i in range(200))
    chunks = split_custom(text, "\\n\\n", 100, 0)
    assert_well_formed(chunks, 100)
    assert all(c.content.endswith("。") for c in chunks)
    assert "".join(c.content for c in chunks) == text


# --- automatic --------------------------------------------------------------------------------------------------


def test_automatic_merges_small_paragraphs_up_to_the_limit():
    paragraphs = [f"Paragraph {i}: {words(20, seed=i)}." for i in range(100)]
    text = "\n\n".join(paragraphs)
    chunks = split_automatic(text)
    assert_well_formed(chunks, 500)
    assert 1 < len(chunks) < len(paragraphs) / 5
    assert all(c.tokens > 300 for c in chunks[:-1])
    assert chunks[0].content.startswith("Paragraph 0:")
    assert squash("".join(_dedupe_paragraphs(chunks))) == squash(text)


def test_automatic_overlap_between_consecutive_chunks():
    text = words(3000, seed=4)
    chunks = split_automatic(text, 500, 50)
    assert_well_formed(chunks, 500)
    assert len(chunks) >= 6
    for previous, current in zip(chunks, chunks[1:], strict=False):
        shared = _shared_words(previous.content, current.content)
        assert shared >= 10
        assert count_tokens(" ".join(current.content.split()[:shared])) <= 51
    assert _dedupe_overlaps([c.content for c in chunks]) == text.split()


def test_automatic_short_text_is_one_chunk():
    [chunk] = split_automatic("  Just one short paragraph.\n\nAnd another.  ")
    assert chunk.content == "Just one short paragraph.\n\nAnd another."
    assert chunk.position == 1
    assert chunk.tokens == count_tokens(chunk.content)
    assert split_automatic("") == []


@pytest.mark.parametrize("seed", range(25))
def test_limits_hold_on_mixed_random_text(seed):
    rng = random.Random(seed)
    vocab = WORDS + ["Hello,", "world!", "知识", "库", "测试。", "3.14", "e.g.", "🙂", "https://x.io/a", "—"]
    separators = [" ", " ", "  ", "\n", "\n\n", ". ", "。", "\t", ""]
    text = "".join(rng.choice(vocab) + rng.choice(separators) for _ in range(rng.randint(50, 2500)))
    max_tokens = rng.randint(50, 400)
    overlap = rng.randint(0, max_tokens - 1)
    assert_well_formed(split_automatic(text, max_tokens, overlap), max_tokens)
    chunks = split_custom(text, rng.choice(["\\n", "\\n\\n", "。", "###"]), max_tokens, overlap)
    assert_well_formed(chunks, max_tokens)
    assert squash(text).startswith(squash(chunks[0].content))


def test_recursive_split_returns_strings():
    assert recursive_split("a b c", 50, 0) == ["a b c"]


# --- hierarchical and dispatch ----------------------------------------------------------------------------------


def hierarchical(parent_mode: str, **parent) -> ProcessRule:
    return ProcessRule(
        mode="hierarchical",
        parent_mode=parent_mode,
        segmentation=Segmentation(**{"separator": "\\n\\n", "max_tokens": 200, "chunk_overlap": 0, **parent}),
        subchunk_segmentation=Segmentation("\\n", 50, 0),
    )


def test_hierarchical_paragraph_parents_with_children():
    text = "Intro line one\nIntro line two\n\nBody line A\nBody line B\nBody line C\n\n" + words(400, seed=5)
    chunks = split_hierarchical(text, hierarchical("paragraph"))
    assert_well_formed(chunks, 200)
    assert chunks[0].content == "Intro line one\nIntro line two"
    assert [c.content for c in chunks[0].children] == ["Intro line one", "Intro line two"]
    assert [c.content for c in chunks[1].children] == ["Body line A", "Body line B", "Body line C"]
    assert len(chunks) >= 4  # the long third paragraph became several parents
    for parent in chunks:
        assert parent.children
        assert_well_formed(parent.children, 50)
        assert squash("".join(c.content for c in parent.children)) == squash(parent.content)


def test_hierarchical_full_doc_is_one_parent():
    text = "Line one\nLine two\n\nLine three"
    [parent] = split_hierarchical(text, hierarchical("full-doc"))
    assert parent.position == 1
    assert parent.content == text
    assert parent.tokens == count_tokens(text)
    assert [c.content for c in parent.children] == ["Line one", "Line two", "Line three"]
    assert [c.position for c in parent.children] == [1, 2, 3]


def test_hierarchical_full_doc_is_truncated_to_10000_tokens():
    text = "\n".join(words(30, seed=i) for i in range(500))
    assert count_tokens(text) > 10_000
    [parent] = split_hierarchical(text, hierarchical("full-doc"))
    assert parent.tokens <= 10_000
    assert text.startswith(parent.content)
    assert all(child.tokens <= 50 for child in parent.children)


def test_split_dispatches_on_mode():
    text = "one\n\ntwo\n\nthree"
    assert len(split(text, ProcessRule.automatic())) == 1
    custom = ProcessRule.from_dict(
        {"mode": "custom", "rules": {"segmentation": {"separator": "\\n\\n", "max_tokens": 100}}}
    )
    assert [c.content for c in split(text, custom)] == ["one", "two", "three"]
    parents = split(text, hierarchical("paragraph"))
    assert [len(p.children) for p in parents] == [1, 1, 1]


# --- helpers ----------------------------------------------------------------------------------------------------


def _shared_words(previous: str, current: str) -> int:
    """Length of the longest suffix of `previous` (in words) that `current` starts with."""
    a, b = previous.split(), current.split()
    for size in range(min(len(a), len(b)), 0, -1):
        if a[-size:] == b[:size]:
            return size
    return 0


def _dedupe_overlaps(chunks: list[str]) -> list[str]:
    out = chunks[0].split()
    for previous, current in zip(chunks, chunks[1:], strict=False):
        out.extend(current.split()[_shared_words(previous, current) :])
    return out


def _dedupe_paragraphs(chunks) -> list[str]:
    seen: list[str] = []
    for chunk in chunks:
        for paragraph in chunk.content.split("\n\n"):
            if paragraph not in seen:
                seen.append(paragraph)
    return seen
