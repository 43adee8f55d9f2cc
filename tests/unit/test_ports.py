import threading

from api.extensions.cache import MISSING, InvalidatingCache
from api.extensions.counters import LocalCounterStore
from api.extensions.logging import redact
from api.extensions.pubsub import LocalBroadcaster


def test_local_counter_store_counts_and_expires():
    counters = LocalCounterStore()

    assert [counters.incr("k", ttl_seconds=60) for _ in range(3)] == [1, 2, 3]
    assert counters.get_int("k") == 3
    assert 0 < counters.ttl("k") <= 60
    counters.delete("k")
    assert counters.get_int("k") == 0
    counters.incr("gone", ttl_seconds=0)
    assert counters.get_int("gone") == 0


def test_local_broadcaster_delivers_only_to_current_subscribers():
    hub = LocalBroadcaster()
    topic = hub.topic("t")
    topic.publish(b"before")
    sub = topic.subscribe()
    topic.publish(b"after")

    assert sub.receive(timeout=1) == b"after"
    assert sub.receive(timeout=0.01) is None
    sub.close()


def test_invalidating_cache_eviction_reaches_other_cache_instances():
    hub = LocalBroadcaster()
    mine, theirs = InvalidatingCache(hub, 60), InvalidatingCache(hub, 60)
    theirs.set("k", "v")
    evicted = threading.Event()
    original = theirs._evict
    theirs._evict = lambda key: (original(key), evicted.set())  # type: ignore[method-assign]

    mine.invalidate("k")

    assert evicted.wait(2)
    assert theirs.get("k") is MISSING


def test_invalidating_cache_does_not_store_a_load_that_raced_an_invalidation():
    cache = InvalidatingCache(LocalBroadcaster(), 60)

    def loader():
        cache.invalidate("k")  # a writer changes the row while we read it
        return "stale"

    assert cache.get_or_load("k", loader) == "stale"
    assert cache.get("k") is MISSING


def _concurrently(n, fn):
    results, threads = [None] * n, []
    for index in range(n):
        def run(index=index):
            results[index] = fn()
        threads.append(threading.Thread(target=run))
    for thread in threads:
        thread.start()
    return threads, results


def test_concurrent_misses_of_one_key_run_the_loader_once():
    cache = InvalidatingCache(LocalBroadcaster(), 60)
    calls, release = [], threading.Event()

    def loader():
        calls.append(1)
        release.wait(5)
        return "snapshot"

    threads, results = _concurrently(10, lambda: cache.get_or_load("app", loader))
    while not calls:
        threading.Event().wait(0.005)
    threading.Event().wait(0.05)  # the other nine are waiting on the first load now
    release.set()
    for thread in threads:
        thread.join(5)

    assert results == ["snapshot"] * 10
    assert len(calls) == 1


def test_when_the_first_load_fails_or_is_not_stored_the_waiters_load_themselves():
    cache = InvalidatingCache(LocalBroadcaster(), 60)
    started, release, calls = threading.Event(), threading.Event(), []

    def failing():
        started.set()
        release.wait(5)
        raise RuntimeError("database went away")

    def leader():
        try:
            cache.get_or_load("k", failing)
        except RuntimeError:
            return "failed"

    threads, results = _concurrently(1, leader)
    assert started.wait(5)
    followers, values = _concurrently(3, lambda: cache.get_or_load("k", lambda: calls.append(1) or "fresh"))
    threading.Event().wait(0.05)
    assert calls == []  # still waiting for the first load
    release.set()
    for thread in (*threads, *followers):
        thread.join(5)

    assert results == ["failed"]
    assert values == ["fresh"] * 3
    assert 1 <= len(calls) <= 3


def test_redact_removes_keys_tokens_and_hashes():
    line = ("key app-AbCdEfGhIjKlMnOpQrStUvWx dataset-AbCdEfGhIjKlMnOpQrStUvWx jwt eyJhbGc.eyJzdWIi.sig "
            "hash $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA password=hunter2 " + "ab" * 64)

    cleaned = redact(line)

    for secret in ("AbCdEfGhIjKlMnOpQrStUvWx", "eyJhbGc", "$argon2id$v=19", "hunter2", "ab" * 64):
        assert secret not in cleaned


def test_local_storage_roundtrip_and_refuses_keys_escaping_the_root(tmp_path):
    import pytest

    from api.extensions.storage import LocalStorage, StorageKeyError

    storage = LocalStorage(tmp_path)
    storage.save("upload_files/t/a.txt", b"hello")

    assert storage.exists("upload_files/t/a.txt")
    assert storage.load("upload_files/t/a.txt") == b"hello"
    storage.delete("upload_files/t/a.txt")
    assert not storage.exists("upload_files/t/a.txt")
    with pytest.raises(StorageKeyError):
        storage.save("../outside.txt", b"x")
