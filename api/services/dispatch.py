"""Typed wrappers that enqueue background tasks by stable name (never importing api.tasks).

Call these after the transaction that the task depends on has committed.
"""

from __future__ import annotations

from enum import StrEnum

from api.core.ports import Dispatcher


class TaskName(StrEnum):
    TOUCH_API_KEY = "api_keys.touch_last_used"


def enqueue_touch_api_key(dispatcher: Dispatcher, *, key_id: str, used_at: int) -> None:
    dispatcher.send(TaskName.TOUCH_API_KEY, key_id, used_at)
