"""Per-app request limits on generation: `api_rpm`, `api_rph` (fixed windows) and `max_active_requests`.

Counters live in the shared CounterStore (Redis in distributed mode), so limits hold across
every API process. 0 means unlimited. A slot taken by `acquire` must be given back with
`release` when the request (blocking or streaming) ends; a crashed holder's slot expires after
`stale_after` seconds.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from api.config import Settings
from api.core.ports import CounterStore
from api.extensions import redis_keys
from api.services.errors import TooManyRequestsError
from api.services.service_auth_service import AppSnapshot

SLOT_STALE_AFTER = 1200  # Dify's APP_MAX_EXECUTION_TIME


@dataclass(frozen=True)
class Slot:
    key: str
    member: str


def effective_active_limit(snapshot: AppSnapshot, settings: Settings) -> int:
    """min of the positive values among the app's (or default) limit and the global ceiling; 0 = none."""
    values = [v for v in (snapshot.max_active_requests or settings.app_default_active_requests,
                          settings.app_max_active_requests) if v > 0]
    return min(values) if values else 0


def _window(counters: CounterStore, key: str, limit: int, seconds: int, label: str) -> None:
    count = counters.incr(key, ttl_seconds=seconds)
    if count > limit:
        reset = counters.ttl(key) or seconds
        raise TooManyRequestsError(f"Too many requests. The app allows {limit} requests per {label}.",
                                   retry_after=reset, limit=limit, remaining=0)


def acquire(counters: CounterStore, settings: Settings, snapshot: AppSnapshot) -> Slot | None:
    """Count one generation request against the app's limits and take an active slot.

    Raises TooManyRequestsError (429, with Retry-After and X-RateLimit-* values) when a limit
    is hit. Returns the slot to release, or None when concurrency is unlimited.
    """
    now = int(time.time())
    if snapshot.api_rpm > 0:
        _window(counters, redis_keys.app_rpm(snapshot.id, now // 60), snapshot.api_rpm, 60, "minute")
    if snapshot.api_rph > 0:
        _window(counters, redis_keys.app_rph(snapshot.id, now // 3600), snapshot.api_rph, 3600, "hour")
    limit = effective_active_limit(snapshot, settings)
    if limit <= 0:
        return None
    slot = Slot(key=redis_keys.app_active_requests(snapshot.id), member=uuid.uuid4().hex)
    if not counters.acquire_slot(slot.key, slot.member, limit=limit, stale_after=SLOT_STALE_AFTER):
        raise TooManyRequestsError(
            f"Too many requests. Please try again later. The current maximum concurrent requests allowed "
            f"for {snapshot.id} is {limit}.", retry_after=1, limit=limit, remaining=0)
    return slot


def release(counters: CounterStore, slot: Slot | None) -> None:
    """Give a slot back (idempotent)."""
    if slot is not None:
        counters.release_slot(slot.key, slot.member)
