"""Wire shapes the fake model server speaks: OpenAI, Azure OpenAI, Anthropic and Ollama bodies and errors.

Pure functions building JSON-ready dicts; tests/fakes/llm_server.py does the HTTP. Deterministic by design:
vectors come from a hash of the text, rerank scores from word overlap, token counts from word counts.
"""

from __future__ import annotations

import hashlib
import math
import struct
import time
from typing import Any

CREATED = 1_700_000_000


def word_tokens(text: str) -> int:
    return len(text.split())


def fake_vector(text: str, dim: int = 8) -> list[float]:
    """A deterministic unit vector for `text` (sha256 chain → floats in [-1, 1], normalised)."""
    raw, seed = b"", text.encode()
    while len(raw) < dim * 4:
        seed = hashlib.sha256(seed).digest()
        raw += seed
    values = [v / 2**31 - 1.0 for v in struct.unpack(f">{dim}I", raw[: dim * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def rerank_results(query: str, documents: list[Any], top_n: int | None) -> list[dict[str, Any]]:
    """Score = share of the query's words found in the document; best first, ties by index."""
    words = set(query.lower().split())
    texts = [d.get("text", "") if isinstance(d, dict) else str(d) for d in documents]
    scored = [(len(words & set(t.lower().split())) / (len(words) or 1), i) for i, t in enumerate(texts)]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    if top_n is not None:
        scored = scored[:top_n]
    return [{"index": i, "relevance_score": score, "document": {"text": texts[i]}} for score, i in scored]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def prompt_of(flavor: str, body: dict[str, Any]) -> tuple[str, str]:
    """(all prompt text, last user text) of a request body."""
    if "messages" in body:
        messages = body.get("messages") or []
        texts = [_text_of(m.get("content")) for m in messages]
        if body.get("system"):
            texts.insert(0, _text_of(body["system"]))
        users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        return "\n".join(texts), users[-1] if users else ""
    prompt = body.get("prompt", "")
    prompt = " ".join(prompt) if isinstance(prompt, list) else str(prompt)
    return prompt, prompt


# ---- errors -----------------------------------------------------------------------------------------------------

_OPENAI_ERRORS = {
    400: ("Invalid request.", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def mask_key(key: str) -> str:
    return f"{key[:3]}{'*' * 6}{key[-4:]}" if len(key) > 8 else "***"


def error_body(flavor: str, status: int, code: str | None = None, sent_key: str = "") -> dict[str, Any]:
    """The provider's own error JSON for `status` (`code` picks 429's rate_limit_exceeded / insufficient_quota)."""
    if flavor == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        message = "invalid x-api-key" if status == 401 else f"fake {kind}"
        return {"type": "error", "error": {"type": kind, "message": message}}
    if flavor == "ollama":
        return {"error": f"fake ollama error {status}"}
    if status == 401:
        if flavor == "azure":
            return {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API "
                                                        "endpoint."}}
        return {"error": {"message": f"Incorrect API key provided: {mask_key(sent_key)}. You can find your API key "
                                     "at https://platform.openai.com/account/api-keys.",
                          "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
    if status == 429:
        if code == "insufficient_quota":
            return {"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                         "details.", "type": "insufficient_quota", "param": None,
                              "code": "insufficient_quota"}}
        return {"error": {"message": "Rate limit reached for requests.", "type": "requests", "param": None,
                          "code": code or "rate_limit_exceeded"}}
    message, kind, default_code = _OPENAI_ERRORS.get(status, (f"fake error {status}", "server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code or default_code}}


# ---- success bodies ---------------------------------------------------------------------------------------------

def openai_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def openai_chunk(model: str, completion: bool, text: str | None, finish: str | None = None) -> dict[str, Any]:
    if completion:
        choice: dict[str, Any] = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
        return {"id": "cmpl-fake", "object": "text_completion", "created": CREATED, "model": model,
                "choices": [choice]}
    delta = {} if text is None else {"content": text}
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": CREATED, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def openai_full(model: str, completion: bool, text: str, finish: str, usage: dict[str, int] | None) -> dict[str, Any]:
    if completion:
        body = openai_chunk(model, True, text, finish)
    else:
        body = {"id": "chatcmpl-fake", "object": "chat.completion", "created": CREATED, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return body


def anthropic_events(model: str, pieces: list[str], prompt_tokens: int, completion_tokens: int,
                     finish: str) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """(events before the text, events after it); text events are built per piece by `anthropic_delta`."""
    head = [("message_start", {"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": model,
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": prompt_tokens, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"})]
    tail = [("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": finish, "stop_sequence": None},
                               "usage": {"output_tokens": completion_tokens}}),
            ("message_stop", {"type": "message_stop"})]
    return head, tail


def anthropic_delta(text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


def anthropic_full(model: str, text: str, prompt_tokens: int, completion_tokens: int, finish: str) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": finish, "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens}}


def ollama_object(model: str, generate: bool, text: str, done: bool, counts: tuple[int, int] | None = None,
                  finish: str = "stop") -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "done": done}
    if generate:
        body["response"] = text
    else:
        body["message"] = {"role": "assistant", "content": text}
    if done:
        body["done_reason"] = finish
        body["total_duration"] = 1000
        if counts is not None:
            body["prompt_eval_count"], body["eval_count"] = counts
    return body


# ---- blocking bodies and routing ---------------------------------------------------------------------------------

def anthropic_finish(reason: str) -> str:
    return {"stop": "end_turn", "length": "max_tokens"}.get(reason, reason)


def full_body(kind: str, flavor: str, model: str, text: str, counts: tuple[int, int], script: Any) -> Any:
    """The blocking (non-stream) success body."""
    if flavor == "anthropic":
        return anthropic_full(model, text, *counts, anthropic_finish(script.finish_reason))
    if flavor == "ollama":
        return ollama_object(model, kind == "completion", text, True,
                             counts if script.include_usage else None, script.finish_reason)
    usage = openai_usage(*counts) if script.include_usage else None
    return openai_full(model, kind == "completion", text, script.finish_reason, usage)


_STATIC_ROUTES = {
    "/v1/chat/completions": ("chat", "openai"), "/v1/completions": ("completion", "openai"),
    "/v1/embeddings": ("embeddings", "openai"), "/v1/rerank": ("rerank", "openai"),
    "/v1/messages": ("chat", "anthropic"), "/api/chat": ("chat", "ollama"),
    "/api/generate": ("completion", "ollama"), "/api/embed": ("embeddings", "ollama"),
}
_AZURE_KINDS = {"chat/completions": "chat", "completions": "completion", "embeddings": "embeddings"}


def route(path: str) -> tuple[str, str | None, str] | None:
    """(kind, azure deployment or None, flavor) for a POST path, or None."""
    if path in _STATIC_ROUTES:
        kind, flavor = _STATIC_ROUTES[path]
        return kind, None, flavor
    prefix = "/openai/deployments/"
    if path.startswith(prefix):
        deployment, _, rest = path[len(prefix):].partition("/")
        if rest in _AZURE_KINDS and deployment:
            return _AZURE_KINDS[rest], deployment, "azure"
    return None
