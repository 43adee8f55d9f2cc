"""One generation: call the model chain, stream deltas, honour stop, end with the outcome.

`generate(...)` yields `Delta` for every upstream chunk (no coalescing) and finally exactly one
`Finished` carrying the answer, usage, the model that answered and whether it was stopped.
Model errors propagate as InvokeError (the caller turns them into an `error` event).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from api.core.chat.prompt import estimate_tokens
from api.core.model_runtime import fallback, pricing
from api.core.model_runtime.entities import ModelTarget, PromptMessage, Usage
from api.core.model_runtime.resilience import CircuitBreaker, RetryPolicy


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Finished:
    answer: str
    usage: Usage
    model: ModelTarget | None
    stopped: bool


def generate(targets: list[ModelTarget], messages: list[PromptMessage], *, should_stop: Callable[[], bool],
             retry: RetryPolicy, breaker: CircuitBreaker) -> Iterator[Delta | Finished]:
    """Stream one answer from the first target that works; see the module docstring."""
    started = time.perf_counter()
    parts: list[str] = []
    usage: Usage | None = None
    answered_by: ModelTarget | None = None
    first_token_at: float | None = None
    stopped = False
    chunks = fallback.invoke_with_fallbacks(targets, messages, stream=True, retry=retry, breaker=breaker)
    try:
        for target, chunk in chunks:
            answered_by = target
            if chunk.delta:
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                parts.append(chunk.delta)
                yield Delta(chunk.delta)
            if chunk.usage is not None:
                usage = chunk.usage
            if should_stop():
                stopped = True
                break
    finally:
        if stopped:
            chunks.close()
    answer = "".join(parts)
    if usage is None or stopped:
        usage = _estimate_usage(answered_by or targets[0], messages, answer, started, first_token_at, usage)
    yield Finished(answer=answer, usage=usage, model=answered_by, stopped=stopped)


def _estimate_usage(target: ModelTarget, messages: list[PromptMessage], answer: str, started: float,
                    first_token_at: float | None, partial: Usage | None) -> Usage:
    """Usage when the provider gave none (or the answer was cut short by a stop)."""
    now = time.perf_counter()
    prompt_tokens = partial.prompt_tokens if partial else sum(estimate_tokens(m.content) for m in messages)
    return pricing.price_usage(
        target.provider, target.name, prompt_tokens, estimate_tokens(answer) if answer else 0, latency=now - started,
        ttft=(first_token_at - started) if first_token_at else None,
        ttg=(now - first_token_at) if first_token_at else None)
