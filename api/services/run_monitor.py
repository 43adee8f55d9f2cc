"""One thread per worker process watches every run it executes: stop flags and heartbeats.

A run is watched from its claim to its end. Every STOP_POLL_SECONDS the thread
  * reads the stop flags of all watched runs in ONE round trip (a GET per run every 0.1 s was 2,000 Redis
    commands a second at 200 streams) and sets the `stopped` Event of each run whose flag appeared, so a stop
    ends the run at its next chunk boundary after that;
  * publishes a heartbeat on each run's topic whose interval has passed (the API's relay tells a live worker
    from a dead one by them).
A thread of its own per run (started, woken and joined for every chat turn) did the heartbeats before.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api.extensions import redis_keys

logger = logging.getLogger(__name__)
STOP_POLL_SECONDS = 0.1  # how often the stop flags are read (a stop reaches the run within this, plus one chunk)


@dataclass
class _Watched:
    counters: Any
    beat: Callable[[], None]
    interval: float
    next_beat: float
    stopped: threading.Event = field(default_factory=threading.Event)


class RunMonitor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, _Watched] = {}
        self._active = threading.Event()
        self._pid = 0

    def watch(self, task_id: str, *, counters: Any, beat: Callable[[], None], interval: float,
              stopped: threading.Event | None = None) -> threading.Event:
        """Start watching a run: `beat()` every `interval` seconds (first after one interval) until `unwatch`;
        returns the Event (`stopped`, or a new one) set once the run's stop flag is seen in `counters`."""
        watched = _Watched(counters, beat, interval, time.monotonic() + interval, stopped or threading.Event())
        with self._lock:
            if self._pid != os.getpid():  # first run in this (possibly forked) process
                self._pid, self._runs = os.getpid(), {}
                threading.Thread(target=self._loop, name="run-monitor", daemon=True).start()
            self._runs[task_id] = watched
            self._active.set()
        return watched.stopped

    def unwatch(self, task_id: str) -> None:
        """Stop watching `task_id` (unknown ids are ignored); the monitor idles when nothing is watched."""
        with self._lock:
            self._runs.pop(task_id, None)
            if not self._runs:
                self._active.clear()

    def _loop(self) -> None:
        while True:
            self._active.wait()
            time.sleep(STOP_POLL_SECONDS)
            with self._lock:
                runs = list(self._runs.items())
            self._read_stop_flags(runs)
            now = time.monotonic()
            for _, watched in runs:
                if now >= watched.next_beat:
                    watched.next_beat = now + watched.interval
                    try:
                        watched.beat()
                    except Exception:
                        logger.warning("heartbeat publish failed")

    @staticmethod
    def _read_stop_flags(runs: list[tuple[str, _Watched]]) -> None:
        by_store: dict[int, tuple[Any, list[tuple[str, _Watched]]]] = {}
        for task_id, watched in runs:
            by_store.setdefault(id(watched.counters), (watched.counters, []))[1].append((task_id, watched))
        for counters, items in by_store.values():
            try:
                flags = counters.exists_many([redis_keys.run_stop_flag(task_id) for task_id, _ in items])
            except Exception:
                logger.warning("could not read stop flags; retrying")
                continue
            for (_, watched), flag in zip(items, flags, strict=True):
                if flag:
                    watched.stopped.set()
