"""Prompt assembly for chat and completion apps in Dify's "simple" prompt mode.

chat: system = pre_prompt (with {{var}} filled); then history turns (newest that fit the
context window); then the user's query (with image inputs when the model takes vision).
completion: one user message = pre_prompt filled with inputs (the query, if any, appended).
Token counts are an offline estimate (no tokenizer download): ~4 characters per token.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from api.core.model_runtime.entities import ImageInput, PromptMessage

_VARIABLE = re.compile(r"\{\{\s*([\w\u4e00-\u9fa5]{1,100})\s*\}\}")
DEFAULT_CONTEXT_SIZE = 8192
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class Turn:
    query: str
    answer: str


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) + 4 if text else 4


def fill_template(template: str, inputs: dict[str, Any]) -> str:
    """Replace `{{var}}` with the input's value; unknown variables become empty strings."""

    def value(match: re.Match[str]) -> str:
        found = inputs.get(match.group(1))
        return "" if found is None else str(found)

    return _VARIABLE.sub(value, template or "")


def _budget(context_size: int | None, max_tokens: int | None, used: int) -> int:
    return (context_size or DEFAULT_CONTEXT_SIZE) - (max_tokens or DEFAULT_MAX_TOKENS) - used


def build_chat_prompt(*, pre_prompt: str, inputs: dict[str, Any], query: str, history: list[Turn],
                      images: tuple[ImageInput, ...] = (), context: str = "", context_size: int | None = None,
                      max_tokens: int | None = None) -> list[PromptMessage]:
    """System prompt, the newest history that fits the context window, then the query."""
    system = fill_template(pre_prompt, inputs)
    if context:
        knowledge = "Use the following context as your learned knowledge:\n" + context
        system = f"{system}\n\n{knowledge}" if system else knowledge
    head = [PromptMessage(role="system", content=system)] if system.strip() else []
    tail = [PromptMessage(role="user", content=query, images=images)]
    budget = _budget(context_size, max_tokens, sum(estimate_tokens(m.content) for m in head + tail))
    kept: list[PromptMessage] = []
    for turn in reversed(history):
        cost = estimate_tokens(turn.query) + estimate_tokens(turn.answer)
        if cost > budget:
            break
        budget -= cost
        kept[:0] = [PromptMessage(role="user", content=turn.query),
                    PromptMessage(role="assistant", content=turn.answer)]
    return head + kept + tail


def build_completion_prompt(*, pre_prompt: str, inputs: dict[str, Any], query: str = "",
                            images: tuple[ImageInput, ...] = (), context: str = "") -> list[PromptMessage]:
    text = fill_template(pre_prompt, inputs)
    if context:
        text = "Use the following context as your learned knowledge:\n" + context + "\n\n" + text
    if query and query not in text:
        text = f"{text}\n{query}" if text else query
    return [PromptMessage(role="user", content=text, images=images)]


def conversation_name(query: str) -> str:
    """Dify's provisional name: the first 20 characters of the query + '…'."""
    query = (query or "").strip().replace("\n", " ")
    if not query:
        return "New conversation"
    return query[:20] + ("…" if len(query) > 20 else "")
