"""One computation per key at a time: callers that ask while it runs wait for it instead of repeating it.

Against cache stampedes: N concurrent requests that miss the same cold entry (an app's first requests after a
deploy or a restart) would otherwise all run the same queries, and the pool, the database and the GIL serve N
copies before anyone answers.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class SingleFlight:
    def __init__(self, wait_seconds: float = 5.0) -> None:
        self._wait = wait_seconds
        self._lock = threading.Lock()
        self._flights: dict[Hashable, threading.Event] = {}

    @contextmanager
    def turn(self, key: Hashable) -> Iterator[bool]:
        """Yield True to the caller that should compute `key` now. Any other caller first waits until that one is
        done (at most `wait_seconds`), then gets False: it should look up the result again, and compute it itself
        only if nothing was left (the first caller failed, took too long, or did not store it)."""
        with self._lock:
            flight = self._flights.get(key)
            first = flight is None
            if flight is None:
                flight = self._flights[key] = threading.Event()
        if not first:
            flight.wait(self._wait)
            yield False
            return
        try:
            yield True
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.set()
