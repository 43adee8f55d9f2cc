"""Knowledge pipeline core (framework-free): extract -> clean -> split, plus tokens and keywords.

Modules (import them directly; this package imports nothing eagerly, so using the splitter does not load the
PDF/Office parsers):
- `entities`: SourceDocument, Chunk, ProcessRule (Dify's process_rule shape, validated by `from_dict`).
- `errors`: ExtractionError, UnsupportedFileTypeError, RuleError.
- `extractors`: `extract(filename, data)`, `SUPPORTED_EXTENSIONS`.
- `cleaner`: `clean(text, rule)`.
- `splitter`: `split(text, rule)`, `split_custom`, `split_automatic`, `split_hierarchical`.
- `processor`: `transform(documents, rule)` = clean + split over many documents.
- `tokenizer`: `count_tokens`, `count_tokens_batch`, `truncate_tokens` (cl100k_base, bundled, offline).
- `keywords`: `extract_keywords(text, max_keywords)` (jieba TF-IDF for Chinese, term frequency otherwise).
"""
