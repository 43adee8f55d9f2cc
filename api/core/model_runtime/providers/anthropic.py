"""Anthropic Messages API over httpx: `POST {anthropic_api_url}/v1/messages`, blocking or SSE.

System messages go into the top-level `system`; images become `image` blocks (base64 `source` for data: URIs,
`{"type": "url"}` source for http(s) URLs). `max_tokens` is required by the API and defaults to 4096. Error
types (in error bodies and in `event: error` frames mid-stream) map onto the InvokeError family.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from api.core.model_runtime.entities import ImageInput, PromptMessage, Timeouts
from api.core.model_runtime.errors import InvokeBadRequestError
from api.core.model_runtime.providers._base import Delta, LLMBase, Prepared, iter_sse, parse_data_uri

DEFAULT_API_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_PARAMS = ("temperature", "top_p", "top_k")
_STATUS_BY_TYPE = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                   "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
                   "overloaded_error": 529}
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def anthropic_base(credentials: Mapping[str, Any]) -> str:
    base = str(credentials.get("anthropic_api_url") or DEFAULT_API_URL).strip().rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class AnthropicChatModel(LLMBase):
    """Credentials: `anthropic_api_key` (required), `anthropic_api_url` (optional)."""

    def __init__(self, model: str, credentials: Mapping[str, Any], client: httpx.Client, timeouts: Timeouts) -> None:
        key = str(credentials.get("anthropic_api_key") or "")
        if not key:
            raise InvokeBadRequestError("[anthropic] Error: anthropic_api_key is required")
        base = anthropic_base(credentials)
        super().__init__(provider="anthropic", model=model, endpoint=base, client=client, timeouts=timeouts,
                         secrets=(key,))
        self._url = f"{base}/v1/messages"
        self._headers = {"x-api-key": key, "anthropic-version": API_VERSION}
        self.pricing_model = model

    def _prepare(self, messages: list[PromptMessage], params: dict[str, Any], stop: list[str] | None,
                 stream: bool) -> Prepared:
        system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        body: dict[str, Any] = {
            "model": self._model,
            "max_tokens": int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
            "messages": [self._wire_message(m) for m in messages
                         if m.role != "system" and (m.content or m.images)],
            "stream": stream,
        }
        if system:
            body["system"] = system
        body.update({name: params[name] for name in _PARAMS if params.get(name) is not None})
        if stop:
            body["stop_sequences"] = stop
        return Prepared(self._url, body, self._headers)

    def _wire_message(self, message: PromptMessage) -> dict[str, Any]:
        if not message.images:
            return {"role": message.role, "content": message.content}
        blocks = [_image_block(image) for image in message.images]
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        return {"role": message.role, "content": blocks}

    def _stream_deltas(self, response: httpx.Response) -> Iterator[Delta]:
        for event, data in iter_sse(response):
            payload = self._json(data)
            kind = payload.get("type", event) if isinstance(payload, dict) else event
            if kind == "error":
                error = payload.get("error") or {}
                raise self._error_from_body(payload, _STATUS_BY_TYPE.get(error.get("type", ""), 500))
            if kind == "message_start":
                yield _usage_delta((payload.get("message") or {}).get("usage") or {})
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type", "text_delta") == "text_delta":
                    yield Delta(text=delta.get("text") or "")
            elif kind == "message_delta":
                usage = _usage_delta(payload.get("usage") or {})
                reason = (payload.get("delta") or {}).get("stop_reason")
                usage.finish_reason = _FINISH.get(reason, reason) if reason else None
                yield usage
            elif kind == "message_stop":
                yield Delta(done=True)
                return

    def _blocking_delta(self, payload: Any) -> Delta:
        if not isinstance(payload, dict):
            return Delta(done=True)
        if payload.get("type") == "error":
            raise self._error_from_body(payload)
        delta = _usage_delta(payload.get("usage") or {})
        delta.text = "".join(block.get("text", "") for block in payload.get("content") or []
                             if block.get("type") == "text")
        reason = payload.get("stop_reason")
        delta.finish_reason = _FINISH.get(reason, reason) if reason else None
        delta.done = True
        return delta


def _usage_delta(usage: Mapping[str, Any]) -> Delta:
    """Prompt tokens include cache writes and reads, which Anthropic reports apart from `input_tokens`."""
    delta = Delta()
    if "input_tokens" in usage:
        delta.prompt_tokens = sum(int(usage.get(name) or 0) for name in
                                  ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    if "output_tokens" in usage:
        delta.completion_tokens = int(usage["output_tokens"] or 0)
    return delta


def _image_block(image: ImageInput) -> dict[str, Any]:
    if image.url.startswith("data:"):
        media_type, raw = parse_data_uri(image.url)
        source = {"type": "base64", "media_type": media_type, "data": base64.b64encode(raw).decode("ascii")}
    else:
        source = {"type": "url", "url": image.url}
    return {"type": "image", "source": source}
