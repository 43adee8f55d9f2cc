"""Claiming a run's message (pending → running), at the same time as its model call starts.

A run belongs to the worker whose conditional UPDATE moves its message from `pending` to `running`: a redelivered
or late task finds it taken and does nothing. The claim is one database round trip, made on a claim thread while
the run's own thread builds the prompt and calls the model (the API hands the turn over in the task: see
`turn_of`), so it is not part of the time to the first token. The run thread waits for the claim's outcome
(`Claim.message`) before it publishes or writes anything, and before it retrieves knowledge (which writes hit
counts and calls embedding models); a run that turns out not to be ours only drops its model call. A claim that
fails tells the waiting stream at once (`on_failed`). A task without the turn (an older API) waits for the claim
first and uses the claimed row; so does a session bound to one connection (it cannot be shared with a thread).
Deploy workers before APIs: an older worker does not take the turn.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.extensions.database import autocommit_statements, is_connect_failure
from api.models.conversation import Message

logger = logging.getLogger(__name__)

_MESSAGES = Message.__table__
# Built once (per run only the parameters change): building and cache-keying it per call cost about a tenth of a
# worker's CPU per chat turn.
_CLAIM = (sa.update(_MESSAGES).where(_MESSAGES.c.id == sa.bindparam("claim_id"), _MESSAGES.c.status == "pending")
          .values(status="running").returning(*_MESSAGES.c))
CLAIM_CONNECT_RETRY_DELAYS = (0.1, 0.2, 0.4)  # seconds before each further attempt
CLAIM_THREADS = 16  # per process; a claim holds its thread for one round trip (longer only while retrying connects)
# The fields of a turn's message a run reads; the API sends them with the task (`turn_of`).
TURN_FIELDS = ("conversation_id", "app_id", "app_mode", "inputs", "query", "invoke_from", "override_model_configs",
               "app_model_config_id", "message_metadata")


class NotClaimableError(Exception):
    """The message is not pending: another delivery runs it, or it was stopped or failed meanwhile."""


class ClaimFailedError(Exception):
    """The claim could not be made (e.g. no database connection); the run must not start."""


def claim(session: Session, message_id: str) -> Message | None:
    """pending → running in one round trip: the conditional UPDATE hands back the claimed row (PostgreSQL,
    SQLite >= 3.35), committed on its own (no BEGIN/COMMIT round trips). Returns a detached snapshot (every later
    write is an explicit UPDATE), or None if the message was not pending."""
    autocommit_statements(session)
    row = session.execute(_CLAIM, {"claim_id": message_id}).first()
    session.commit()
    return Message(**row._mapping) if row is not None else None


def claim_retrying_connect(session: Session, message_id: str) -> Message | None:
    """`claim`, tried again when no database connection could be made (server restarting, or its max_connections
    reached under a burst). The claim is conditional, so trying again is safe; the client is already waiting for
    this run."""
    for delay in CLAIM_CONNECT_RETRY_DELAYS:
        try:
            return claim(session, message_id)
        except sa.exc.OperationalError as exc:
            if not is_connect_failure(exc):
                raise
            logger.warning("no database connection for the claim; retrying in %.1fs", delay)
            session.rollback()
            time.sleep(delay)
    return claim(session, message_id)


def turn_of(params: dict[str, Any], created_at: datetime) -> dict[str, Any]:
    """What the API sends with a run's task: the message fields of TURN_FIELDS (JSON-safe; `created_at` as ISO)."""
    return {**{name: params.get(name) for name in TURN_FIELDS}, "created_at": created_at.isoformat()}


def message_of(message_id: str, task_id: str, turn: dict[str, Any]) -> Message:
    """The run's message, detached, from the turn its task carries (see `turn_of`)."""
    fields = {name: turn.get(name) for name in TURN_FIELDS}
    return Message(id=message_id, task_id=task_id, status="running",
                   created_at=datetime.fromisoformat(turn["created_at"]), **fields)


class Claim:
    """The claim of one message: `start` makes it on a claim thread, `now` on the calling one. On the thread that
    made it, once its outcome is known (and before `message` reports it): `on_claimed` if the row is ours,
    `on_failed` if the claim itself failed."""

    def __init__(self, outcome: Future[Message | None]) -> None:
        self._outcome = outcome

    @classmethod
    def start(cls, engine: sa.Engine, message_id: str, on_claimed: Callable[[], None],
              on_failed: Callable[[], None]) -> Claim:
        """On a claim thread, in a session of its own on `engine` (a session is never shared between threads)."""
        claim = cls(_executor().submit(cls._make, lambda: Session(engine), message_id, on_claimed, on_failed))
        time.sleep(0)  # hand the GIL over: the UPDATE goes out before the caller goes on (building a prompt)
        return claim

    @classmethod
    def now(cls, session: Session, message_id: str, on_claimed: Callable[[], None],
            on_failed: Callable[[], None]) -> Claim:
        """A claim made at once on `session` (pinned to one connection, or the turn was not prepared); a failure is
        kept and raised where the claim is awaited, as for a background claim."""
        outcome: Future[Message | None] = Future()
        try:
            outcome.set_result(cls._make(lambda: contextlib.nullcontext(session), message_id, on_claimed, on_failed))
        except Exception as exc:
            outcome.set_exception(exc)
        return cls(outcome)

    @staticmethod
    def _make(sessions: Callable[[], AbstractContextManager[Session]], message_id: str,
              on_claimed: Callable[[], None], on_failed: Callable[[], None]) -> Message | None:
        try:
            with sessions() as session:
                message = claim_retrying_connect(session, message_id)
        except Exception:
            on_failed()
            raise
        if message is not None:
            on_claimed()
        return message

    def message(self) -> Message:
        """Wait for the outcome: the claimed row. Raises NotClaimableError, or ClaimFailedError (from the claim's
        own error)."""
        try:
            message = self._outcome.result()
        except Exception as exc:
            raise ClaimFailedError(str(exc)) from exc
        if message is None:
            raise NotClaimableError()
        return message

    def ours(self) -> bool:
        """Wait for the outcome: whether the claim succeeded (False if it failed or the message was taken)."""
        try:
            self.message()
        except (NotClaimableError, ClaimFailedError):
            return False
        return True


_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    pool = _pool
    if pool is None or pool[0] != os.getpid():  # first claim in this (possibly forked) process
        with _lock:
            pool = _pool
            if pool is None or pool[0] != os.getpid():
                pool = _pool = (os.getpid(), ThreadPoolExecutor(CLAIM_THREADS, thread_name_prefix="run-claim"))
    return pool[1]
