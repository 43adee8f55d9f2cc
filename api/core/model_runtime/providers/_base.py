"""Shared HTTP plumbing of the providers: requests with error mapping, SSE/NDJSON reading, the generic LLM loop.

Boundaries: httpx only (no SDKs); every transport failure and error status leaves this module as an InvokeError
whose message is prefixed `[provider] Error:` and has the caller's secrets redacted. Provider modules supply the
wire format (request body, delta parsing); `LLMBase.invoke` owns timing, first-token deadline, accumulation and
the final priced usage chunk.
"""

from __future__ import annotations

import base64
import json
import math
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from api.core.model_runtime.entities import ImageInput, LLMChunk, PromptMessage, Timeouts
from api.core.model_runtime.errors import (
    InvokeBadRequestError,
    InvokeConnectionError,
    InvokeError,
    InvokeServerUnavailableError,
    error_for_status,
)
from api.core.model_runtime.pricing import price_usage

MAX_IMAGE_BYTES = 10 * 1024 * 1024


def http_timeout(timeouts: Timeouts) -> httpx.Timeout:
    return httpx.Timeout(connect=timeouts.connect, read=timeouts.read, write=timeouts.read, pool=timeouts.connect)


def estimate_tokens(text: str) -> int:
    """Rough token count (characters / 4, rounded up), used ONLY when a provider omits its own usage counts."""
    return math.ceil(len(text) / 4) if text else 0


def pick_params(params: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """Completion params the provider understands; unknown names and None values are dropped."""
    return {key: value for key, value in params.items() if key in allowed and value is not None}


def flatten_prompt(messages: list[PromptMessage]) -> str:
    """The single prompt of completion mode: every message's text, in order, separated by blank lines."""
    return "\n\n".join(message.content for message in messages if message.content)


def parse_data_uri(uri: str) -> tuple[str, bytes]:
    """`data:image/png;base64,AAAA` → ("image/png", raw bytes). Raises InvokeBadRequestError when malformed."""
    try:
        header, payload = uri[len("data:"):].split(",", 1)
        media_type = header.split(";")[0] or "text/plain"
        if header.endswith(";base64"):
            return media_type, base64.b64decode(payload, validate=True)
        return media_type, urllib.parse.unquote_to_bytes(payload)
    except ValueError:
        raise InvokeBadRequestError("Invalid data: URI for an image.")


@dataclass
class Delta:
    """A provider-neutral piece of a response parsed from the wire."""

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    done: bool = False


@dataclass(frozen=True)
class Prepared:
    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class HttpModel:
    """One model of one provider, bound to credentials; talks through the provider's shared httpx.Client."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        endpoint: str,
        client: httpx.Client,
        timeouts: Timeouts,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._provider, self._model, self._endpoint = provider, model, endpoint
        self._client, self._timeouts = client, timeouts
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model(self) -> str:
        return self._model

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _fail(self, cls: type[InvokeError], detail: str, status: int | None = None) -> InvokeError:
        return cls(f"[{self._provider}] Error: {self._redact(detail)}", status_code=status)

    @contextmanager
    def _request(self, method: str, url: str, *, body: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, follow_redirects: bool = False) -> Iterator[httpx.Response]:
        """Open a streamed response; error statuses and transport failures (also while the caller reads the body
        inside the `with`) become InvokeErrors."""
        try:
            with self._client.stream(method, url, json=body, headers=headers, follow_redirects=follow_redirects,
                                     timeout=http_timeout(self._timeouts)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error_from_response(response)
                yield response
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise self._fail(InvokeBadRequestError, f"invalid endpoint URL {url!r}: {exc}")
        except httpx.ConnectTimeout:
            raise self._fail(InvokeConnectionError, f"connection timed out after {self._timeouts.connect}s")
        except httpx.ReadTimeout:
            raise self._fail(InvokeConnectionError, f"read timed out after {self._timeouts.read}s")
        except httpx.TimeoutException as exc:
            raise self._fail(InvokeConnectionError, f"request timed out: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            raise self._fail(InvokeConnectionError, f"connection failed: {type(exc).__name__}: {exc}")

    def _error_from_response(self, response: httpx.Response) -> InvokeError:
        message, code, error_type = _error_details(response.text)
        return error_for_status(self._provider, response.status_code, self._redact(message),
                                code=code, error_type=error_type)

    def _error_from_body(self, payload: Any, status: int = 500) -> InvokeError:
        """An error object received with a 200 (inside a stream)."""
        message, code, error_type = _error_details(json.dumps(payload))
        return error_for_status(self._provider, status, self._redact(message), code=code, error_type=error_type)

    def _json(self, text: str | bytes) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            if isinstance(text, bytes):  # not UTF-8: decode leniently, as a text reader would have
                try:
                    return json.loads(text.decode("utf-8", "replace"))
                except ValueError:
                    pass
            raise self._fail(InvokeServerUnavailableError, f"invalid JSON from the provider: {text[:200]!r}")

    def _post_json(self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        with self._request("POST", url, body=body, headers=headers) as response:
            return self._json(response.read())

    def _image_bytes(self, image: ImageInput) -> tuple[str, bytes]:
        """(media type, bytes) of an image: data: URIs decoded, http(s) URLs fetched, capped at MAX_IMAGE_BYTES."""
        if image.url.startswith("data:"):
            return parse_data_uri(image.url)
        if not image.url.startswith(("http://", "https://")):
            raise self._fail(InvokeBadRequestError, "images must be http(s) URLs or data: URIs")
        chunks, size = [], 0
        try:
            with self._request("GET", image.url, follow_redirects=True) as response:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_IMAGE_BYTES:
                        break
                    chunks.append(chunk)
                media_type = response.headers.get("content-type", "image/png").split(";")[0]
        except InvokeError as exc:  # the image host failed, not the model provider: not retryable, no breaker hit
            raise self._fail(InvokeBadRequestError, f"could not fetch image {image.url[:200]}: {exc.message}")
        if size > MAX_IMAGE_BYTES:
            raise self._fail(InvokeBadRequestError, f"image larger than {MAX_IMAGE_BYTES} bytes")
        return media_type, b"".join(chunks)


def _error_details(text: str) -> tuple[str, str | None, str | None]:
    """(message, code, type) from OpenAI `{"error":{…}}`, Anthropic `{"type":"error","error":{…}}`,
    Ollama `{"error":"…"}` or a plain-text body."""
    try:
        payload = json.loads(text)
    except ValueError:
        return text.strip()[:500], None, None
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return text.strip()[:500], None, None
    message = error.get("message") or payload.get("message") or text.strip()[:500]
    code, error_type = error.get("code"), error.get("type")
    return str(message), str(code) if code is not None else None, str(error_type) if error_type else None


def iter_sse(response: httpx.Response) -> Iterator[tuple[str, bytes]]:
    """(event, data) per `data:` line of a text/event-stream, read line by line (data as raw bytes: the JSON
    parser takes UTF-8 bytes, so no text decoding happens per chunk).

    Each data line is its own event: LLM providers never split a JSON payload over several lines, and some
    OpenAI-compatible servers omit the blank separator line. Comments (`:`) and other fields are skipped.
    """
    event = ""
    for line in iter_byte_lines(response.iter_bytes()):
        if not line:
            event = ""
            continue
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            yield event or "message", value
        elif name == b"event":
            event = value.strip().decode("utf-8", "replace")


def iter_ndjson_lines(response: httpx.Response) -> Iterator[bytes]:
    for line in iter_byte_lines(response.iter_bytes()):
        if line.strip():
            yield line


def iter_byte_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines (without their terminator: LF, CRLF or a lone CR) of a byte stream, each yielded as soon as its
    terminator arrives; a CRLF split across two chunks counts once."""
    pending, skip_lf = b"", False
    for chunk in chunks:
        if skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        skip_lf = False
        lines = (pending + chunk).splitlines(keepends=True) if pending else chunk.splitlines(keepends=True)
        pending = lines.pop() if lines and not lines[-1].endswith((b"\n", b"\r")) else b""
        for line in lines:
            yield line.rstrip(b"\r\n")
        if lines and not pending and lines[-1].endswith(b"\r"):
            skip_lf = True
    if pending:
        yield pending


class LLMBase(HttpModel):
    """The generic invoke loop; subclasses supply `_prepare`, `_stream_deltas` and `_blocking_delta`."""

    pricing_model: str = ""

    def _prepare(self, messages: list[PromptMessage], params: dict[str, Any], stop: list[str] | None,
                 stream: bool) -> Prepared:
        raise NotImplementedError

    def _stream_deltas(self, response: httpx.Response) -> Iterator[Delta]:
        raise NotImplementedError

    def _blocking_delta(self, payload: Any) -> Delta:
        raise NotImplementedError

    def invoke(self, messages: list[PromptMessage], *, params: Mapping[str, Any],
               stop: list[str] | None = None, stream: bool = True) -> Iterator[LLMChunk]:
        """See ports.LargeLanguageModel.invoke."""
        if not messages:
            raise self._fail(InvokeBadRequestError, "at least one prompt message is required")
        stop = list(stop) if stop else (list(params["stop"]) if params.get("stop") else None)
        prepared = self._prepare(messages, dict(params or {}), stop, stream)
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        total = Delta()
        with self._request("POST", prepared.url, body=prepared.body, headers=prepared.headers) as response:
            if stream:
                for delta in self._stream_deltas(response):
                    _merge(total, delta)
                    if delta.text:
                        first = first or time.perf_counter()
                        parts.append(delta.text)
                        yield LLMChunk(delta=delta.text)
                    elif first is None and time.perf_counter() - started > self._timeouts.total_first_token:
                        raise self._fail(InvokeConnectionError,
                                         f"no token within {self._timeouts.total_first_token}s")
                if not total.done:
                    raise self._fail(InvokeConnectionError, "the stream ended before the model finished")
            else:
                delta = self._blocking_delta(self._json(response.read()))
                _merge(total, delta)
                parts.append(delta.text)
        ended = time.perf_counter()
        text = "".join(parts)
        # Usage always comes from the provider's own counts; only when it omits them (some OpenAI-compatible
        # servers, old Azure API versions, cached Ollama prompts) do we estimate with characters / 4.
        prompt_tokens = total.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = estimate_tokens("\n".join(m.content for m in messages))
        completion_tokens = total.completion_tokens if total.completion_tokens is not None else estimate_tokens(text)
        usage = price_usage(
            self._provider, self.pricing_model or self._model, prompt_tokens, completion_tokens,
            latency=ended - started,
            ttft=(first - started) if stream and first is not None else None,
            ttg=(ended - first) if stream and first is not None else None,
        )
        yield LLMChunk(delta="" if stream else text, usage=usage, finish_reason=total.finish_reason or "stop")


def _merge(total: Delta, delta: Delta) -> None:
    if delta.prompt_tokens is not None:
        total.prompt_tokens = delta.prompt_tokens
    if delta.completion_tokens is not None:
        total.completion_tokens = delta.completion_tokens
    if delta.finish_reason:
        total.finish_reason = delta.finish_reason
    total.done = total.done or delta.done
