"""core.rag.estimate: counts and previews exactly what the pipeline's transform produces."""

from api.core.rag.entities import ProcessRule, SourceDocument
from api.core.rag.estimate import PREVIEW_LIMIT, estimate
from api.core.rag.processor import transform

PARAGRAPHS = ProcessRule.from_dict({"mode": "custom", "rules": {
    "segmentation": {"separator": "\\n\\n", "max_tokens": 100, "chunk_overlap": 0}}})
PARENT_CHILD = ProcessRule.from_dict({"mode": "hierarchical", "rules": {
    "parent_mode": "paragraph", "segmentation": {"separator": "\\n\\n", "max_tokens": 500},
    "subchunk_segmentation": {"separator": ". ", "max_tokens": 50}}})


def _text(n: int, word: str = "para") -> str:
    return "\n\n".join(f"{word} {i}" for i in range(1, n + 1))


def test_estimate_counts_every_source_and_previews_in_order():
    sources = [[SourceDocument(_text(3))], [SourceDocument(_text(2, "other"))]]

    result = estimate(sources, PARAGRAPHS)

    assert result.total_segments == 5
    assert [p["content"] for p in result.preview] == ["para 1", "para 2", "para 3", "other 1", "other 2"]
    assert all(p["child_chunks"] is None for p in result.preview)


def test_estimate_caps_the_preview_but_not_the_count():
    result = estimate([[SourceDocument(_text(25))]], PARAGRAPHS)

    assert result.total_segments == 25
    assert len(result.preview) == PREVIEW_LIMIT == 10


def test_estimate_equals_the_pipelines_transform():
    documents = [SourceDocument("A first page.\n\nWith   two paragraphs."), SourceDocument("Second page.")]

    result = estimate([documents], PARAGRAPHS, preview_limit=100)

    assert [p["content"] for p in result.preview] == [c.content for c in transform(documents, PARAGRAPHS)]


def test_estimate_previews_child_chunks_in_parent_child_mode():
    result = estimate([[SourceDocument("One. Two.\n\nThree.")]], PARENT_CHILD)

    assert result.to_dict() == {"total_segments": 2, "qa_preview": None, "preview": [
        {"content": "One. Two.", "child_chunks": ["One", "Two."]},
        {"content": "Three.", "child_chunks": ["Three."]}]}


def test_estimate_reads_sources_lazily_and_accepts_none():
    seen = []

    def sources():
        for n in (1, 2):
            seen.append(n)
            yield [SourceDocument(_text(n))]

    assert estimate(sources(), PARAGRAPHS).total_segments == 3
    assert seen == [1, 2]
    assert estimate([], PARAGRAPHS).to_dict() == {"total_segments": 0, "preview": [], "qa_preview": None}
