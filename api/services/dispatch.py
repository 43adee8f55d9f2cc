"""Typed wrappers that enqueue background tasks by stable name (never importing api.tasks).

Call these after the transaction that the task depends on has committed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from api.core.ports import Dispatcher


class TaskName(StrEnum):
    TOUCH_API_KEY = "api_keys.touch_last_used"
    EXECUTE_CHAT_RUN = "run.execute_chat"
    GENERATE_CONVERSATION_NAME = "run.generate_conversation_name"
    EXPIRE_STALE_RUNS = "run.expire_stale_runs"
    INDEX_DOCUMENT = "indexing.index_document"
    REAP_EXPIRED_LEASES = "indexing.reap_expired_leases"


def enqueue_touch_api_key(dispatcher: Dispatcher, *, key_id: str, used_at: int) -> None:
    """Queue the background write of `api_tokens.last_used_at = used_at` (epoch seconds) for `key_id`; returns once
    queued."""
    dispatcher.send(TaskName.TOUCH_API_KEY, key_id, used_at)


def enqueue_chat_run(dispatcher: Dispatcher, *, message_id: str, task_id: str,
                     hints: dict[str, bool] | None = None, turn: dict[str, Any] | None = None) -> None:
    """Queue generation of one pending message (queue `run`). `hints` ({"history", "files"}: whether the turn
    has earlier messages / attached files) let the worker skip queries that would find nothing; `turn` (the
    message's fields, run_claim.turn_of) lets it call the model while it claims the message."""
    dispatcher.send(TaskName.EXECUTE_CHAT_RUN, message_id, task_id, hints, turn)


def enqueue_conversation_name(dispatcher: Dispatcher, *, conversation_id: str) -> None:
    """Queue the model-generated name of `conversation_id` (its first query); returns once queued."""
    dispatcher.send(TaskName.GENERATE_CONVERSATION_NAME, conversation_id)


def enqueue_index_document(dispatcher: Dispatcher, document_id: str) -> None:
    """Queue indexing of one `waiting` document (queue `dataset`); duplicates are no-ops (the task claims)."""
    dispatcher.send(TaskName.INDEX_DOCUMENT, document_id)
