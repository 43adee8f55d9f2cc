"""The broker transport's run-queue deliveries against a real Redis: tracked in memory, never lost by a requeue
or a closed channel, and every other queue still gets kombu's Redis bookkeeping."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection, Consumer, Exchange, Queue

from api.extensions import celery_redis


@pytest.fixture
def broker(pg_services, redis_client):
    connection = Connection(pg_services[1], transport=celery_redis.TRANSPORT)
    yield connection
    connection.release()


def _publish(connection: Connection, queue_name: str, body: dict) -> None:
    """As Celery publishes a task: to the anonymous exchange, the queue's name as routing key."""
    queue = Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)
    with connection.Producer() as producer:
        producer.publish(body, exchange="", routing_key=queue_name, declare=[queue], serializer="json")


def _unacked(client: redis.Redis) -> int:
    return client.hlen("unacked") + client.zcard("unacked_index")


def _consume(connection: Connection, queue_name: str, prefetch: int = 0) -> tuple[object, list]:
    received: list = []
    channel = connection.channel()
    if prefetch:
        channel.basic_qos(prefetch_size=0, prefetch_count=prefetch, apply_global=False)
    consumer = Consumer(channel, [Queue(queue_name, Exchange(queue_name, type="direct"), routing_key=queue_name)],
                        callbacks=[lambda body, message: received.append(message)], accept=["json"])
    consumer.consume()
    return channel, received


def _drain(connection: Connection, received: list, count: int) -> None:
    while len(received) < count:
        connection.drain_events(timeout=2)


def test_a_run_delivery_writes_nothing_to_redis_and_its_ack_neither(broker, redis_client):
    _publish(broker, "run", {"n": 1})
    channel, received = _consume(broker, "run")
    _drain(broker, received, 1)

    assert _unacked(redis_client) == 0
    assert received[0].payload == {"n": 1}
    received[0].ack()
    assert _unacked(redis_client) == 0
    assert redis_client.llen("run") == 0
    channel.close()


def test_another_queue_keeps_kombus_bookkeeping(broker, redis_client):
    _publish(broker, "default", {"n": 1})
    channel, received = _consume(broker, "default")
    _drain(broker, received, 1)

    assert redis_client.hlen("unacked") == 1  # delivered: a copy in Redis until the ack
    received[0].ack()
    assert _unacked(redis_client) == 0
    channel.close()


def test_the_prefetch_limit_still_holds_for_runs(broker, redis_client):
    for n in range(3):
        _publish(broker, "run", {"n": n})
    channel, received = _consume(broker, "run", prefetch=2)
    _drain(broker, received, 2)
    with pytest.raises(TimeoutError):  # the third waits until one of the two is acked
        broker.drain_events(timeout=0.5)
    assert redis_client.llen("run") == 1

    received[0].ack()
    _drain(broker, received, 3)
    assert [m.payload["n"] for m in received] == [0, 1, 2]
    channel.close()


@pytest.mark.parametrize("queue_name", ["run", "default"])
def test_a_delivery_rejected_with_requeue_is_delivered_again_as_kombu_does_it(broker, redis_client, queue_name):
    _publish(broker, queue_name, {"n": 1})
    _publish(broker, queue_name, {"n": 2})
    channel, received = _consume(broker, queue_name, prefetch=1)
    _drain(broker, received, 1)

    received[0].reject(requeue=True)  # kombu's Redis transport puts it behind what is waiting
    _drain(broker, received, 2)
    received[1].ack()
    _drain(broker, received, 3)

    assert [m.payload["n"] for m in received] == [1, 2, 1]
    assert received[2].delivery_info["redelivered"]
    received[2].ack()
    assert _unacked(redis_client) == 0
    assert redis_client.llen(queue_name) == 0
    channel.close()


def test_runs_unacked_when_the_channel_closes_are_pushed_back(broker, redis_client):
    _publish(broker, "run", {"n": 1})
    channel, received = _consume(broker, "run")
    _drain(broker, received, 1)
    assert redis_client.llen("run") == 0

    channel.close()  # what a worker's shutdown does with the runs it has not acked

    assert redis_client.llen("run") == 1
    channel, again = _consume(broker, "run")
    _drain(broker, again, 1)
    assert again[0].payload == {"n": 1}
    again[0].ack()
    channel.close()


def test_an_acked_run_is_not_pushed_back_by_a_recover(broker, redis_client):
    _publish(broker, "run", {"n": 1})
    channel, received = _consume(broker, "run")
    _drain(broker, received, 1)
    received[0].ack()

    channel.basic_recover(requeue=True)  # pushes back what is unacked: nothing

    assert redis_client.llen("run") == 0
    channel.close()
