"""Retries, circuit breaker and fallback chains against the fake server. Sleep and clock are injected:
no test waits or asserts on wall-clock time; behaviour is read from the server's request counts."""

from __future__ import annotations

import random
import threading

import pytest

from api.core.model_runtime import registry
from api.core.model_runtime.entities import ModelTarget
from api.core.model_runtime.errors import (
    InvokeAuthorizationError,
    InvokeConnectionError,
    InvokeServerUnavailableError,
)
from api.core.model_runtime.fallback import invoke_with_fallbacks
from api.core.model_runtime.resilience import CircuitBreaker, RetryPolicy, retrying_stream
from tests.unit.core.model_runtime.helpers import creds, user

CHAT = "/v1/chat/completions"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _retry(sleeps: list[float] | None = None, attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, sleep=(sleeps.append if sleeps is not None else lambda _s: None),
                       rng=random.Random(1))


def _target(server, name: str, provider: str = "openai") -> ModelTarget:
    return ModelTarget(provider=provider, name=name, credentials=creds(provider, server))


def _answer(pairs) -> tuple[str, list[str]]:
    pairs = list(pairs)
    return "".join(chunk.delta for _, chunk in pairs), sorted({target.name for target, _ in pairs})


def test_backoff_is_exponential_with_full_jitter_and_capped():
    policy = RetryPolicy(base_delay=0.25, max_delay=4.0, rng=random.Random(7))

    delays = [policy.delay(attempt) for attempt in range(1, 10) for _ in range(50)]

    assert all(0 <= d <= 4.0 for d in delays)
    assert max(policy.delay(1) for _ in range(100)) <= 0.25
    assert max(delays) > 2.0


def test_two_500s_then_success_is_answered_after_two_backoffs(llm_server):
    llm_server.script("gpt-4o", failures=[500, 500], reply="finally")
    llm = registry.get_llm("openai", "gpt-4o", creds("openai", llm_server))
    sleeps: list[float] = []

    chunks = list(retrying_stream(lambda: llm.invoke(user("hi"), params={}), _retry(sleeps)))

    assert "".join(c.delta for c in chunks) == "finally"
    assert llm_server.count(CHAT) == 3
    assert len(sleeps) == 2


def test_retries_stop_at_max_attempts_with_the_last_error(llm_server):
    llm_server.script("gpt-4o", failures=[500, 503, 500, 500])
    llm = registry.get_llm("openai", "gpt-4o", creds("openai", llm_server))

    with pytest.raises(InvokeServerUnavailableError):
        list(retrying_stream(lambda: llm.invoke(user("hi"), params={}), _retry()))

    assert llm_server.count(CHAT) == 3


def test_non_retryable_errors_are_not_retried(llm_server):
    llm_server.api_key = "sk-other"
    llm = registry.get_llm("openai", "gpt-4o", creds("openai", llm_server))

    with pytest.raises(InvokeAuthorizationError):
        list(retrying_stream(lambda: llm.invoke(user("hi"), params={}), _retry()))

    assert llm_server.count(CHAT) == 1


def test_a_failure_after_the_first_token_is_not_retried(llm_server):
    llm_server.script("gpt-4o", chunks=["one ", "two ", "three"], fail_after_chunks=1)
    llm = registry.get_llm("openai", "gpt-4o", creds("openai", llm_server))
    chunks = retrying_stream(lambda: llm.invoke(user("hi"), params={}), _retry())

    assert next(chunks).delta == "one "
    with pytest.raises(InvokeConnectionError):
        next(chunks)
    assert llm_server.count(CHAT) == 1


def test_fallback_answers_when_the_primary_keeps_failing(llm_server):
    llm_server.script("primary", failures=[500] * 10)
    llm_server.script("backup", reply="from backup")
    targets = [_target(llm_server, "primary"), _target(llm_server, "backup")]

    text, answered_by = _answer(invoke_with_fallbacks(targets, user("hi"), retry=_retry()))

    assert text == "from backup"
    assert answered_by == ["backup"]
    assert llm_server.count(CHAT, model="primary") == 3


def test_fallback_may_cross_providers_and_uses_each_targets_params(llm_server):
    llm_server.script("primary", failures=[(429, "insufficient_quota")])
    targets = [_target(llm_server, "primary"),
               ModelTarget("anthropic", "claude-3-5-haiku-latest", creds("anthropic", llm_server),
                           completion_params={"max_tokens": 77})]

    pairs = list(invoke_with_fallbacks(targets, user("hi"), retry=_retry()))

    assert pairs[-1][0].provider == "anthropic"
    assert pairs[-1][1].usage is not None
    assert llm_server.bodies("/v1/messages")[0]["max_tokens"] == 77


def test_primary_that_answers_is_used_without_touching_fallbacks(llm_server):
    targets = [_target(llm_server, "primary"), _target(llm_server, "backup")]

    _text, answered_by = _answer(invoke_with_fallbacks(targets, user("hi"), retry=_retry()))

    assert answered_by == ["primary"]
    assert llm_server.count(CHAT, model="backup") == 0


def test_misconfiguration_is_not_masked_by_fallbacks(llm_server):
    llm_server.script("primary", api_key="sk-other")
    targets = [_target(llm_server, "primary"), _target(llm_server, "backup")]

    with pytest.raises(InvokeAuthorizationError):
        list(invoke_with_fallbacks(targets, user("hi"), retry=_retry()))
    assert llm_server.count(CHAT, model="backup") == 0


def test_when_every_target_fails_the_last_error_is_raised(llm_server):
    llm_server.script("primary", failures=[500] * 5)
    targets = [_target(llm_server, "primary"),
               ModelTarget("ollama", "local", creds("ollama", llm_server))]
    llm_server.script("local", failures=[503] * 5)

    with pytest.raises(InvokeServerUnavailableError, match=r"^\[ollama\]"):
        list(invoke_with_fallbacks(targets, user("hi"), retry=_retry(attempts=2)))


def test_a_failure_after_the_first_token_does_not_fall_back(llm_server):
    llm_server.script("primary", chunks=["a", "b"], fail_after_chunks=1)
    targets = [_target(llm_server, "primary"), _target(llm_server, "backup")]

    with pytest.raises(InvokeConnectionError):
        list(invoke_with_fallbacks(targets, user("hi"), retry=_retry()))
    assert llm_server.count(CHAT, model="backup") == 0


def test_open_breaker_skips_the_primary_until_the_cooldown_passes(llm_server):
    llm_server.script("primary", failures=[500] * 100)
    llm_server.script("backup", reply="ok")
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=30, clock=clock)
    targets = [_target(llm_server, "primary"), _target(llm_server, "backup")]

    def ask() -> list[str]:
        return _answer(invoke_with_fallbacks(targets, user("hi"), retry=_retry(), breaker=breaker))[1]

    assert ask() == ["backup"]
    assert llm_server.count(CHAT, model="primary") == 3  # three consecutive failures open the breaker
    assert ask() == ["backup"]
    assert ask() == ["backup"]
    assert llm_server.count(CHAT, model="primary") == 3  # skipped: no request while open

    clock.now += 31
    assert ask() == ["backup"]
    assert llm_server.count(CHAT, model="primary") == 4  # half-open: exactly one trial call, which failed

    clock.now += 31
    llm_server.script("primary", reply="recovered")
    assert ask() == ["primary"]
    assert breaker.state(("openai", llm_server.url + "/v1", "primary")) == "closed"


def test_breaker_lets_one_trial_through_when_half_open():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10, clock=clock)
    key = ("openai", "http://x/v1", "m")
    breaker.record_failure(key)
    breaker.record_failure(key)

    assert breaker.state(key) == "open"
    assert not breaker.allow(key)
    clock.now += 10
    assert breaker.allow(key) is True
    assert breaker.allow(key) is False  # the trial is in flight
    breaker.release(key)
    assert breaker.allow(key) is True
    breaker.record_success(key)
    assert breaker.state(key) == "closed"


def test_open_breaker_fails_fast_with_a_cooldown_error(llm_server):
    breaker = CircuitBreaker(failure_threshold=1, clock=Clock())
    llm_server.script("gpt-4o", failures=[500] * 5)
    llm = registry.get_llm("openai", "gpt-4o", creds("openai", llm_server))
    key = (llm.provider, llm.endpoint, llm.model)

    with pytest.raises(InvokeServerUnavailableError):
        list(retrying_stream(lambda: llm.invoke(user("hi"), params={}), _retry(), breaker=breaker, key=key))

    assert llm_server.count(CHAT) == 1
    with pytest.raises(InvokeServerUnavailableError, match="on cooldown"):
        list(retrying_stream(lambda: llm.invoke(user("hi"), params={}), _retry(), breaker=breaker, key=key))
    assert llm_server.count(CHAT) == 1


def test_breaker_is_thread_safe_and_grants_a_single_half_open_trial():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=50, cooldown_seconds=5, clock=clock)
    key = ("p", "e", "m")
    threads = [threading.Thread(target=lambda: [breaker.record_failure(key) for _ in range(10)]) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state(key) == "open"
    clock.now += 5
    granted: list[bool] = []
    barrier = threading.Barrier(8)

    def contend() -> None:
        barrier.wait()
        granted.append(breaker.allow(key))

    contenders = [threading.Thread(target=contend) for _ in range(8)]
    for thread in contenders:
        thread.start()
    for thread in contenders:
        thread.join()

    assert sorted(granted) == [False] * 7 + [True]
