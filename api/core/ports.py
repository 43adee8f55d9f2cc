"""Ports the core and services talk to; `api.extensions` implements each twice
(Redis/Celery/S3 for distributed mode, in-process for embedded mode).

Nothing here knows which implementation it gets: the app factory picks once from settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Subscription(Protocol):
    def receive(self, timeout: float) -> bytes | None:
        """Next message, or None when `timeout` seconds pass without one."""

    def confirm(self) -> None:
        """Wait until the subscription is active (see Topic.subscribe); raises if the broker does not confirm it."""

    def close(self) -> None: ...


class Topic(Protocol):
    """A named at-most-once broadcast channel (Redis pub/sub or an in-process fan-out)."""

    def publish(self, message: bytes) -> None: ...

    def publish_nowait(self, message: bytes) -> None:
        """Queue `message` for publishing without waiting for the broker; messages of one process reach the
        broker in the order they were queued. For high-rate streams (one event per model token)."""
        ...

    def subscribe(self, *, confirmed: bool = True) -> Subscription:
        """Subscribe; it sees what is published after it is active. With `confirmed` (the default) this returns
        once it is; with False it returns once the request is sent (a broker that cannot be reached still raises
        here): call `confirm()` before anything publishes what it must see. Other work can overlap the wait."""
        ...


class Broadcaster(Protocol):
    def topic(self, name: str) -> Topic: ...

    def listen(self, name: str, handler: Callable[[bytes], None], on_reset: Callable[[], None]) -> None:
        """Call `handler` for every message on `name` from a background thread for the process's life.

        `on_reset` runs whenever messages may have been missed (connection re-established).
        """


class CounterStore(Protocol):
    """Shared counters and small values with expiry (Redis or in-process)."""

    def incr(self, key: str, *, ttl_seconds: int) -> int:
        """Increment and return; the key expires `ttl_seconds` after its first increment."""

    def get_int(self, key: str) -> int: ...

    def delete(self, *keys: str) -> None: ...

    def ttl(self, key: str) -> int:
        """Seconds until `key` expires; 0 when missing."""

    def set(self, key: str, value: str, *, ttl_seconds: int) -> None: ...

    def get(self, key: str) -> str | None: ...

    def exists_many(self, keys: list[str]) -> list[bool]:
        """Which of `keys` exist, in one round trip."""
        ...

    def acquire_slot(self, key: str, member: str, *, limit: int, stale_after: int) -> bool:
        """Add `member` to the set `key` unless it already holds `limit` live members.

        Members older than `stale_after` seconds are dropped first, so a crashed holder
        cannot leak a slot forever.
        """

    def release_slot(self, key: str, member: str) -> None: ...


class Dispatcher(Protocol):
    def send(self, task_name: str, *args: object) -> None:
        """Run the task named `task_name` in the background (Celery by name, or a local thread)."""


class Storage(Protocol):
    def save(self, key: str, data: bytes) -> None: ...

    def load(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...
