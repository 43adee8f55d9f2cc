"""A light OpenAI-compatible mock model for benchmarks: one asyncio process, fixed timing, many streams.

    .venv/bin/python bench/mock_llm.py --port 0 [--host 127.0.0.1]     # prints "READY <port>" when listening

Same wire format as tests/fakes/llm_server.py (`POST /v1/chat/completions`, `chat.completion.chunk` SSE frames
in chunked encoding: a role chunk, one chunk per token, a finish chunk, a usage chunk when
`stream_options.include_usage`, then `data: [DONE]`; blocking calls answer one `chat.completion` JSON body).
The timing is read from the model name, so no scripting round-trip is needed:

    mock-f<first_token_ms>-i<inter_token_ms>-n<tokens>      e.g. mock-f50-i20-n10, mock-f0-i0-n10

Token k (0-based) is written at start + first + k * inter (absolute deadlines: no drift under load); a blocking
call answers at start + first + (n - 1) * inter (n capped by `max_tokens`). Unknown names answer like
mock-f0-i0-n3. The tests' fake is a ThreadingHTTPServer (a thread per connection, one flush per frame), fine
for tests but heavy for hundreds of concurrent streams on a 2-core machine shared with the server under test;
this one is a single event loop with pre-built frames. `GET /_arrivals` returns (and forgets) the arrival times
of the generation requests (time.monotonic(), the clock of time.perf_counter() on Linux), so a benchmark can
split a request's overhead into "before the model was called" and "after its first token".
`POST /v1/embeddings` and `GET /_embed_stats`: see bench/mock_embeddings.py (vectors and a latency model read
from the model name, e.g. embed-d1536-l50-t25-c1).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import signal
import socket
import sys
import time
from functools import lru_cache
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import mock_embeddings

CREATED = 1_700_000_000
_NAME = re.compile(r"^mock-f(\d+)-i(\d+)-n(\d+)$")
PROMPT_TOKENS = 7


@lru_cache(maxsize=256)
def timing(model: str) -> tuple[float, float, int]:
    """(first token s, inter token s, tokens) of a model name."""
    match = _NAME.match(model or "")
    if not match:
        return 0.0, 0.0, 3
    return int(match[1]) / 1000.0, int(match[2]) / 1000.0, max(1, int(match[3]))


def token_text(k: int) -> str:
    return f"t{k} "


def _frame(payload: dict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    body = f"data: {data}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(body), body)


def _chunk(model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


@lru_cache(maxsize=256)
def stream_frames(model: str, include_usage: bool) -> tuple[bytes, tuple[bytes, ...], bytes]:
    """(head: status line + headers + role chunk, one frame per token, tail: finish [+ usage] + [DONE] + end)."""
    _first, _inter, n = timing(model)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n") + _frame(_chunk(model, {"role": "assistant", "content": ""}))
    tokens = tuple(_frame(_chunk(model, {"content": token_text(k)})) for k in range(n))
    tail = _frame(_chunk(model, {}, "stop"))
    if include_usage:
        tail += _frame({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED,
                        "model": model, "choices": [],
                        "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": n,
                                  "total_tokens": PROMPT_TOKENS + n}})
    tail += _frame("[DONE]") + b"0\r\n\r\n"
    return head, tokens, tail


@lru_cache(maxsize=256)
def blocking_response(model: str, n: int) -> bytes:
    text = "".join(token_text(k) for k in range(n))
    body = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": n,
                                 "total_tokens": PROMPT_TOKENS + n}}, separators=(",", ":")).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


def _error(status: int, message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    return (b"HTTP/1.1 %d Error\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (status, len(body))) + body


ARRIVALS: collections.deque[float] = collections.deque(maxlen=100_000)


def _arrivals_response() -> bytes:
    """`GET /_arrivals`: the CLOCK_MONOTONIC arrival times (s) of the generation requests since the last call."""
    times = list(ARRIVALS)
    ARRIVALS.clear()
    body = json.dumps(times).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


async def _sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    delay = deadline - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            start = loop.time()
            lines = head.decode("latin-1").split("\r\n")
            method, path = (lines[0].split(" ") + ["", ""])[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip() or 0)
            raw = await reader.readexactly(length) if length else b""
            if method == "GET" and path.startswith("/_embed_stats"):
                writer.write(mock_embeddings.stats_response())
                await writer.drain()
                continue
            if method == "POST" and path.startswith("/v1/embeddings"):
                try:
                    writer.write(await mock_embeddings.respond(loop, json.loads(raw) if raw else {}))
                except ValueError:
                    writer.write(_error(400, "invalid JSON"))
                await writer.drain()
                continue
            if method == "GET" and path.startswith("/_arrivals"):
                writer.write(_arrivals_response())
                await writer.drain()
                continue
            if method != "POST" or not path.startswith("/v1/chat/completions"):
                writer.write(_error(404, f"no route {method} {path}"))
                await writer.drain()
                continue
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                writer.write(_error(400, "invalid JSON"))
                await writer.drain()
                continue
            model = str(body.get("model") or "")
            first, inter, n = timing(model)
            if body.get("max_tokens") != 1:  # not a credential check
                ARRIVALS.append(start)
            if not body.get("stream"):
                if isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0:
                    n = min(n, body["max_tokens"])  # e.g. the 1-token credential check
                await _sleep_until(loop, start + first + (n - 1) * inter)
                writer.write(blocking_response(model, n))
                await writer.drain()
                continue
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            head_bytes, tokens, tail = stream_frames(model, include_usage)
            writer.write(head_bytes)
            for k, frame in enumerate(tokens):
                await _sleep_until(loop, start + first + k * inter)
                writer.write(frame)
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
            writer.write(tail)
            await writer.drain()
    except (ConnectionError, OSError):
        return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main_async(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=4096, limit=1 << 20)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    started = time.monotonic()
    asyncio.run(main_async(args.host, args.port))
    print(f"mock stopped after {time.monotonic() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
