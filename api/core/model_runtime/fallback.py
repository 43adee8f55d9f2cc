"""Fallback chains: answer with the first target of [primary, *fallbacks] that produces a token.

A target is abandoned for the next one only before its first token, and only when it failed with a retryable
error (after its own retries) or an exhausted quota, or when its circuit breaker is open (skipped without any
request or wait). Misconfiguration (401, 400, unknown provider) raises at once: fallbacks cover outages, not
mistakes. Once a target yielded text, its later errors propagate. The caller reports
`metadata.model = {"provider", "name"}` of the target paired with the chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from api.core.model_runtime import registry
from api.core.model_runtime.entities import LLMChunk, ModelTarget, PromptMessage
from api.core.model_runtime.errors import InvokeError, InvokeQuotaExceededError
from api.core.model_runtime.ports import LargeLanguageModel
from api.core.model_runtime.resilience import CircuitBreaker, RetryPolicy, breaker_key, retrying_stream

GetLLM = Callable[..., LargeLanguageModel]


def _default_params(target: ModelTarget) -> Mapping[str, Any]:
    return target.completion_params


def _moves_on(error: InvokeError) -> bool:
    return error.retryable or isinstance(error, InvokeQuotaExceededError)


def invoke_with_fallbacks(
    targets: list[ModelTarget],
    messages: list[PromptMessage],
    *,
    params_for: Callable[[ModelTarget], Mapping[str, Any]] = _default_params,
    stream: bool = True,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    get_llm: GetLLM = registry.get_llm,
    stop: list[str] | None = None,
) -> Iterator[tuple[ModelTarget, LLMChunk]]:
    """Yield (answering target, chunk) pairs; the last chunk carries usage.

    `get_llm(provider, name, credentials, mode=...)` builds each target's model (the registry by default).
    Raises ValueError for an empty `targets`, the first non-fallback error at once, or — when every target
    failed or was on cooldown — the last error.
    """
    if not targets:
        raise ValueError("at least one model target is required")
    retry = retry or RetryPolicy()
    last_error: InvokeError | None = None
    for target in targets:
        llm = get_llm(target.provider, target.name, target.credentials, mode=target.mode)
        key = breaker_key(llm.provider, llm.endpoint, llm.model)
        params = dict(params_for(target))
        answered = False
        try:
            for chunk in retrying_stream(lambda llm=llm, params=params: llm.invoke(
                    messages, params=params, stop=stop, stream=stream), retry, breaker=breaker, key=key):
                answered = True
                yield target, chunk
            return
        except InvokeError as error:
            if answered or not _moves_on(error):
                raise
            last_error = error
    raise last_error or InvokeError()
