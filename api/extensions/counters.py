"""CounterStore implementations: Redis (shared by every process) and in-process (embedded mode)."""

from __future__ import annotations

import threading
import time

import redis

# Atomic "drop stale, check size, add" for concurrency slots (a sorted set scored by start time).
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class RedisCounterStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._acquire = client.register_script(_ACQUIRE)

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

    def set(self, key: str, value: str, *, ttl_seconds: int) -> None:
        self._redis.set(key, value, ex=ttl_seconds)

    def get(self, key: str) -> str | None:
        value = self._redis.get(key)
        return value.decode() if isinstance(value, bytes) else value

    def exists_many(self, keys: list[str]) -> list[bool]:
        return [value is not None for value in self._redis.mget(keys)] if keys else []

    def acquire_slot(self, key: str, member: str, *, limit: int, stale_after: int) -> bool:
        now = time.time()
        return bool(self._acquire(keys=[key], args=[now - stale_after, now, limit, member, stale_after]))

    def release_slot(self, key: str, member: str) -> None:
        self._redis.zrem(key, member)


class LocalCounterStore:
    """Thread-safe dict of (value, expires_at); correct for the single embedded process."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}
        self._values: dict[str, tuple[str, float]] = {}
        self._slots: dict[str, dict[str, float]] = {}
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

    def set(self, key: str, value: str, *, ttl_seconds: int) -> None:
        with self._lock:
            self._values[key] = (value, time.monotonic() + ttl_seconds)

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._values.get(key)
            if entry is None or entry[1] <= time.monotonic():
                self._values.pop(key, None)
                return None
            return entry[0]

    def exists_many(self, keys: list[str]) -> list[bool]:
        return [self.get(key) is not None for key in keys]

    def acquire_slot(self, key: str, member: str, *, limit: int, stale_after: int) -> bool:
        now = time.monotonic()
        with self._lock:
            slots = self._slots.setdefault(key, {})
            for stale in [m for m, started in slots.items() if started <= now - stale_after]:
                del slots[stale]
            if len(slots) >= limit:
                return False
            slots[member] = now
            return True

    def release_slot(self, key: str, member: str) -> None:
        with self._lock:
            self._slots.get(key, {}).pop(member, None)
