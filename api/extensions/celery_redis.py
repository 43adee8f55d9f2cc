"""Kombu's Redis transport with three changes (the broker transport for `redis://` brokers), and a direct publisher.

1. One Redis client per channel. Kombu's Redis channel builds a new `redis.Redis` object for every command it
   sends without an explicit client: each publish (`LPUSH`), and each delivery's and ack's bookkeeping pipeline.
   Building one means building redis-py's table of about 170 response callbacks (in the worker, about 6% of its
   CPU). Here the channel keeps one client over its pool (redis-py clients are safe to share between threads;
   pipelines are still created per use) and makes a new one only when kombu replaces the pool (after a
   connection error).
2. Deliveries of the run queue are tracked in memory only (`QoS`): no Redis round trip before a run starts or
   at its ack.
3. `TaskPublisher`: the API's way to queue a task without kombu's publish path.

Everything else is kombu's transport, unchanged.
"""

from __future__ import annotations

import base64
import os
import queue
import uuid
from typing import Any

import redis
from celery import Celery
from celery.utils.nodenames import anon_nodename
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps
from redis.connection import AbstractConnection

from api.extensions.pubsub import dedicated_connection_factory

TRANSPORT = f"{__name__}:Transport"
CLIENT_NAME = "task-publisher"  # how its connections show in CLIENT LIST


MEMORY_ONLY_QUEUES = frozenset({"run"})  # generation (api.extensions.celery QUEUES)


def _memory_only(message: Any) -> bool:
    return message is not None and message.delivery_info.get("routing_key") in MEMORY_ONLY_QUEUES


class QoS(kombu_redis.QoS):
    """Kombu's Redis QoS, except that a delivery from a MEMORY_ONLY queue is tracked in this process only.

    For every delivered message kombu writes a copy to Redis (ZADD + HSET, before the task starts) and removes it
    at the ack (ZREM + HDEL), so that a message whose worker vanished is delivered again after the
    `visibility_timeout` (an hour). A chat run is worth running only while its client waits: by then the API has
    ended the message (the worker fell silent), and the run's claim refuses a second delivery. So for the run
    queue those two round trips per run buy nothing. Its deliveries are only counted here (kombu's base QoS):
    the prefetch limit holds as before; a message rejected with requeue, or still unacked when the channel
    closes (warm or cold shutdown), is pushed back onto its queue from memory; a worker killed outright loses
    the runs it held, which are ended by the API's timeouts as before.
    """

    def append(self, message: Any, delivery_tag: str) -> None:
        if _memory_only(message):
            virtual.QoS.append(self, message, delivery_tag)
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        if _memory_only(self._delivered.get(delivery_tag)):
            virtual.QoS.ack(self, delivery_tag)
        else:
            super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if _memory_only(self._delivered.get(delivery_tag)):
            virtual.QoS.reject(self, delivery_tag, requeue=requeue)  # requeue: Channel._restore, leftmost
        else:
            super().reject(delivery_tag, requeue=requeue)

    def restore_by_tag(self, tag: str, client: Any = None, leftmost: bool = False) -> None:
        message = self._delivered.get(tag)
        if _memory_only(message):
            self.channel._restore(message, leftmost=leftmost)
        else:
            super().restore_by_tag(tag, client=client, leftmost=leftmost)


class Channel(kombu_redis.Channel):
    QoS = QoS
    _shared_client: Any = None
    _shared_client_pool: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # kombu caches the asynchronous (BRPOP) client itself
            return super()._create_client(asynchronous=True)
        pool = self.pool
        client = self._shared_client
        if client is None or self._shared_client_pool is not pool:
            client = super()._create_client()
            self._shared_client, self._shared_client_pool = client, pool
        return client

    def _restore(self, message: Any, leftmost: bool = False) -> None:
        if not _memory_only(message):
            super()._restore(message, leftmost=leftmost)
            return
        with self.conn_or_acquire() as client:  # no copy in Redis: push back the one delivered
            pipe = client.pipeline()
            info = message.delivery_info
            self._do_restore_message(message._raw, info["exchange"], info["routing_key"], pipe, leftmost)
            pipe.execute()


class Transport(kombu_redis.Transport):
    Channel = Channel


class TaskPublisher:
    """Celery task messages pushed straight onto kombu's Redis queue lists: one `LPUSH` on a kept connection.

    `Celery.send_task` spends about 500 µs of CPU per message on this path (router, producer pool, kombu's
    publish machinery and redis-py's command layer), the largest single cost of accepting a chat turn. Here the
    message itself is still Celery's (`app.amqp.as_task_v2`: protocol 2 headers and body, exactly what
    `send_task` sends), and its envelope is the one kombu's Redis transport writes (body base64-encoded,
    `delivery_info` for the anonymous exchange, a fresh `delivery_tag`), so a stock Celery worker consumes it as
    any other; a test compares the two envelopes field by field. What is skipped: the publish signals
    (`before_task_publish`/`after_task_publish`) and kombu's retry policy — one retry on a fresh connection
    instead, then the error (the caller answers 503).

    Only for tasks routed to a queue of a direct exchange, without priority, on a plain `redis://` broker
    without transport options (`for_broker` answers None for any other: use `send_task`).
    """

    @classmethod
    def for_broker(cls, celery: Celery, broker_url: str) -> TaskPublisher | None:
        if not broker_url.startswith("redis://") or celery.conf.broker_transport_options:
            return None
        return cls(celery, broker_url)

    def __init__(self, celery: Celery, broker_url: str) -> None:
        self._celery = celery
        client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=2)
        self._make = dedicated_connection_factory(client, client_name=CLIENT_NAME)
        self._idle: queue.SimpleQueue[AbstractConnection] = queue.SimpleQueue()
        self._queues: dict[str, str] = {}
        self._pid = 0
        self._origin = ""

    def publish(self, task_name: str, args: list[object], argsrepr: str) -> None:
        """Send `task_name(*args)` to its queue; raises when Redis does not take it (nothing sent, or unknown)."""
        if self._pid != os.getpid():  # forked: the parent's connections are not ours
            self._pid, self._idle, self._origin = os.getpid(), queue.SimpleQueue(), anon_nodename()
        queue_name = self._queues.get(task_name) or self._route(task_name)
        task_id = str(uuid.uuid4())
        headers, properties, body, _ = self._celery.amqp.as_task_v2(
            task_id, task_name, args=args, kwargs={}, argsrepr=argsrepr, kwargsrepr="{}", origin=self._origin,
            reply_to=self._celery.thread_oid, ignore_result=None)
        properties.update(argsrepr=argsrepr, kwargsrepr="{}", delivery_mode=2,
                          delivery_info={"exchange": "", "routing_key": queue_name}, priority=0,
                          body_encoding="base64", delivery_tag=str(uuid.uuid4()))
        envelope = dumps({"body": base64.b64encode(dumps(body).encode()).decode(), "content-encoding": "utf-8",
                          "content-type": "application/json", "headers": headers, "properties": properties})
        self._lpush(queue_name, envelope)

    def _route(self, task_name: str) -> str:
        route = self._celery.amqp.router.route({}, task_name, (), {})
        queue_entity = route.get("queue")
        if queue_entity is None or queue_entity.exchange.type != "direct":
            raise ValueError(f"{task_name} is not routed to a queue of a direct exchange")
        self._queues[task_name] = queue_entity.name
        return queue_entity.name

    def _lpush(self, key: str, value: str) -> None:
        for attempt in (1, 2):
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._make()
            try:
                conn.send_command("LPUSH", key, value, check_health=False)
                conn.read_response()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                conn.disconnect()
                if attempt == 2:  # a fresh connection failed too: Redis is down
                    raise
                continue  # a kept connection may have gone stale (Redis restarted): once more on a new one
            except BaseException:
                conn.disconnect()
                raise
            self._idle.put(conn)
            return
