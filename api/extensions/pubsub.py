"""Broadcaster implementations: Redis pub/sub (distributed) and an in-process fan-out (embedded).

Both are at-most-once: a subscriber sees only what is published after it subscribed, which is
why callers subscribe before they dispatch work that publishes.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable

import redis

logger = logging.getLogger(__name__)


_LOST = object()  # queued to every subscription when the shared connection drops
CONFIRM_TIMEOUT = 5.0
POLL_SECONDS = 1.0


def dedicated_connection_factory(client: redis.Redis,
                                  **overrides: object) -> Callable[[], redis.connection.AbstractConnection]:
    """New connections like the client's (URL, auth, TLS, db), outside its pool, speaking RESP2 without
    health-check PINGs: their owner thread alone reads and writes them."""
    pool = client.connection_pool
    kwargs = {key: value for key, value in pool.connection_kwargs.items()
              if not key.startswith(("maint_notifications", "orig_"))}
    kwargs.update(protocol=2, health_check_interval=0, **overrides)
    return lambda: pool.connection_class(**kwargs)


class _MuxSubscription:
    def __init__(self, mux: _Multiplexer, channel: str) -> None:
        self._mux, self.channel = mux, channel
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.confirmed = threading.Event()
        self.lost = False

    def receive(self, timeout: float) -> bytes | None:
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _LOST:
            self.queue.put(_LOST)  # stays lost for every later call
            raise redis.exceptions.ConnectionError("the pub/sub connection to Redis was lost")
        return item  # type: ignore[return-value]

    def confirm(self) -> None:
        self._mux.confirm(self)

    def close(self) -> None:
        self._mux.remove(self)


class _Multiplexer:
    """Every subscription of this process over ONE Redis pub/sub connection, read by one thread.

    A subscription costs one SUBSCRIBE round trip (its confirmation is awaited, by `subscribe()` or later by
    `confirm()`, so nothing published after that is missed) instead of a connect, a handshake and a close per
    stream. When the connection drops, every open subscription is told (its `receive` raises) and the next subscribe
    reconnects: nothing is silently resubscribed with a gap in between.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._make = dedicated_connection_factory(client)
        self._lock = threading.Lock()
        self._conn: redis.connection.AbstractConnection | None = None
        self._pid = 0
        self._subs: dict[str, set[_MuxSubscription]] = {}

    def subscribe(self, channel: str, *, wait: bool = True) -> _MuxSubscription:
        """A subscription to `channel`; with `wait`, active when returned (else see `confirm`)."""
        sub = _MuxSubscription(self, channel)
        with self._lock:
            conn = self._connection()
            subs = self._subs.setdefault(channel, set())
            confirmed = any(other.confirmed.is_set() for other in subs)
            subs.add(sub)
            if confirmed:
                sub.confirmed.set()
            elif len(subs) == 1:
                try:
                    conn.send_command("SUBSCRIBE", channel, check_health=False)
                except Exception:
                    self._drop(conn)
                    raise
        if wait:
            self.confirm(sub)
        return sub

    def confirm(self, sub: _MuxSubscription) -> None:
        """Wait for Redis to confirm the subscription (at once if it has); raises (and removes it) if it does
        not within CONFIRM_TIMEOUT, or the connection was lost meanwhile."""
        if not sub.confirmed.wait(CONFIRM_TIMEOUT) or sub.lost:
            self.remove(sub)
            raise redis.exceptions.TimeoutError(f"no subscribe confirmation for {sub.channel}")

    def remove(self, sub: _MuxSubscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.channel)
            if subs is None or sub not in subs:
                return
            subs.discard(sub)
            if subs:
                return
            del self._subs[sub.channel]
            if self._conn is not None:
                try:
                    self._conn.send_command("UNSUBSCRIBE", sub.channel, check_health=False)
                except Exception:
                    logger.warning("pub/sub unsubscribe failed; the reader will reconnect")

    def _connection(self) -> redis.connection.AbstractConnection:
        """The live shared connection (caller holds the lock); a new one, with its reader, if none."""
        if self._pid != os.getpid():  # forked: the parent's socket and reader are not ours
            self._pid, self._conn, self._subs = os.getpid(), None, {}
        if self._conn is None:
            conn = self._make()
            conn.connect()
            self._conn = conn
            threading.Thread(target=self._read, args=(conn,), name="pubsub-reader", daemon=True).start()
        return self._conn

    def _drop(self, conn: redis.connection.AbstractConnection) -> None:
        """Forget a broken connection and tell every subscription on it (caller holds the lock)."""
        if self._conn is not conn:
            return
        self._conn = None
        for subs in self._subs.values():
            for sub in subs:
                sub.lost = True
                sub.queue.put(_LOST)
                sub.confirmed.set()
        self._subs = {}
        try:
            conn.disconnect()
        except Exception:
            logger.debug("closing a broken pub/sub connection failed", exc_info=True)

    def _read(self, conn: redis.connection.AbstractConnection) -> None:
        try:
            while self._conn is conn:
                if not conn.can_read(timeout=POLL_SECONDS):
                    continue
                reply = conn.read_response(disconnect_on_error=False)
                self._dispatch(reply)
        except Exception as exc:
            if self._conn is conn:
                logger.warning("pub/sub connection lost: %s", type(exc).__name__)
        with self._lock:
            self._drop(conn)

    def _dispatch(self, reply: object) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return
        kind = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        channel = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        if kind == "message":
            for sub in list(self._subs.get(channel, ())):
                sub.queue.put(reply[2])
        elif kind == "subscribe":
            for sub in list(self._subs.get(channel, ())):
                sub.confirmed.set()


class _BatchPublisher:
    """One thread per process sends every queued PUBLISH, as many per round trip as are waiting.

    A run publishes one event per model token; a round trip (and a pooled connection) per event made Redis
    I/O two thirds of a busy worker's time. Nothing waits to fill a batch: a lone event goes out at once.
    The sender owns one connection: a batch is packed as RESP in one buffer, written with one send, and its
    replies (one line each: an integer, or an error) are counted off the socket, not parsed one by one.
    Per channel the order is kept (one FIFO, one sender). About MAX_QUEUED events may wait; beyond that
    `put` waits for the sender (back-pressure instead of unbounded memory)."""

    MAX_QUEUED = 100_000
    MAX_BATCH = 500

    def __init__(self, client: redis.Redis) -> None:
        timeout = client.connection_pool.connection_kwargs.get("socket_timeout") or 10.0
        self._make = dedicated_connection_factory(client, socket_timeout=timeout)
        self._queue: queue.SimpleQueue[tuple[bytes, bytes]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid = 0

    def put(self, channel: str, message: bytes) -> None:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    self._queue = queue.SimpleQueue()
                    threading.Thread(target=self._run, args=(self._queue,), name="pubsub-publisher",
                                     daemon=True).start()
        while self._queue.qsize() >= self.MAX_QUEUED:
            time.sleep(0.001)
        self._queue.put((channel.encode(), message))

    def _run(self, pending: queue.SimpleQueue[tuple[bytes, bytes]]) -> None:
        conn: redis.connection.AbstractConnection | None = None
        while True:
            batch = [pending.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            try:
                if conn is None:
                    conn = self._make()
                    conn.connect()
                conn.send_packed_command([b"".join(_PUBLISH % (len(channel), channel, len(message), message)
                                                   for channel, message in batch)], check_health=False)
                _await_replies(conn, len(batch))
            except Exception as exc:  # subscribers notice (transport error or heartbeat silence); keep serving others
                logger.warning("dropped %d pub/sub events: Redis unavailable (%s)", len(batch), type(exc).__name__)
                if conn is not None:
                    conn.disconnect()
                conn = None


_PUBLISH = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"


def _await_replies(conn: redis.connection.AbstractConnection, count: int) -> None:
    """Read `count` one-line RESP replies (PUBLISH answers `:n` or `-error`) straight off the socket."""
    sock = conn._sock  # the connection is ours alone; its parser buffer is empty (we never read through it)
    if sock is None:
        raise redis.exceptions.ConnectionError("not connected")
    carriage_return = failed = False
    while count > 0:
        data = sock.recv(65536)
        if not data:
            raise redis.exceptions.ConnectionError("Redis closed the connection")
        count -= data.count(b"\r\n") + (1 if carriage_return and data[:1] == b"\n" else 0)
        carriage_return = data[-1:] == b"\r"
        failed = failed or data[:1] == b"-" or b"\n-" in data
    if failed:
        logger.warning("Redis refused some pub/sub events")


class _RedisTopic:
    def __init__(self, client: redis.Redis, mux: _Multiplexer, batcher: _BatchPublisher, channel: str) -> None:
        self._redis, self._mux, self._batcher, self._channel = client, mux, batcher, channel

    def publish(self, message: bytes) -> None:
        self._redis.publish(self._channel, message)

    def publish_nowait(self, message: bytes) -> None:
        self._batcher.put(self._channel, message)

    def subscribe(self, *, confirmed: bool = True) -> _MuxSubscription:
        return self._mux.subscribe(self._channel, wait=confirmed)


class RedisBroadcaster:
    """Publishes through the shared client; subscribes through one multiplexed connection per process."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._mux = _Multiplexer(client)
        self._batcher = _BatchPublisher(client)

    def topic(self, name: str) -> _RedisTopic:
        return _RedisTopic(self._redis, self._mux, self._batcher, name)

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

    def confirm(self) -> None:
        pass  # active from the start

    def close(self) -> None:
        self._hub._remove(self._name, self)


class _LocalTopic:
    def __init__(self, hub: LocalBroadcaster, name: str) -> None:
        self._hub, self._name = hub, name

    def publish(self, message: bytes) -> None:
        for sub in self._hub._subscribers(self._name):
            sub.queue.put(message)

    def publish_nowait(self, message: bytes) -> None:
        self.publish(message)  # in-process: already cheap and non-blocking

    def subscribe(self, *, confirmed: bool = True) -> _LocalSubscription:
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
