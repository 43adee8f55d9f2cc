"""A scriptable fake model server on 127.0.0.1 speaking OpenAI, Azure OpenAI, Anthropic and Ollama over real HTTP.

Used by unit tests (as a fixture) and benchmarks: `server = start_llm_server()`, point a provider at
`server.url` (`server.url + "/v1"` for OpenAI-style endpoints), script replies per model name with
`server.script("gpt-4o", reply=..., failures=[500, 500])`, inspect `server.requests`, then `server.stop()`.

Routes: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/rerank, /v1/messages,
/openai/deployments/<d>/{chat/completions,completions,embeddings}, /api/chat, /api/generate, /api/embed;
GET /images/<name> (a tiny PNG, or `big` for one larger than any sane image cap).
HTTP/1.1 with keep-alive; streams use chunked encoding so a scripted mid-stream failure is a truncated body.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fakes import llm_wire as wire

PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@dataclass
class Script:
    """How the server answers one model (or every model, under "*").

    `failures` is a queue consumed one entry per request before answering: a status (429 → rate_limit_exceeded)
    or `(status, code)` such as `(429, "insufficient_quota")`. `fail_after_chunks=k` streams k text chunks and
    then drops the connection; `error_after_chunks=k` instead sends the provider's in-stream error frame for
    `stream_error_status` (Anthropic `event: error`, OpenAI `data: {"error":…}`, Ollama `{"error":…}`).
    `echo` answers with the last user message. `include_usage=False` omits usage. `embedding_delay_ms` holds
    every embeddings answer back (a slow embedding endpoint).
    """

    reply: str = "Hello from the fake model."
    chunks: list[str] | None = None
    n_chunks: int = 3
    first_token_delay_ms: int = 0
    inter_token_delay_ms: int = 0
    failures: list[int | tuple[int, str]] = field(default_factory=list)
    fail_after_chunks: int | None = None
    error_after_chunks: int | None = None
    stream_error_status: int = 529
    echo: bool = False
    api_key: str | None = None
    include_usage: bool = True
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    embedding_delay_ms: int = 0

    def pieces(self, text: str) -> list[str]:
        if self.chunks is not None and not self.echo:
            return list(self.chunks)
        if not text:
            return []
        size = max(1, -(-len(text) // max(1, self.n_chunks)))
        return [text[i:i + size] for i in range(0, len(text), size)]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    model: str | None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, closed pools, stop()) are normal here; report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeLLMServer:
    def __init__(self, *, api_key: str | None = None, embedding_dim: int = 8) -> None:
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, Script] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd = _QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.005},
                                        name="fake-llm-server", daemon=True)
        self._thread.start()

    def script(self, model: str = "*", **settings: Any) -> Script:
        """Replace the script of `model` ("*" = default for unscripted models); returns it for tweaking."""
        script = Script(**settings)
        with self._lock:
            self._scripts[model] = script
        return script

    def script_for(self, model: str | None) -> Script:
        with self._lock:
            return self._scripts.get(model or "") or self._scripts.get("*") or Script()

    def next_failure(self, script: Script) -> tuple[int, str | None] | None:
        with self._lock:
            if not script.failures:
                return None
            entry = script.failures.pop(0)
        return (entry, None) if isinstance(entry, int) else (entry[0], entry[1])

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def count(self, path: str | None = None, *, model: str | None = None) -> int:
        """Requests received (failed ones included), optionally only to `path` and/or for `model`."""
        with self._lock:
            return sum(1 for r in self.requests
                       if (path is None or r.path == path) and (model is None or r.model == model))

    def bodies(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if path is None or r.path == path]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._scripts.clear()

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def stop(self) -> None:
        """Stop accepting, wake sleeping handlers and cut open keep-alive connections."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue

    def __enter__(self) -> FakeLLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_llm_server(*, api_key: str | None = None, embedding_dim: int = 8) -> FakeLLMServer:
    """Start a fake server on a free 127.0.0.1 port (daemon threads); call `.stop()` when done."""
    return FakeLLMServer(api_key=api_key, embedding_dim=embedding_dim)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "FakeLLM/1.0"

    @property
    def fake(self) -> FakeLLMServer:
        return self.server.fake  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        self.fake.track(self.connection, True)

    def finish(self) -> None:
        self.fake.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            return

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ---- plumbing ------------------------------------------------------------------------------------------------

    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _sse(self, body: Any, event: str | None = None) -> None:
        prefix = f"event: {event}\n" if event else ""
        self._chunk(f"{prefix}data: {body if isinstance(body, str) else json.dumps(body)}\n\n".encode())

    def _stream_error(self, flavor: str, status: int) -> None:
        error = wire.error_body(flavor, status)
        if flavor == "anthropic":
            self._sse(error, "error")
        elif flavor == "ollama":
            self._chunk(json.dumps(error).encode() + b"\n")
        else:
            self._sse(error)
        self._end_stream()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Cut the connection mid-body: the client sees an incomplete chunked message."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _wait(self, ms: int) -> None:
        if ms > 0:
            self.fake.stopping.wait(ms / 1000)

    # ---- dispatch ------------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.fake.record(RecordedRequest("GET", path, "", {k.lower(): v for k, v in self.headers.items()}, None, None))
        if path == "/images/big":
            data = b"\0" * (11 * 1024 * 1024)
        elif path.startswith("/images/"):
            data = PNG_1PX
        else:
            self._send_json(404, {"error": "not found"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        route = wire.route(parts.path)
        model = route[1] if route and route[1] else (body.get("model") if isinstance(body, dict) else None)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.record(RecordedRequest("POST", parts.path, parts.query, headers, body, model))
        if route is None:
            self._send_json(404, {"error": {"message": f"no route {parts.path}", "type": "invalid_request_error"}})
            return
        kind, _deployment, flavor = route
        try:
            self._serve(kind, flavor, model or "", body, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _serve(self, kind: str, flavor: str, model: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        script = self.fake.script_for(model)
        denied = self._auth_error(flavor, script, headers)
        if denied is not None:
            self._send_json(*denied)
            return
        failure = self.fake.next_failure(script)
        if failure is not None:
            status, code = failure
            self._send_json(status, wire.error_body(flavor, status, code))
            return
        if kind == "embeddings":
            self._wait(script.embedding_delay_ms)
            self._embeddings(flavor, body)
        elif kind == "rerank":
            results = wire.rerank_results(str(body.get("query", "")), body.get("documents") or [], body.get("top_n"))
            self._send_json(200, {"id": "rerank-fake", "results": results,
                                  "usage": {"total_tokens": wire.word_tokens(str(body.get("query", "")))}})
        else:
            self._generate(kind, flavor, model, body, script)

    def _auth_error(self, flavor: str, script: Script, headers: dict[str, str]) -> tuple[int, Any] | None:
        required = script.api_key or self.fake.api_key
        if flavor == "anthropic" and "anthropic-version" not in headers:
            return 400, wire.error_body("anthropic", 400)
        if not required or flavor == "ollama":
            return None
        sent = {"azure": headers.get("api-key", ""), "anthropic": headers.get("x-api-key", "")}.get(
            flavor, headers.get("authorization", "").removeprefix("Bearer "))
        return None if sent == required else (401, wire.error_body(flavor, 401, sent_key=sent))

    def _embeddings(self, flavor: str, body: dict[str, Any]) -> None:
        inputs = body.get("input") or []
        inputs = [inputs] if isinstance(inputs, str) else inputs
        dim = int(body.get("dimensions") or self.fake.embedding_dim)
        vectors = [wire.fake_vector(str(text), dim) for text in inputs]
        tokens = sum(wire.word_tokens(str(text)) for text in inputs)
        if flavor == "ollama":
            self._send_json(200, {"model": body.get("model"), "embeddings": vectors, "prompt_eval_count": tokens})
            return
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        self._send_json(200, {"object": "list", "data": list(reversed(data)), "model": body.get("model"),
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _generate(self, kind: str, flavor: str, model: str, body: dict[str, Any], script: Script) -> None:
        prompt, last_user = wire.prompt_of(flavor, body)
        text = last_user if script.echo else ("".join(script.chunks) if script.chunks is not None else script.reply)
        pieces = script.pieces(text)
        counts = (script.prompt_tokens if script.prompt_tokens is not None else wire.word_tokens(prompt),
                  script.completion_tokens if script.completion_tokens is not None else wire.word_tokens(text))
        if not body.get("stream", flavor == "ollama"):
            self._wait(script.first_token_delay_ms)
            self._send_json(200, wire.full_body(kind, flavor, model, text, counts, script))
            return
        self._start_stream("application/x-ndjson" if flavor == "ollama" else "text/event-stream")
        generate = kind == "completion"
        head, tail = wire.anthropic_events(model, pieces, *counts, wire.anthropic_finish(script.finish_reason))
        if flavor == "anthropic":
            for event, payload in head:
                self._sse(payload, event)
        elif flavor != "ollama" and not generate:
            self._sse({**wire.openai_chunk(model, False, None), "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for number, piece in enumerate(pieces):
            if script.fail_after_chunks is not None and number >= script.fail_after_chunks:
                self._drop()
                return
            if script.error_after_chunks is not None and number >= script.error_after_chunks:
                self._stream_error(flavor, script.stream_error_status)
                return
            self._wait(script.first_token_delay_ms if number == 0 else script.inter_token_delay_ms)
            if flavor == "anthropic":
                self._sse(wire.anthropic_delta(piece), "content_block_delta")
            elif flavor == "ollama":
                self._chunk(json.dumps(wire.ollama_object(model, generate, piece, False)).encode() + b"\n")
            else:
                self._sse(wire.openai_chunk(model, generate, piece))
        if flavor == "anthropic":
            for event, payload in tail:
                self._sse(payload, event)
        elif flavor == "ollama":
            final = wire.ollama_object(model, generate, "", True, counts if script.include_usage else None,
                                       script.finish_reason)
            self._chunk(json.dumps(final).encode() + b"\n")
        else:
            self._sse(wire.openai_chunk(model, generate, None if not generate else "", script.finish_reason))
            if script.include_usage and (body.get("stream_options") or {}).get("include_usage"):
                self._sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": wire.CREATED,
                           "model": model, "choices": [], "usage": wire.openai_usage(*counts)})
            self._sse("[DONE]")
        self._end_stream()
