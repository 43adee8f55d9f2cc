"""`POST /v1/embeddings` of bench/mock_llm.py: deterministic vectors, timing read from the model name, busy time.

    embed-d<dim>[-l<ms>-t<us>][-c<capacity>][-x<tag>]      e.g. embed-d1536-xa1b2, embed-d1536-l50-t25-c1-xrun2

- `d`: vector dimension. A text always gets the same vector: one of 256 cluster centres (picked by a hash of the
  text) plus gaussian noise seeded by the hash, quantised to 1/512 steps and written from a table of pre-formatted
  numbers, so a response costs the mock a few microseconds per vector (real embeddings are clustered too; all
  distinct vectors, so an HNSW index sees no degenerate duplicates).
- `l`/`t`: a latency model of a real provider: a request is answered `l` ms + `t` µs per input token after it is
  served (tokens estimated as characters / 4, at least 1 per text, as OpenAI's rule of thumb); without them the
  answer is immediate.
- `c`: at most `c` requests of that model are served at once (a single GPU server batches one request at a time:
  `c1`); later ones queue (their queueing is not service time). 0 / absent: unlimited.
- `x`: any tag, so names are unique per run (the app's embedding cache is keyed by model name).

`GET /_embed_stats` returns and resets: busy_s (time during which at least one embedding request was being served:
the model's busy time), served_s (sum of service times), requests, texts, tokens.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from functools import lru_cache

import numpy as np

_NAME = re.compile(r"^embed-d(\d+)(?:-l(\d+)-t(\d+))?(?:-c(\d+))?(?:-x[0-9A-Za-z_]+)?$")
_STEP = 512  # quantisation: value = q / 512
_Q = 8 * _STEP  # |q| < 8 * 512 (8 standard deviations of a unit-scale component)
_TABLE = np.array([f"{q / _STEP:.6g}" for q in range(-_Q, _Q + 1)], dtype=object)
_CENTRES = 256


class Stats:
    def __init__(self) -> None:
        self.active = 0
        self.busy_since = 0.0
        self.reset()

    def reset(self) -> dict[str, float]:
        snapshot = {"busy_s": getattr(self, "busy", 0.0), "served_s": getattr(self, "served", 0.0),
                    "requests": getattr(self, "requests", 0), "texts": getattr(self, "texts", 0),
                    "tokens": getattr(self, "tokens", 0)}
        self.busy, self.served, self.requests, self.texts, self.tokens = 0.0, 0.0, 0, 0, 0
        return snapshot

    def begin(self, now: float) -> None:
        if self.active == 0:
            self.busy_since = now
        self.active += 1

    def end(self, started: float, now: float, texts: int, tokens: int) -> None:
        self.active -= 1
        if self.active == 0:
            self.busy += now - self.busy_since
        self.served += now - started
        self.requests += 1
        self.texts += texts
        self.tokens += tokens


STATS = Stats()
_SEMAPHORES: dict[str, asyncio.Semaphore] = {}


@lru_cache(maxsize=64)
def timing(model: str) -> tuple[int, float, float, int] | None:
    """(dim, fixed s, s per token, capacity) of an `embed-…` model name, None for other names."""
    match = _NAME.match(model or "")
    if not match:
        return None
    return int(match[1]), int(match[2] or 0) / 1000.0, int(match[3] or 0) / 1e6, int(match[4] or 0)


@lru_cache(maxsize=8)
def _centres(dim: int) -> np.ndarray:
    rng = np.random.default_rng(dim)
    return rng.normal(size=(_CENTRES, dim)).astype(np.float32)


def vector_json(text: str, dim: int) -> str:
    seed = zlib.crc32(text.encode("utf-8", "replace"))
    rng = np.random.default_rng(seed)
    values = _centres(dim)[seed % _CENTRES] + rng.normal(scale=0.7, size=dim).astype(np.float32)
    q = np.clip(np.rint(values * _STEP), -_Q, _Q).astype(np.int64) + _Q
    return "[" + ",".join(_TABLE[q]) + "]"


def tokens_of(text: str) -> int:
    return max(1, len(text) // 4)


def stats_response() -> bytes:
    body = json.dumps(STATS.reset()).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


def _body(model: str, texts: list[str], dim: int, tokens: int) -> bytes:
    items = ",".join(f'{{"object":"embedding","index":{i},"embedding":{vector_json(text, dim)}}}'
                     for i, text in enumerate(texts))
    body = (f'{{"object":"list","data":[{items}],"model":{json.dumps(model)},'
            f'"usage":{{"prompt_tokens":{tokens},"total_tokens":{tokens}}}}}').encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


async def respond(loop: asyncio.AbstractEventLoop, body: dict, fallback_dim: int = 8) -> bytes:
    """The HTTP response to an embeddings request (after its modelled service time)."""
    model = str(body.get("model") or "")
    raw = body.get("input") or []
    texts = [raw] if isinstance(raw, str) else [str(t) for t in raw]
    dim, fixed, per_token, capacity = timing(model) or (int(body.get("dimensions") or fallback_dim), 0.0, 0.0, 0)
    tokens = sum(tokens_of(t) for t in texts)
    gate = None
    if capacity:
        gate = _SEMAPHORES.setdefault(model, asyncio.Semaphore(capacity))
        await gate.acquire()
    try:
        started = loop.time()
        STATS.begin(started)
        try:
            response = _body(model, texts, dim, tokens)
            delay = started + fixed + per_token * tokens - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            STATS.end(started, loop.time(), len(texts), tokens)
    finally:
        if gate is not None:
            gate.release()
    return response
