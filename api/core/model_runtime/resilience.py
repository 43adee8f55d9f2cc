"""Retries with backoff and a per-endpoint circuit breaker, in-process and thread-safe.

Rules: only retryable InvokeErrors (429 rate limit, 5xx, connection/timeouts) are retried, and only before the
first chunk was yielded: once text reached the caller, errors propagate unchanged. The breaker is keyed by
(provider, endpoint base URL, model); after `failure_threshold` consecutive retryable failures the key is open and
calls fail at once with InvokeServerUnavailableError("… on cooldown") until `cooldown_seconds` pass, then one trial
call is let through (half-open). Any answer from the endpoint, including a non-retryable error such as 401,
proves it is up and closes the key. Sleep and clock are injectable so tests never wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from api.core.model_runtime.entities import LLMChunk
from api.core.model_runtime.errors import InvokeError, InvokeServerUnavailableError

BreakerKey = tuple[str, str, str]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff after failed attempt number `attempt` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self.rng.uniform(0, cap)


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass
class _KeyState:
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False


class CircuitBreaker:
    def __init__(self, failure_threshold: int = 3, cooldown_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._states: dict[BreakerKey, _KeyState] = {}
        self._lock = threading.Lock()

    def state(self, key: BreakerKey) -> str:
        """"closed", "open" (cooling down) or "half_open" (cooldown over; a trial is allowed or running)."""
        with self._lock:
            return self._state_locked(key)

    def _state_locked(self, key: BreakerKey) -> str:
        entry = self._states.get(key)
        if entry is None or entry.opened_at is None:
            return "closed"
        if self._clock() - entry.opened_at < self.cooldown_seconds:
            return "open"
        return "half_open"

    def allow(self, key: BreakerKey) -> bool:
        """May a call to `key` go out now? In half-open state exactly one caller gets True (the trial),
        and must then report record_success, record_failure or release."""
        with self._lock:
            current = self._state_locked(key)
            if current == "closed":
                return True
            entry = self._states[key]
            if current == "half_open" and not entry.trial_in_flight:
                entry.trial_in_flight = True
                return True
            return False

    def check(self, key: BreakerKey) -> None:
        """allow() or raise InvokeServerUnavailableError naming the cooling-down model."""
        if not self.allow(key):
            provider, _endpoint, model = key
            raise InvokeServerUnavailableError(f"[{provider}] Error: model {model} is on cooldown after "
                                               f"{self.failure_threshold} consecutive failures")

    def record_success(self, key: BreakerKey) -> None:
        with self._lock:
            self._states.pop(key, None)

    def record_failure(self, key: BreakerKey) -> None:
        with self._lock:
            entry = self._states.setdefault(key, _KeyState())
            entry.failures += 1
            entry.trial_in_flight = False
            if entry.opened_at is not None or entry.failures >= self.failure_threshold:
                entry.opened_at = self._clock()

    def release(self, key: BreakerKey) -> None:
        """Give back a half-open trial that ended without a verdict (e.g. the caller stopped reading)."""
        with self._lock:
            entry = self._states.get(key)
            if entry is not None:
                entry.trial_in_flight = False


def breaker_key(provider: str, endpoint: str, model: str) -> BreakerKey:
    return (provider, endpoint, model)


def retrying_stream(
    open_stream: Callable[[], Iterator[LLMChunk]],
    retry: RetryPolicy,
    *,
    breaker: CircuitBreaker | None = None,
    key: BreakerKey | None = None,
) -> Iterator[LLMChunk]:
    """Chunks of `open_stream()`, re-opened after retryable failures that happen before the first chunk.

    Each attempt first asks the breaker (raising the "on cooldown" error when open). A failure after a chunk was
    yielded propagates without retry. The last error is raised when attempts run out.
    """
    gate = breaker if key is not None else None
    gate_key: BreakerKey = key or ("", "", "")
    attempt = 0
    while True:
        attempt += 1
        if gate:
            gate.check(gate_key)
        verdict = gate is None
        yielded = False
        try:
            for chunk in open_stream():
                if gate and not verdict:
                    gate.record_success(gate_key)
                    verdict = True
                yielded = True
                yield chunk
            if gate and not verdict:
                gate.record_success(gate_key)
                verdict = True
            return
        except InvokeError as error:
            if yielded:
                raise
            if gate:
                (gate.record_failure if error.retryable else gate.record_success)(gate_key)
                verdict = True
            if not error.retryable or attempt >= retry.max_attempts:
                raise
        finally:
            if gate and not verdict:
                gate.release(gate_key)
        retry.sleep(retry.delay(attempt))
