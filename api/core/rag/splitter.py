"""Splitting cleaned text into chunks (contract §10), with token lengths (cl100k_base).

- custom: cut at EVERY occurrence of the separator (escapes `\\n`, `\\t`, `\\r`, `\\\\` decoded), drop empty
  pieces, keep each piece as its own chunk (no merging); a piece over `max_tokens` is split recursively (paragraph,
  line, sentence, word, then character boundaries) and its sub-pieces are merged up to `max_tokens` with
  `chunk_overlap` (LangChain's RecursiveCharacterTextSplitter semantics).
- automatic: the same recursive splitter over the whole text, merging small pieces up to 500 tokens, 50 overlap.
- hierarchical: parents by `segmentation` like custom (parent_mode "paragraph") or the whole text truncated to
  10 000 tokens (parent_mode "full-doc"); each parent's children by `subchunk_segmentation` like custom.

Cuts lose no character, so a merged chunk is an exact slice of the input (stripped of surrounding whitespace).
Every piece is tokenized once for the size decision and every final chunk once for its `tokens`; lengths are
cached through merging, so the cost is linear in the text size.
"""

from __future__ import annotations

import re
from collections import deque

from api.core.rag.entities import (
    AUTOMATIC_CHUNK_OVERLAP,
    AUTOMATIC_MAX_TOKENS,
    FULL_DOC_MAX_TOKENS,
    HIERARCHICAL_CHILD,
    Chunk,
    ProcessRule,
    Segmentation,
)
from api.core.rag.tokenizer import count_tokens, count_tokens_batch, get_encoding, truncate_tokens

# Recursive levels, coarsest first: (separator pattern, cut before the separator?); None means characters.
# Blanks go to the start of the next piece (" word", as BPE tokenizes them) so piece lengths add up to the
# length of the joined text; newlines and sentence ends stay with the piece they close.
_Level = tuple[re.Pattern[str], bool] | None
_LEVELS: tuple[_Level, ...] = (
    (re.compile(r"\n[ \t]*\n\s*"), False),  # paragraph
    (re.compile(r"\n\s*"), False),  # line
    (re.compile(r"[。！？]+[”’」』）)\"']*|[.!?]+[\"')\]”’]*(?=\s)"), False),  # sentence
    (re.compile(r"\s+"), True),  # word
    None,  # character
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
_ESCAPE = re.compile(r"\\([ntr\\])")
_PREFIX_CHARS_PER_TOKEN = 8  # probe this many characters per allowed token before tokenizing a long piece whole
_PREFIX_SLACK = 8  # tokens a cut prefix may gain at its cut, so "prefix over limit + slack" means "too long"
_CHAR_TOKENS: dict[str, int] = {}
_CHAR_CACHE_LIMIT = 100_000

Pair = tuple[str, int | None]  # (chunk text, token count if already known)


def decode_separator(separator: str) -> str:
    """Decode the escapes a rule may hold as two characters: `\\n`, `\\t`, `\\r` and `\\\\`."""
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(1)], separator)


def split(text: str, rule: ProcessRule) -> list[Chunk]:
    """Split `text` by `rule.mode`; positions are 1-based and contiguous, `tokens` filled (children too)."""
    if rule.mode == "hierarchical":
        return split_hierarchical(text, rule)
    seg = rule.segmentation
    if rule.mode == "custom":
        return split_custom(text, seg.separator, seg.max_tokens, seg.chunk_overlap)
    return split_automatic(text, seg.max_tokens, seg.chunk_overlap)


def split_custom(text: str, separator: str, max_tokens: int, overlap: int) -> list[Chunk]:
    """Cut `text` at every `separator`; over-long pieces are split recursively with `overlap`; no merging."""
    return _to_chunks(_custom_pairs(text, separator, max_tokens, overlap))


def split_automatic(
    text: str, max_tokens: int = AUTOMATIC_MAX_TOKENS, overlap: int = AUTOMATIC_CHUNK_OVERLAP
) -> list[Chunk]:
    """Recursive split over paragraph, line, sentence, word and character boundaries, merging up to `max_tokens`."""
    return _to_chunks(list[Pair](_recursive_pairs(text, max_tokens, overlap)))


def split_hierarchical(text: str, rule: ProcessRule) -> list[Chunk]:
    """Parent chunks (paragraph mode: like custom by `segmentation`; full-doc: the whole text, truncated to
    10 000 tokens), each with `children` split like custom by `subchunk_segmentation`."""
    if rule.parent_mode == "full-doc":
        whole = truncate_tokens(text, FULL_DOC_MAX_TOKENS).strip()
        parents: list[Pair] = [(whole, None)] if whole else []
    else:
        seg = rule.segmentation
        parents = _custom_pairs(text, seg.separator, seg.max_tokens, seg.chunk_overlap)
    child = rule.subchunk_segmentation or Segmentation(**HIERARCHICAL_CHILD)
    chunks = _to_chunks(parents)
    for parent in chunks:
        parent.children = split_custom(parent.content, child.separator, child.max_tokens, child.chunk_overlap)
    return chunks


def recursive_split(text: str, max_tokens: int, overlap: int) -> list[str]:
    """LangChain-style recursive split of `text` into stripped, non-empty pieces of at most `max_tokens` tokens,
    consecutive pieces sharing up to `overlap` tokens of whole sub-pieces."""
    return [piece for piece, _ in _recursive_pairs(text, max_tokens, overlap)]


def _recursive_pairs(text: str, max_tokens: int, overlap: int) -> list[tuple[str, int]]:
    """`_recursive` with exact token counts. Piece lengths only estimate a joined chunk's length, so a chunk found
    over the limit (rare, by a token or two) is split again with a budget lowered by the excess."""
    pieces = _recursive(text, _LEVELS, max_tokens, overlap)
    out: list[tuple[str, int]] = []
    for piece, tokens in zip(pieces, count_tokens_batch(pieces), strict=True):
        budget = max_tokens
        parts = [(piece, tokens)]
        while any(n > max_tokens for _, n in parts) and budget > 1:
            budget = max(1, budget - max(n for _, n in parts) + max_tokens)
            sub = _recursive(piece, _LEVELS, budget, min(overlap, budget // 2))
            parts = list(zip(sub, count_tokens_batch(sub), strict=True))
        out.extend(parts)
    return out


def _custom_pairs(text: str, separator: str, max_tokens: int, overlap: int) -> list[Pair]:
    sep = decode_separator(separator)
    pieces = [p.strip() for p in (text.split(sep) if sep else [text])]
    pieces = [p for p in pieces if p]
    pairs: list[Pair] = []
    for piece, tokens in zip(pieces, _lengths(pieces, max_tokens), strict=True):
        if tokens <= max_tokens:
            pairs.append((piece, tokens))
        else:
            pairs.extend(_recursive_pairs(piece, max_tokens, overlap))
    return pairs


def _to_chunks(pairs: list[Pair]) -> list[Chunk]:
    missing = [text for text, tokens in pairs if tokens is None]
    counted = iter(count_tokens_batch(missing))
    return [
        Chunk(content=text, position=i, tokens=tokens if tokens is not None else next(counted))
        for i, (text, tokens) in enumerate(pairs, start=1)
    ]


def _recursive(text: str, levels: tuple[_Level, ...], max_tokens: int, overlap: int) -> list[str]:
    level, rest = _pick_level(text, levels)
    if level is None:
        pieces = list(text)
        lengths = _char_tokens(pieces)
    else:
        pieces = _split_at(text, *level)
        lengths = _lengths(pieces, max_tokens)
    out: list[str] = []
    good: list[str] = []
    good_lengths: list[int] = []
    for piece, length in zip(pieces, lengths, strict=True):
        if length <= max_tokens or level is None:
            good.append(piece)
            good_lengths.append(length)
            continue
        if good:
            out.extend(_merge(good, good_lengths, max_tokens, overlap))
            good, good_lengths = [], []
        out.extend(_recursive(piece, rest, max_tokens, overlap))
    if good:
        out.extend(_merge(good, good_lengths, max_tokens, overlap))
    return out


def _pick_level(text: str, levels: tuple[_Level, ...]) -> tuple[_Level, tuple[_Level, ...]]:
    for i, level in enumerate(levels):
        if level is None or level[0].search(text):
            return level, levels[i + 1 :]
    return None, ()


def _split_at(text: str, pattern: re.Pattern[str], cut_before: bool) -> list[str]:
    """Cut `text` at each separator match (before or after it); no character is lost; blank pieces dropped."""
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        cut = match.start() if cut_before else match.end()
        if cut > start:
            pieces.append(text[start:cut])
            start = cut
    if start < len(text):
        pieces.append(text[start:])
    return [p for p in pieces if not p.isspace()]


def _merge(pieces: list[str], lengths: list[int], max_tokens: int, overlap: int) -> list[str]:
    """Greedily join consecutive pieces up to `max_tokens`; each new chunk starts with the trailing pieces of the
    previous one that fit in `overlap` tokens. The head piece is counted without its leading blanks, as the
    emitted (stripped) chunk will hold it."""
    out: list[str] = []
    window: deque[tuple[str, int]] = deque()
    total = 0  # sum of the window's piece lengths
    head = 0  # correction for the head piece being stripped
    for piece, length in zip(pieces, lengths, strict=True):
        if window and total + head + length > max_tokens:
            _emit(window, out)
            while window and (total + head > overlap or total + head + length > max_tokens):
                total -= window.popleft()[1]
                head = _head_correction(window[0]) if window else 0
        if not window:
            head = _head_correction((piece, length))
        window.append((piece, length))
        total += length
    if window:
        _emit(window, out)
    return out


def _lengths(pieces: list[str], max_tokens: int) -> list[int]:
    """Token counts of `pieces`, exact for every piece that fits in `max_tokens`. A long piece whose prefix alone
    is clearly over the limit gets the prefix's count instead (still > max_tokens), so text that will be split
    further is not tokenized twice."""
    encode = get_encoding().encode_ordinary
    limit = max_tokens * _PREFIX_CHARS_PER_TOKEN
    lengths = []
    for piece in pieces:
        if len(piece) > limit:
            prefix_tokens = len(encode(piece[:limit]))
            if prefix_tokens > max_tokens + _PREFIX_SLACK:
                lengths.append(prefix_tokens)
                continue
        lengths.append(len(encode(piece)))
    return lengths


def _head_correction(item: tuple[str, int]) -> int:
    piece, length = item
    return count_tokens(piece.lstrip()) - length if piece[:1].isspace() else 0


def _emit(window: deque[tuple[str, int]], out: list[str]) -> None:
    text = "".join(piece for piece, _ in window).strip()
    if text:
        out.append(text)


def _char_tokens(chars: list[str]) -> list[int]:
    cache = _CHAR_TOKENS
    lengths = []
    for char in chars:
        length = cache.get(char)
        if length is None:
            length = count_tokens(char)
            if len(cache) < _CHAR_CACHE_LIMIT:
                cache[char] = length
        lengths.append(length)
    return lengths
