"""The direct task publisher against a real Redis: the message a stock Celery worker gets is `send_task`'s."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from celery import signals

from api.extensions.celery_redis import CLIENT_NAME, TaskPublisher
from api.services.dispatch import TaskName

TURN = {"query": "my card number is 4111", "inputs": {"secret": "x"}, "created_at": "2026-12-01T00:00:00"}
ARGS = ["m-1", "t-1", {"history": False, "files": False}, TURN]
SHOWN = "['m-1', 't-1', {'history': False, 'files': False}, '…']"


@pytest.fixture
def celery(pg_app, redis_client):
    return pg_app.extensions["celery"]


@pytest.fixture
def publisher(celery, pg_services):
    return TaskPublisher.for_broker(celery, pg_services[1])


def _pop(redis_client: redis.Redis, queue: str = "run") -> dict:
    raw = redis_client.rpop(queue)
    assert raw is not None, f"nothing on {queue}"
    return json.loads(raw)


def _without_ids(envelope: dict) -> dict:
    task_id = envelope["headers"]["id"]
    assert envelope["headers"]["root_id"] == envelope["properties"]["correlation_id"] == task_id
    assert envelope["properties"]["delivery_tag"]
    for part, keys in (("headers", ("id", "root_id")), ("properties", ("correlation_id", "delivery_tag"))):
        for key in keys:
            envelope[part][key] = "…"
    return envelope


def test_the_envelope_is_the_one_send_task_writes(celery, publisher, redis_client):
    probe = "run.envelope_probe"  # routed to `run`, and registered in no process (send_task adds a registered
    assert probe not in celery.tasks  # task's own options; the API, which publishes, registers none)
    celery.send_task(probe, args=ARGS, argsrepr=SHOWN, kwargsrepr="{}")
    expected = _without_ids(_pop(redis_client))

    publisher.publish(probe, ARGS, SHOWN)
    got = _without_ids(_pop(redis_client))

    assert got == expected
    assert redis_client.llen("run") == 0


def test_the_body_carries_the_arguments_and_the_headers_hide_the_turn(publisher, redis_client):
    publisher.publish(TaskName.EXECUTE_CHAT_RUN, ARGS, SHOWN)
    envelope = _pop(redis_client)

    args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    assert (args, kwargs) == (ARGS, {})
    assert envelope["headers"]["task"] == TaskName.EXECUTE_CHAT_RUN
    assert "4111" not in json.dumps(envelope["headers"]) + json.dumps(envelope["properties"])


def test_each_task_goes_to_its_routed_queue(publisher, redis_client):
    publisher.publish(TaskName.INDEX_DOCUMENT, ["d-1"], "['d-1']")
    publisher.publish(TaskName.TOUCH_API_KEY, ["k-1", 1], "['k-1', 1]")

    assert _pop(redis_client, "dataset")["headers"]["task"] == TaskName.INDEX_DOCUMENT
    assert _pop(redis_client, "default")["headers"]["task"] == TaskName.TOUCH_API_KEY


def _kept_connections(redis_client: redis.Redis) -> list[str]:
    return [c["id"] for c in redis_client.client_list() if c["name"] == CLIENT_NAME]


def test_connections_redis_dropped_are_all_replaced_without_losing_the_message(publisher, redis_client):
    sent = 0
    while len(_kept_connections(redis_client)) < 3:  # publishers at once: several connections kept
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: publisher.publish(TaskName.GENERATE_CONVERSATION_NAME, [], "[]"), range(32)))
        sent += 32
    assert redis_client.llen("run") == sent
    redis_client.delete("run")
    for client_id in _kept_connections(redis_client):
        redis_client.client_kill_filter(_id=client_id)

    publisher.publish(TaskName.GENERATE_CONVERSATION_NAME, [], "[]")
    publisher.publish(TaskName.GENERATE_CONVERSATION_NAME, [], "[]")

    assert redis_client.llen("run") == 2


def test_without_redis_publishing_fails_at_once(celery):
    down = TaskPublisher.for_broker(celery, "redis://127.0.0.1:1/0")

    with pytest.raises(redis.exceptions.ConnectionError):
        down.publish(TaskName.GENERATE_CONVERSATION_NAME, [], "[]")


def test_only_a_plain_redis_broker_takes_the_direct_path(celery):
    assert TaskPublisher.for_broker(celery, "amqp://guest@127.0.0.1//") is None
    assert TaskPublisher.for_broker(celery, "rediss://127.0.0.1:6379/0") is None
    assert TaskPublisher.for_broker(celery, "redis://127.0.0.1:6379/0;redis://127.0.0.1:6380/0") is None


def test_send_task_is_used_while_publish_signals_have_receivers(publisher):
    def receiver(**_: object) -> None:
        pass

    assert publisher.applies()
    signals.before_task_publish.connect(receiver)
    try:
        assert not publisher.applies()
    finally:
        signals.before_task_publish.disconnect(receiver)
    assert publisher.applies()
