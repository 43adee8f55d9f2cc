"""The multiplexed Redis subscriber against a real Redis: delivery, fan-out, unsubscribe, and connection loss."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from api.extensions.pubsub import RedisBroadcaster
from tests.conftest import services_or_skip


@pytest.fixture
def client():
    _, redis_url = services_or_skip()
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield client
    client.close()


def _channel() -> str:
    return f"test-pubsub-{uuid.uuid4().hex}"


def _pubsub_client_ids(client: redis.Redis) -> set[str]:
    return {info["id"] for info in client.client_list() if int(info.get("sub", 0)) > 0}


def test_only_what_is_published_after_subscribe_returns_is_delivered(client):
    hub = RedisBroadcaster(client)
    topic = hub.topic(_channel())
    topic.publish(b"before")
    sub = topic.subscribe()
    topic.publish(b"after")

    assert sub.receive(timeout=2) == b"after"
    assert sub.receive(timeout=0.05) is None
    sub.close()


def test_many_subscriptions_share_one_connection_and_each_gets_its_own_messages(client):
    hub = RedisBroadcaster(client)
    before = _pubsub_client_ids(client)  # other processes may hold pub/sub connections of their own
    names = [_channel() for _ in range(20)]
    subs = [hub.topic(name).subscribe() for name in names]
    twin = hub.topic(names[0]).subscribe()  # a second subscriber of the same channel
    for name in names:
        hub.topic(name).publish(name.encode())

    assert [sub.receive(timeout=2) for sub in subs] == [name.encode() for name in names]
    assert twin.receive(timeout=2) == names[0].encode()
    assert len(_pubsub_client_ids(client) - before) == 1
    for sub in (*subs, twin):
        sub.close()


def test_closing_the_last_subscription_unsubscribes_the_channel(client):
    hub = RedisBroadcaster(client)
    name = _channel()
    first, second = hub.topic(name).subscribe(), hub.topic(name).subscribe()
    first.close()
    assert dict(client.pubsub_numsub(name))[name.encode()] == 1
    second.close()
    deadline = time.monotonic() + 2
    while dict(client.pubsub_numsub(name))[name.encode()] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dict(client.pubsub_numsub(name))[name.encode()] == 0


def test_a_dropped_connection_fails_every_open_subscription_and_the_next_one_reconnects(client):
    hub = RedisBroadcaster(client)
    before = _pubsub_client_ids(client)
    subs = [hub.topic(_channel()).subscribe() for _ in range(3)]
    (ours,) = _pubsub_client_ids(client) - before
    client.client_kill_filter(_id=ours)

    for sub in subs:
        with pytest.raises(redis.exceptions.ConnectionError):
            sub.receive(timeout=5)
        with pytest.raises(redis.exceptions.ConnectionError):  # and it stays failed
            sub.receive(timeout=0.01)
    name = _channel()
    again = hub.topic(name).subscribe()
    hub.topic(name).publish(b"back")
    assert again.receive(timeout=2) == b"back"
    again.close()


def _publisher_client_ids(client: redis.Redis, before: set[str]) -> set[str]:
    return {info["id"] for info in client.client_list()
            if info["id"] not in before and int(info.get("sub", 0)) == 0 and info.get("cmd") == "publish"}


def test_queued_publishes_arrive_in_order_per_channel_whole_and_at_any_size(client):
    hub = RedisBroadcaster(client)
    names = [_channel() for _ in range(3)]
    subs = {name: hub.topic(name).subscribe() for name in names}
    sent: dict[str, list[bytes]] = {name: [] for name in names}
    for i in range(3000):
        name = names[i % 3]
        # small events, non-ASCII, CRLF inside, and some larger than one socket read
        size = 200_000 if i % 500 == 1 else 5
        body = (b"%d:" % i) + ("é\r\n-ERR not an error".encode() if i % 7 == 0 else b"x" * size)
        sent[name].append(body)
        hub.topic(name).publish_nowait(body)
    for name, sub in subs.items():
        got = []
        while len(got) < len(sent[name]) and (item := sub.receive(timeout=5)) is not None:
            got.append(item)
        assert got == sent[name]
        assert sub.receive(timeout=0.05) is None
        sub.close()


def test_the_publisher_reconnects_after_its_connection_is_killed(client):
    hub = RedisBroadcaster(client)
    name = _channel()
    sub = hub.topic(name).subscribe()
    before = {info["id"] for info in client.client_list()}
    hub.topic(name).publish_nowait(b"one")
    assert sub.receive(timeout=5) == b"one"
    (publisher,) = _publisher_client_ids(client, before)
    client.client_kill_filter(_id=publisher)
    deadline = time.monotonic() + 10
    received = None
    while received != b"again" and time.monotonic() < deadline:  # the batch that meets the dead socket is dropped
        hub.topic(name).publish_nowait(b"again")
        received = sub.receive(timeout=0.5)
    assert received == b"again"
    sub.close()


def test_an_unconfirmed_subscription_sees_what_is_published_once_it_is_confirmed(client):
    hub = RedisBroadcaster(client)
    topic = hub.topic(_channel())
    sub = topic.subscribe(confirmed=False)  # sent; other work overlaps Redis's answer
    sub.confirm()
    sub.confirm()  # again: at once
    topic.publish(b"after")

    assert sub.receive(timeout=2) == b"after"
    sub.close()


def test_a_subscription_redis_does_not_confirm_in_time_fails_on_confirm(client, monkeypatch):
    from api.extensions import pubsub

    hub = RedisBroadcaster(client)
    hub.topic(_channel()).subscribe().close()  # the shared connection is up
    monkeypatch.setattr(pubsub, "CONFIRM_TIMEOUT", 0.05)
    client.execute_command("CLIENT", "PAUSE", "500", "ALL")  # Redis answers nobody for half a second
    name = _channel()
    sub = hub.topic(name).subscribe(confirmed=False)

    with pytest.raises(redis.exceptions.TimeoutError):
        sub.confirm()
    time.sleep(0.6)
    deadline = time.monotonic() + 2  # it was removed: its late SUBSCRIBE is undone
    while dict(client.pubsub_numsub(name))[name.encode()] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dict(client.pubsub_numsub(name))[name.encode()] == 0


def test_subscribing_without_redis_fails_at_once_also_unconfirmed():
    hub = RedisBroadcaster(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))

    with pytest.raises(redis.exceptions.ConnectionError):
        hub.topic(_channel()).subscribe(confirmed=False)
