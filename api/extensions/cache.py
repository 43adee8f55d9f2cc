"""A per-process TTL cache whose invalidations reach every process at once.

Hot-path lookups (API key → app snapshot) are served from process memory. Writers call
`invalidate(key)`, which evicts locally and broadcasts the key; every process's listener
evicts it too. If a listener loses its connection it clears the whole cache on reconnect,
and entries also expire after `ttl` seconds, so staleness is bounded even then.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from api.core.ports import Broadcaster
from api.extensions.redis_keys import CACHE_INVALIDATION_CHANNEL
from api.libs.single_flight import SingleFlight

MISSING = object()


class InvalidatingCache:
    def __init__(self, broadcaster: Broadcaster, ttl_seconds: float, max_entries: int = 50_000) -> None:
        self._broadcaster = broadcaster
        self._ttl = ttl_seconds
        self._max = max_entries
        self._data: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()
        self._listening_pid: int | None = None
        self._generation = 0  # bumped by every eviction: a load that raced one is not cached
        self._loads = SingleFlight()

    def _ensure_listening(self) -> None:
        # Started lazily so that each forked gunicorn worker runs its own listener thread.
        pid = os.getpid()
        if self._listening_pid == pid:
            return
        with self._lock:
            if self._listening_pid == pid:
                return
            self._listening_pid = pid
            self._data.clear()
        self._broadcaster.listen(CACHE_INVALIDATION_CHANNEL, self._on_message, self.clear)

    def _on_message(self, data: bytes) -> None:
        self._evict(data.decode())

    def _evict(self, key: str) -> None:
        with self._lock:
            self._generation += 1
            self._data.pop(key, None)

    def get(self, key: str) -> Any:
        self._ensure_listening()
        entry = self._data.get(key)
        if entry is None or entry[1] < time.monotonic():
            return MISSING
        return entry[0]

    def get_or_load(self, key: str, loader: Callable[[], Any]) -> Any:
        """The cached value, or `loader()`'s (cached unless an eviction raced the load). Concurrent misses of one
        key run the loader once: the others wait for it and take what it cached (SingleFlight)."""
        value = self.get(key)
        if value is not MISSING:
            return value
        if self._ttl <= 0:  # nothing is cached: nothing to wait for
            return loader()
        with self._loads.turn(key) as first:
            if not first:
                value = self.get(key)
                if value is not MISSING:
                    return value
            generation = self._generation
            value = loader()
            with self._lock:
                if generation == self._generation:
                    if len(self._data) >= self._max:
                        self._data.clear()
                    self._data[key] = (value, time.monotonic() + self._ttl)
        return value

    def set(self, key: str, value: Any) -> None:
        self._ensure_listening()
        if self._ttl <= 0:
            return
        with self._lock:
            if len(self._data) >= self._max:
                self._data.clear()
            self._data[key] = (value, time.monotonic() + self._ttl)

    def invalidate(self, *keys: str) -> None:
        self._ensure_listening()
        topic = self._broadcaster.topic(CACHE_INVALIDATION_CHANNEL)
        for key in keys:
            self._evict(key)
            topic.publish(key.encode())

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._data.clear()
