"""CounterStore implementations: Redis (shared by every process) and in-process (embedded mode)."""

from __future__ import annotations

import threading
import time

import redis


class RedisCounterStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def incr(self, key: str, *, ttl_seconds: int) -> int:
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, ttl_seconds, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def get_int(self, key: str) -> int:
        value = self._redis.get(key)
        return int(value) if value is not None else 0

    def delete(self, *keys: str) -> None:
        if keys:
            self._redis.delete(*keys)

    def ttl(self, key: str) -> int:
        return max(int(self._redis.ttl(key)), 0)


class LocalCounterStore:
    """Thread-safe dict of (value, expires_at); correct for the single embedded process."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] <= now:
            del self._data[key]
            return None
        return entry

    def incr(self, key: str, *, ttl_seconds: int) -> int:
        now = time.monotonic()
        with self._lock:
            entry = self._live(key, now)
            value, expires = (entry[0] + 1, entry[1]) if entry else (1, now + ttl_seconds)
            self._data[key] = (value, expires)
            return value

    def get_int(self, key: str) -> int:
        with self._lock:
            entry = self._live(key, time.monotonic())
            return entry[0] if entry else 0

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def ttl(self, key: str) -> int:
        now = time.monotonic()
        with self._lock:
            entry = self._live(key, now)
            return int(entry[1] - now) if entry else 0
