"""The per-process run monitor: heartbeats at each run's interval and stop flags read for all runs together."""

import threading
import time

from api.extensions import redis_keys
from api.extensions.counters import LocalCounterStore
from api.services.run_monitor import STOP_POLL_SECONDS, RunMonitor
from tests.helpers import wait_for


def test_each_watched_run_gets_heartbeats_until_unwatched():
    monitor, counters = RunMonitor(), LocalCounterStore()
    beats = {"a": 0, "b": 0}
    lock = threading.Lock()

    def beat(name):
        with lock:
            beats[name] += 1

    started = time.monotonic()
    monitor.watch("a", counters=counters, beat=lambda: beat("a"), interval=0.2)
    monitor.watch("b", counters=counters, beat=lambda: beat("b"), interval=0.2)
    assert wait_for(lambda: beats["a"] >= 3 and beats["b"] >= 3)
    assert time.monotonic() - started >= 0.6  # not faster than the interval
    monitor.unwatch("a")
    time.sleep(STOP_POLL_SECONDS * 2)
    after_unwatch = beats["a"]
    assert wait_for(lambda: beats["b"] >= after_unwatch + 3)
    assert beats["a"] == after_unwatch
    monitor.unwatch("b")


def test_a_stop_flag_sets_only_its_runs_event_and_a_failing_beat_does_not_stop_the_monitor():
    monitor, counters = RunMonitor(), LocalCounterStore()
    beats = []

    def failing_beat():
        beats.append(1)
        raise RuntimeError("redis down")

    stopped = monitor.watch("run-1", counters=counters, beat=failing_beat, interval=0.1)
    other = monitor.watch("run-2", counters=counters, beat=lambda: None, interval=60)
    time.sleep(STOP_POLL_SECONDS * 2)
    assert not stopped.is_set()

    counters.set(redis_keys.run_stop_flag("run-1"), "1", ttl_seconds=60)

    assert stopped.wait(STOP_POLL_SECONDS * 5)
    assert not other.is_set()
    assert wait_for(lambda: len(beats) >= 3)
    monitor.unwatch("run-1")
    monitor.unwatch("run-2")
