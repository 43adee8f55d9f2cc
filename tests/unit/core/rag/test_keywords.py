"""Keyword extraction: term frequency for English, jieba TF-IDF for Chinese."""

from __future__ import annotations

from api.core.rag.keywords import extract_keywords


def test_english_keywords_by_frequency_without_stopwords_or_numbers():
    text = (
        "Retrieval quality depends on the index. The index stores chunks, and chunks are retrieved "
        "by retrieval. In 2024 the retrieval index had 300 chunks. It's a test of the INDEX."
    )
    keywords = extract_keywords(text, 3)
    assert keywords == ["index", "retrieval", "chunks"]
    everything = extract_keywords(text, 50)
    assert not {"the", "and", "are", "by", "it", "in", "of", "2024", "300", "s"} & set(everything)
    assert all(len(k) >= 2 for k in everything)


def test_english_keywords_respect_limit_and_empty_input():
    assert len(extract_keywords(" ".join(f"word{i}" for i in range(40)))) == 10
    assert extract_keywords("", 5) == []
    assert extract_keywords("   ", 5) == []
    assert extract_keywords("the and of", 5) == []
    assert extract_keywords("anything here", 0) == []


def test_chinese_keywords_use_jieba():
    text = "知识库检索系统支持文档索引和关键词提取。知识库的检索质量取决于文档切分。知识库很重要。"
    keywords = extract_keywords(text, 5)
    assert 1 <= len(keywords) <= 5
    assert keywords[0] == "知识库"
    assert all(len(k) >= 2 for k in keywords)


def test_mixed_text_with_enough_chinese_goes_to_jieba():
    keywords = extract_keywords("Dify 知识库 检索 知识库 文档 文档 pipeline", 4)
    assert "知识库" in keywords


def test_english_text_with_a_stray_chinese_word_stays_english():
    text = "Vector search engines rank documents by similarity. Vector search is fast. 你好"
    assert extract_keywords(text, 2) == ["vector", "search"]
