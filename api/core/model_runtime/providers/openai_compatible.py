"""OpenAI wire format over httpx: Chat Completions, legacy Completions, Embeddings and Jina/Cohere-style Rerank.

Serves provider `openai` (api.openai.com or any base URL; `/v1` appended when missing) and
`openai_api_compatible` (a per-model `endpoint_url` such as vLLM, LiteLLM, LocalAI). azure_openai.py reuses the
model classes with its own `Endpoint`. No SDK: requests are JSON, streams are SSE parsed line by line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.core.model_runtime.entities import EmbeddingResult, PromptMessage, RerankHit, Timeouts
from api.core.model_runtime.errors import InvokeBadRequestError
from api.core.model_runtime.providers._base import (
    Delta,
    HttpModel,
    LLMBase,
    Prepared,
    estimate_tokens,
    flatten_prompt,
    iter_sse,
    pick_params,
)

OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"
EMBEDDING_BATCH = 64
CHAT_PARAMS = frozenset({"temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty",
                         "response_format", "seed"})
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_REASONING_DROPS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


@dataclass(frozen=True)
class Endpoint:
    """Where and how one OpenAI-style model is reached.

    `url_for(kind)` gives the absolute URL for kind "chat" | "completion" | "embeddings" | "rerank".
    `wire_model` is the `model` field sent (None: omitted, as for Azure deployments); `pricing_model` names the
    price-table entry; `include_usage` asks for the final usage chunk of a stream.
    """

    provider: str
    base_url: str
    url_for: Callable[[str], str]
    headers: dict[str, str] = field(default_factory=dict)
    wire_model: str | None = None
    pricing_model: str = ""
    include_usage: bool = True
    max_tokens_cap: int | None = None
    secrets: tuple[str, ...] = ()


def _joined(base: str) -> Callable[[str], str]:
    paths = {"chat": "chat/completions", "completion": "completions", "embeddings": "embeddings", "rerank": "rerank"}
    return lambda kind: f"{base}/{paths[kind]}"


def openai_endpoint(credentials: Mapping[str, Any], model: str) -> Endpoint:
    """Provider `openai`: `openai_api_key` (required), `openai_api_base`, `openai_organization`."""
    key = str(credentials.get("openai_api_key") or "")
    if not key:
        raise InvokeBadRequestError("[openai] Error: openai_api_key is required")
    base = str(credentials.get("openai_api_base") or OPENAI_DEFAULT_BASE).strip().rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    headers = {"Authorization": f"Bearer {key}"}
    if credentials.get("openai_organization"):
        headers["OpenAI-Organization"] = str(credentials["openai_organization"])
    return Endpoint("openai", base, _joined(base), headers, wire_model=model, pricing_model=model, secrets=(key,))


def compatible_endpoint(credentials: Mapping[str, Any], model: str) -> Endpoint:
    """Provider `openai_api_compatible`: `endpoint_url` (required, e.g. http://host:port/v1), `api_key`,
    `endpoint_model_name` (model name the server expects, default the model), `max_tokens_to_sample` (cap)."""
    base = str(credentials.get("endpoint_url") or "").strip().rstrip("/")
    if not base:
        raise InvokeBadRequestError("[openai_api_compatible] Error: endpoint_url is required")
    key = str(credentials.get("api_key") or "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    cap = _int_or_none(credentials.get("max_tokens_to_sample"))
    wire_model = str(credentials.get("endpoint_model_name") or model)
    return Endpoint("openai_api_compatible", base, _joined(base), headers, wire_model=wire_model,
                    pricing_model=model, max_tokens_cap=cap, secrets=(key,))


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _bind(endpoint: Endpoint, model: str, client: httpx.Client, timeouts: Timeouts) -> dict[str, Any]:
    return {"provider": endpoint.provider, "model": model, "endpoint": endpoint.base_url, "client": client,
            "timeouts": timeouts, "secrets": endpoint.secrets}


class OpenAIChatModel(LLMBase):
    """Chat Completions (`mode="chat"`) or legacy Completions (`mode="completion"`)."""

    def __init__(self, endpoint: Endpoint, model: str, client: httpx.Client, timeouts: Timeouts,
                 mode: str = "chat") -> None:
        super().__init__(**_bind(endpoint, model, client, timeouts))
        self._ep = endpoint
        self._mode = "completion" if mode == "completion" else "chat"
        self.pricing_model = endpoint.pricing_model or model

    def _prepare(self, messages: list[PromptMessage], params: dict[str, Any], stop: list[str] | None,
                 stream: bool) -> Prepared:
        body: dict[str, Any] = {} if self._ep.wire_model is None else {"model": self._ep.wire_model}
        if self._mode == "chat":
            body["messages"] = [_wire_message(m) for m in messages]
        else:
            body["prompt"] = flatten_prompt(messages)
        body.update(self._params(params))
        if stop:
            body["stop"] = stop
        body["stream"] = stream
        if stream and self._ep.include_usage:
            body["stream_options"] = {"include_usage": True}
        return Prepared(self._ep.url_for(self._mode), body, self._ep.headers)

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        chosen = pick_params(params, CHAT_PARAMS)
        if isinstance(chosen.get("response_format"), str):
            kind = chosen["response_format"]
            if kind == "json_schema" and params.get("json_schema"):
                chosen["response_format"] = {"type": kind, "json_schema": self._schema(params["json_schema"])}
            else:
                chosen["response_format"] = {"type": kind}
        if self._ep.max_tokens_cap and (_int_or_none(chosen.get("max_tokens")) or 0) > self._ep.max_tokens_cap:
            chosen["max_tokens"] = self._ep.max_tokens_cap
        if self._provider in ("openai", "azure_openai") and _REASONING_MODEL.match(self.pricing_model):
            # o-series / gpt-5 reject max_tokens and sampling parameters.
            for name in _REASONING_DROPS:
                chosen.pop(name, None)
            if "max_tokens" in chosen:
                chosen["max_completion_tokens"] = chosen.pop("max_tokens")
        return chosen

    def _schema(self, schema: Any) -> Any:
        if not isinstance(schema, str):
            return schema
        try:
            return json.loads(schema)
        except ValueError:
            raise self._fail(InvokeBadRequestError, "json_schema is not valid JSON")

    def _stream_deltas(self, response: httpx.Response) -> Iterator[Delta]:
        for _event, data in iter_sse(response):
            if data.strip() == b"[DONE]":
                yield Delta(done=True)
                return
            yield self._chunk_delta(self._json(data), streaming=True)

    def _blocking_delta(self, payload: Any) -> Delta:
        return self._chunk_delta(payload, streaming=False)

    def _chunk_delta(self, payload: Any, *, streaming: bool) -> Delta:
        if not isinstance(payload, dict):
            return Delta()
        if payload.get("error"):
            raise self._error_from_body(payload)
        delta = Delta()
        usage = payload.get("usage")
        if isinstance(usage, dict):
            delta.prompt_tokens = usage.get("prompt_tokens")
            delta.completion_tokens = usage.get("completion_tokens")
        choices = payload.get("choices") or []
        choice = next((c for c in choices if c.get("index", 0) == 0), None)
        if choice:
            if self._mode == "completion":
                delta.text = choice.get("text") or ""
            else:
                message = choice.get("delta" if streaming else "message") or {}
                delta.text = message.get("content") or ""
            delta.finish_reason = choice.get("finish_reason")
            delta.done = bool(delta.finish_reason)
        return delta


def _wire_message(message: PromptMessage) -> dict[str, Any]:
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    parts += [{"type": "image_url", "image_url": {"url": image.url, "detail": image.detail}}
              for image in message.images]
    return {"role": message.role, "content": parts}


class OpenAIEmbeddingModel(HttpModel):
    def __init__(self, endpoint: Endpoint, model: str, client: httpx.Client, timeouts: Timeouts) -> None:
        super().__init__(**_bind(endpoint, model, client, timeouts))
        self._ep = endpoint

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """Vectors in input order; at most EMBEDDING_BATCH inputs per request."""
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), EMBEDDING_BATCH):
            batch = texts[start:start + EMBEDDING_BATCH]
            body: dict[str, Any] = {"input": batch, "encoding_format": "float"}
            if self._ep.wire_model is not None:
                body["model"] = self._ep.wire_model
            payload = self._post_json(self._ep.url_for("embeddings"), body, self._ep.headers)
            data = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(data, list) or len(data) != len(batch):
                raise self._fail(InvokeBadRequestError, "the embeddings response does not match the inputs")
            vectors += [item["embedding"] for item in sorted(data, key=lambda item: item.get("index", 0))]
            usage = payload.get("usage") or {}
            # Some compatible servers omit usage: estimate (characters / 4).
            used = usage.get("prompt_tokens", usage.get("total_tokens"))
            tokens += int(used) if used is not None else sum(estimate_tokens(text) for text in batch)
        return EmbeddingResult(vectors=vectors, usage_tokens=tokens)


class OpenAIRerankModel(HttpModel):
    def __init__(self, endpoint: Endpoint, model: str, client: httpx.Client, timeouts: Timeouts) -> None:
        super().__init__(**_bind(endpoint, model, client, timeouts))
        self._ep = endpoint

    def rerank(self, query: str, documents: list[str], top_n: int | None = None) -> list[RerankHit]:
        """`POST {base}/rerank` in the Jina/Cohere shape; hits best first, at most `top_n`."""
        if not documents:
            return []
        top_n = len(documents) if top_n is None else max(0, min(top_n, len(documents)))
        body = {"model": self._ep.wire_model or self._model, "query": query, "documents": documents,
                "top_n": top_n}
        payload = self._post_json(self._ep.url_for("rerank"), body, self._ep.headers)
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list):
            raise self._fail(InvokeBadRequestError, "the rerank response has no results")
        hits = [RerankHit(index=int(r["index"]), score=float(r.get("relevance_score", r.get("score", 0.0))))
                for r in results if 0 <= int(r.get("index", -1)) < len(documents)]
        hits.sort(key=lambda hit: (-hit.score, hit.index))
        return hits[:top_n]
