"""Relay a run's events from a topic subscription to a client, with pings and failure detection.

`relay(subscription, ...)` yields events (as RawEvents: the producer's bytes, never re-serialised)
and `None` for a keep-alive ping, until a terminal event arrives. It never hangs: when the producer
goes silent (no heartbeat within `lost_timeout` after it claimed the run, or nothing within
`queue_timeout` before that), reports that it could not start the run (`_failed`), or the transport
fails, it yields one synthesised `error` event (a dict) and stops. Internal control events
(`_claimed`, `_heartbeat`, `_failed`) are consumed here and never reach the client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from api.core.ports import Subscription
from api.libs.sse import RawEvent

TERMINAL_EVENTS = frozenset({"message_end", "workflow_finished", "error"})
CLAIMED, HEARTBEAT, FAILED = "_claimed", "_heartbeat", "_failed"


@dataclass(frozen=True)
class RelayTimeouts:
    ping_interval: float = 10.0
    queue_timeout: float = 60.0  # nobody claimed the run (no worker running?)
    lost_timeout: float = 10.0  # the worker claimed it, then went silent (died?)
    idle_timeout: float = 300.0  # heartbeats but no events at all


@dataclass(frozen=True)
class RelayFailure:
    reason: str  # "queue_timeout" | "worker_lost" | "idle_timeout" | "transport" | "worker_failed"
    message: str


def relay(subscription: Subscription, *, timeouts: RelayTimeouts, on_failure: Callable[[RelayFailure], dict[str, Any]],
          clock: Callable[[], float] = time.monotonic) -> Iterator[RawEvent | dict[str, Any] | None]:
    """Yield client events from `subscription` until a terminal one; see the module docstring."""
    claimed = False
    now = clock()
    last_message = last_event = last_ping = now
    while True:
        wait = max(0.0, min(last_ping + timeouts.ping_interval, last_message + _silence_limit(timeouts, claimed))
                   - clock())
        try:
            raw = subscription.receive(timeout=max(wait, 0.001))
        except Exception:  # the transport (e.g. Redis) dropped: end the stream, never hang
            yield on_failure(RelayFailure("transport", "The event stream was interrupted."))
            return
        now = clock()
        if raw is not None:
            last_message = now
            claimed = True  # only the worker that claimed the run publishes on its topic
            event = RawEvent.of(raw)
            name = event.name
            if name == CLAIMED:
                continue
            if name == FAILED:  # the worker could not start the run (e.g. its database was unreachable)
                yield on_failure(RelayFailure("worker_failed", "The worker could not start this request."))
                return
            if name == HEARTBEAT:
                if now - last_event > timeouts.idle_timeout:
                    yield on_failure(RelayFailure("idle_timeout", "The run produced no output in time."))
                    return
                continue
            last_event = now
            yield event
            if name in TERMINAL_EVENTS:
                return
            continue
        if now - last_message >= _silence_limit(timeouts, claimed):
            reason = "worker_lost" if claimed else "queue_timeout"
            message = ("The worker running this request stopped responding." if claimed
                       else "No worker picked up this request in time.")
            yield on_failure(RelayFailure(reason, message))
            return
        if now - last_ping >= timeouts.ping_interval:
            last_ping = now
            yield None


def _silence_limit(timeouts: RelayTimeouts, claimed: bool) -> float:
    return timeouts.lost_timeout if claimed else timeouts.queue_timeout
