"""Ollama's native API over httpx: `/api/chat` (chat), `/api/generate` (completion), `/api/embed`.

Streams are NDJSON; the last object has `done: true` with `prompt_eval_count` and `eval_count`. Images travel as
bare base64 in `images`: data: URIs are decoded, http(s) URLs fetched (size-capped, see _base.MAX_IMAGE_BYTES).
Credentials: `base_url` (required), `mode`, `context_size` (sent as `options.num_ctx`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from api.core.model_runtime.entities import EmbeddingResult, ImageInput, PromptMessage, Timeouts
from api.core.model_runtime.errors import InvokeBadRequestError
from api.core.model_runtime.providers._base import (
    Delta,
    HttpModel,
    LLMBase,
    Prepared,
    estimate_tokens,
    iter_ndjson_lines,
)

EMBEDDING_BATCH = 64
_OPTIONS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "seed": "seed",
            "max_tokens": "num_predict", "presence_penalty": "presence_penalty",
            "frequency_penalty": "frequency_penalty", "repeat_penalty": "repeat_penalty"}


def ollama_base(credentials: Mapping[str, Any]) -> str:
    base = str(credentials.get("base_url") or "").strip().rstrip("/")
    if not base:
        raise InvokeBadRequestError("[ollama] Error: base_url is required")
    return base


class OllamaChatModel(LLMBase):
    def __init__(self, model: str, credentials: Mapping[str, Any], client: httpx.Client, timeouts: Timeouts,
                 mode: str = "chat") -> None:
        base = ollama_base(credentials)
        super().__init__(provider="ollama", model=model, endpoint=base, client=client, timeouts=timeouts)
        self._mode = "completion" if mode == "completion" else "chat"
        self._num_ctx = credentials.get("context_size")

    def _prepare(self, messages: list[PromptMessage], params: dict[str, Any], stop: list[str] | None,
                 stream: bool) -> Prepared:
        body: dict[str, Any] = {"model": self._model, "stream": stream, "options": self._options(params, stop)}
        if params.get("response_format") in ("json_object", "json"):
            body["format"] = "json"
        if self._mode == "chat":
            body["messages"] = [self._wire_message(m) for m in messages]
            return Prepared(f"{self._endpoint}/api/chat", body)
        system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        body["prompt"] = "\n\n".join(m.content for m in messages if m.role != "system" and m.content)
        if system:
            body["system"] = system
        images = [self._b64(image) for m in messages for image in m.images]
        if images:
            body["images"] = images
        return Prepared(f"{self._endpoint}/api/generate", body)

    def _options(self, params: dict[str, Any], stop: list[str] | None) -> dict[str, Any]:
        options = {wire: params[name] for name, wire in _OPTIONS.items() if params.get(name) is not None}
        if stop:
            options["stop"] = stop
        if str(self._num_ctx or "").strip().isdigit():  # anything else is left to Ollama's default
            options["num_ctx"] = int(str(self._num_ctx).strip())
        return options

    def _wire_message(self, message: PromptMessage) -> dict[str, Any]:
        wire: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.images:
            wire["images"] = [self._b64(image) for image in message.images]
        return wire

    def _b64(self, image: ImageInput) -> str:
        return base64.b64encode(self._image_bytes(image)[1]).decode("ascii")

    def _stream_deltas(self, response: httpx.Response) -> Iterator[Delta]:
        for line in iter_ndjson_lines(response):
            delta = self._object_delta(self._json(line))
            yield delta
            if delta.done:
                return

    def _blocking_delta(self, payload: Any) -> Delta:
        return self._object_delta(payload)

    def _object_delta(self, payload: Any) -> Delta:
        if not isinstance(payload, dict):
            return Delta()
        if payload.get("error"):
            raise self._error_from_body(payload)
        text = (payload.get("message") or {}).get("content") if self._mode == "chat" else payload.get("response")
        delta = Delta(text=text or "", done=bool(payload.get("done")))
        if delta.done:
            # Ollama omits prompt_eval_count when the prompt was served from its cache; LLMBase then estimates.
            delta.prompt_tokens = payload.get("prompt_eval_count")
            delta.completion_tokens = payload.get("eval_count")
            reason = payload.get("done_reason") or "stop"
            delta.finish_reason = "length" if reason == "length" else reason
        return delta


class OllamaEmbeddingModel(HttpModel):
    def __init__(self, model: str, credentials: Mapping[str, Any], client: httpx.Client, timeouts: Timeouts) -> None:
        super().__init__(provider="ollama", model=model, endpoint=ollama_base(credentials), client=client,
                         timeouts=timeouts)

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """`POST /api/embed` in batches of EMBEDDING_BATCH; vectors in input order."""
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), EMBEDDING_BATCH):
            batch = texts[start:start + EMBEDDING_BATCH]
            payload = self._post_json(f"{self._endpoint}/api/embed", {"model": self._model, "input": batch})
            embeddings = payload.get("embeddings") if isinstance(payload, dict) else None
            if not isinstance(embeddings, list) or len(embeddings) != len(batch):
                raise self._fail(InvokeBadRequestError, "the embed response does not match the inputs: "
                                 + json.dumps(payload)[:200])
            vectors += embeddings
            counted = payload.get("prompt_eval_count")
            # Older Ollama versions omit prompt_eval_count: estimate (characters / 4).
            tokens += int(counted) if counted is not None else sum(estimate_tokens(text) for text in batch)
        return EmbeddingResult(vectors=vectors, usage_tokens=tokens)
