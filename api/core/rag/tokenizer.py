"""Offline token counting with OpenAI's cl100k_base BPE (tiktoken).

tiktoken normally downloads its BPE files on first use; here the encoding file ships inside the package
(`data/cl100k_base.tiktoken`, SHA-256 checked against tiktoken's published hash) and the `tiktoken.Encoding` is
built explicitly from it, so nothing is fetched at run time. The encoder is built once per process, lazily and
thread-safely. Special-token strings such as `<|endoftext|>` in user text are counted as ordinary text.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path

import tiktoken

ENCODING_NAME = "cl100k_base"
ENCODING_FILE = Path(__file__).with_name("data") / "cl100k_base.tiktoken"
ENCODING_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)
_SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def _load_ranks(path: Path) -> dict[bytes, int]:
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != ENCODING_SHA256:
        raise RuntimeError(f"The tokenizer file {path} is corrupt (SHA-256 mismatch).")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def get_encoding() -> tiktoken.Encoding:
    """The shared cl100k_base encoder, built from the bundled file on first call (never from the network)."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = tiktoken.Encoding(
                    name=ENCODING_NAME,
                    pat_str=_PATTERN,
                    mergeable_ranks=_load_ranks(ENCODING_FILE),
                    special_tokens=_SPECIAL_TOKENS,
                )
    return _encoding


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in `text` (0 for the empty string)."""
    if not text:
        return 0
    return len(get_encoding().encode_ordinary(text))


def count_tokens_batch(texts: Iterable[str]) -> list[int]:
    """Token counts of `texts`, in order. Faster than repeated `count_tokens` calls (one encoder lookup)."""
    encode = get_encoding().encode_ordinary
    return [len(encode(t)) if t else 0 for t in texts]


def truncate_tokens(text: str, max_tokens: int) -> str:
    """`text` cut to its first `max_tokens` tokens, never splitting a character."""
    if max_tokens <= 0:
        return ""
    encoding = get_encoding()
    tokens = encoding.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    return encoding.decode_bytes(tokens[:max_tokens]).decode("utf-8", errors="ignore")
