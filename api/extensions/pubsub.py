"""Broadcaster implementations: Redis pub/sub (distributed) and an in-process fan-out (embedded).

Both are at-most-once: a subscriber sees only what is published after it subscribed, which is
why callers subscribe before they dispatch work that publishes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import redis

logger = logging.getLogger(__name__)


class _RedisSubscription:
    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._pubsub = client.pubsub()
        self._pubsub.subscribe(channel)
        # Wait for Redis to confirm, so whatever is published after this returns is delivered.
        deadline = time.monotonic() + 5.0
        while True:
            message = self._pubsub.get_message(timeout=max(deadline - time.monotonic(), 0.0))
            if message is not None and message["type"] == "subscribe":
                break
            if time.monotonic() >= deadline:
                self._pubsub.close()
                raise redis.exceptions.TimeoutError(f"no subscribe confirmation for {channel}")

    def receive(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            message = self._pubsub.get_message(timeout=max(deadline - time.monotonic(), 0.0))
            if message is None:
                return None
            if message["type"] == "message":
                return message["data"]

    def close(self) -> None:
        self._pubsub.close()


class _RedisTopic:
    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._redis, self._channel = client, channel

    def publish(self, message: bytes) -> None:
        self._redis.publish(self._channel, message)

    def subscribe(self) -> _RedisSubscription:
        return _RedisSubscription(self._redis, self._channel)


class RedisBroadcaster:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def topic(self, name: str) -> _RedisTopic:
        return _RedisTopic(self._redis, name)

    def listen(self, name: str, handler: Callable[[bytes], None], on_reset: Callable[[], None]) -> None:
        def loop() -> None:
            while True:
                try:
                    sub = self.topic(name).subscribe()
                    on_reset()  # anything published while we were not subscribed is lost
                    while True:
                        data = sub.receive(timeout=30.0)
                        if data is not None:
                            handler(data)
                except Exception:
                    logger.warning("broadcast listener lost its connection channel=%s; reconnecting", name)
                    time.sleep(1.0)

        threading.Thread(target=loop, name=f"listen:{name}", daemon=True).start()


class _LocalSubscription:
    def __init__(self, hub: LocalBroadcaster, name: str) -> None:
        self._hub, self._name = hub, name
        self.queue: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def receive(self, timeout: float) -> bytes | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._hub._remove(self._name, self)


class _LocalTopic:
    def __init__(self, hub: LocalBroadcaster, name: str) -> None:
        self._hub, self._name = hub, name

    def publish(self, message: bytes) -> None:
        for sub in self._hub._subscribers(self._name):
            sub.queue.put(message)

    def subscribe(self) -> _LocalSubscription:
        sub = _LocalSubscription(self._hub, self._name)
        self._hub._add(self._name, sub)
        return sub


class LocalBroadcaster:
    def __init__(self) -> None:
        self._subs: dict[str, list[_LocalSubscription]] = {}
        self._lock = threading.Lock()

    def _add(self, name: str, sub: _LocalSubscription) -> None:
        with self._lock:
            self._subs.setdefault(name, []).append(sub)

    def _remove(self, name: str, sub: _LocalSubscription) -> None:
        with self._lock:
            subs = self._subs.get(name, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                self._subs.pop(name, None)

    def _subscribers(self, name: str) -> list[_LocalSubscription]:
        with self._lock:
            return list(self._subs.get(name, ()))

    def topic(self, name: str) -> _LocalTopic:
        return _LocalTopic(self, name)

    def listen(self, name: str, handler: Callable[[bytes], None], on_reset: Callable[[], None]) -> None:
        sub = self.topic(name).subscribe()

        def loop() -> None:
            while True:
                data = sub.receive(timeout=60.0)
                if data is not None:
                    handler(data)

        threading.Thread(target=loop, name=f"listen:{name}", daemon=True).start()
