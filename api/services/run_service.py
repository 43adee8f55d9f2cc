"""Starting, streaming, awaiting and stopping chat/completion runs (the API side).

Flow (architecture §3.7): `start_chat_run` validates, takes rate-limit slots, subscribes to the
run's topic (before anything can publish on it), persists the conversation and a `pending` message,
dispatches the worker task and returns a RunHandle. `stream_events` relays events until a
terminal one; it always ends with `message_end` or `error` (worker lost, Redis dropped) and always
closes the subscription and gives the active-request slot back (`release`). `wait_for_result` folds the same stream
into Dify's blocking body. Generation itself runs in run_execution_service (a Celery worker or a
local thread), so a client that disconnects never leaves a message pending.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.app.model_config import ModelConfigError, validate_model_config
from api.core.chat.inputs import InputValidationError, validate_inputs
from api.core.chat.prompt import conversation_name
from api.core.ports import Subscription
from api.core.streaming import RelayFailure, RelayTimeouts, relay
from api.extensions import redis_keys
from api.extensions.database import autocommit_statements, session_factory
from api.extensions.runtime import Runtime
from api.libs.clock import to_timestamp, utcnow
from api.libs.sse import RawEvent
from api.libs.uuid7 import is_uuid, uuid7_str
from api.models.conversation import Conversation, Message, MessageFile
from api.models.enums import AppMode
from api.services import dispatch, file_service, rate_limit_service, run_claim
from api.services.errors import (
    AppUnavailableError,
    ConversationNotFoundError,
    InvalidInputError,
    NotChatAppError,
    RunFailedError,
    ServiceUnavailableError,
)
from api.services.service_auth_service import AppSnapshot

logger = logging.getLogger(__name__)
STOP_TTL = 600
_NOT_QUEUED = "The request could not be queued."


@dataclass(frozen=True)
class Caller:
    """Who runs the turn: an end user (service API) or an account (console debugger)."""

    end_user_id: str | None = None
    account_id: str | None = None


@dataclass
class RunHandle:
    task_id: str
    message_id: str
    conversation_id: str
    app_id: str
    mode: str
    created_at: int
    slot: rate_limit_service.Slot | None
    session_scope: Callable[[], AbstractContextManager[Session]]
    envelope: dict[str, Any] = field(default_factory=dict)
    hints: dict[str, bool] | None = None
    turn: dict[str, Any] | None = None  # the message's fields for the worker (run_claim.turn_of)
    subscription: Subscription | None = None


def _check_mode(snapshot: AppSnapshot, route: str) -> None:
    if route == "chat":
        if snapshot.mode not in (AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT):
            raise NotChatAppError()
        if snapshot.mode != AppMode.CHAT:
            raise AppUnavailableError(f"{snapshot.mode} apps are not supported by this server yet.")
    elif snapshot.mode != AppMode.COMPLETION:
        raise AppUnavailableError("Please check if your Completion app mode matches the right API route.")


def _model_config(snapshot: AppSnapshot, override: dict[str, Any] | None) -> dict[str, Any]:
    if override is not None:
        try:
            return validate_model_config(snapshot.mode, override)
        except ModelConfigError as exc:
            raise InvalidInputError(exc.message, field=f"model_config.{exc.field}")
    if snapshot.model_config is None:
        raise AppUnavailableError()
    return snapshot.model_config


def _conversation(session: Session, snapshot: AppSnapshot, caller: Caller, conversation_id: str | None
                  ) -> Conversation | None:
    if not conversation_id:
        return None
    if not is_uuid(conversation_id):
        raise InvalidInputError("conversation_id must be a valid UUID", field="conversation_id")
    cond = [Conversation.id == conversation_id, Conversation.app_id == snapshot.id, Conversation.is_deleted.is_(False)]
    cond.append(Conversation.from_end_user_id == caller.end_user_id if caller.end_user_id
                else Conversation.from_account_id == caller.account_id)
    conversation = session.scalar(sa.select(Conversation).where(*cond))
    if conversation is None:
        raise ConversationNotFoundError()
    return conversation


def start_chat_run(session: Session, *, runtime: Runtime, snapshot: AppSnapshot, caller: Caller, route: str,
                   query: str, inputs: dict[str, Any], conversation_id: str | None, files: list[Any] | None,
                   invoke_from: str, auto_generate_name: bool = True,
                   model_config_override: dict[str, Any] | None = None) -> RunHandle:
    """Validate a chat/completion request and persist its pending message.

    Subscribes to the run's topic first (Redis down → the request fails before any row is written), then
    writes conversations (new ones), messages (status pending), message_files and commits once, then (the
    subscription confirmed meanwhile) dispatches the worker task (here, not when the response starts: the worker
    starts while the response is being built).
    Takes an active-request slot. Both are given back by stream_events, or by `release` if the stream never
    starts. Raises: NotChatAppError / AppUnavailableError (mode, missing config), InvalidInputError
    (inputs, files, ids), ConversationNotFoundError, TooManyRequestsError (limits), ServiceUnavailableError (no
    subscription confirmed, or the task could not be queued: the message is marked `error`, nothing is left
    pending).
    """
    _check_mode(snapshot, route)
    config = _model_config(snapshot, model_config_override)
    if route == "chat" and conversation_id and not files:
        autocommit_statements(session)  # PostgreSQL: the lookup without BEGIN, like the write after it (_persist)
    conversation = _conversation(session, snapshot, caller, conversation_id) if route == "chat" else None
    try:
        clean_inputs = conversation.inputs if conversation is not None else validate_inputs(
            config.get("user_input_form") or [], inputs or {})
    except InputValidationError as exc:
        raise InvalidInputError(exc.message, field=exc.field)
    specs = file_service.resolve_message_files(session, tenant_id=snapshot.tenant_id,
                                               file_upload=config.get("file_upload"), files=files)
    slot = rate_limit_service.acquire(runtime.counters, runtime.settings, snapshot)
    task_id = str(uuid.uuid4())
    subscription = None
    try:
        # Subscribe before anything can publish, and before any row is written: without Redis, a 503 and no
        # orphan pending message. Its confirmation is awaited after the write, before the dispatch.
        subscription = runtime.broadcaster.topic(redis_keys.run_topic(task_id)).subscribe(confirmed=False)
        handle = _persist(session, snapshot, caller, config, conversation, clean_inputs, query, specs,
                          invoke_from, auto_generate_name, model_config_override is not None, task_id)
    except BaseException:
        if subscription is not None:
            subscription.close()
        rate_limit_service.release(runtime.counters, slot)
        raise
    handle.slot, handle.subscription = slot, subscription
    try:
        subscription.confirm()  # requested before the write: its answer is back by now
        dispatch.enqueue_chat_run(runtime.dispatcher, message_id=handle.message_id, task_id=handle.task_id,
                                  hints=handle.hints, turn=handle.turn)
    except Exception:
        logger.exception("could not subscribe or dispatch task_id=%s", handle.task_id)
        try:
            _mark_failed(handle, _NOT_QUEUED)
        except Exception:  # the expiry sweep ends it later
            logger.exception("could not mark message failed message_id=%s", handle.message_id)
        release(handle, runtime)
        raise ServiceUnavailableError(_NOT_QUEUED) from None
    return handle


def _insert(table: sa.Table, prefix: str, given: tuple[str, ...]) -> tuple[sa.Insert, dict[str, Any]]:
    """An INSERT of the `given` columns and of every column with a default, all as parameters named prefix+column
    (so that it also works inside a WITH, where SQLAlchemy cannot apply Python-side defaults), and the defaults."""
    defaults = {c.name: c.default.arg for c in table.columns if c.default is not None and c.default.is_scalar}
    names = sorted({*given, *defaults})
    statement = sa.insert(table).values({n: sa.bindparam(prefix + n, type_=table.c[n].type) for n in names})
    return statement, {prefix + n: v for n, v in defaults.items()}


def _params(prefix: str, defaults: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {**defaults, **{prefix + key: value for key, value in values.items()}}


_CONVERSATIONS, _MESSAGES = Conversation.__table__, Message.__table__
# Built once: per request only the parameters change (no statement construction on the hot path).
_NEW_CONVERSATION, _CONVERSATION_DEFAULTS = _insert(_CONVERSATIONS, "c_", (
    "id", "app_id", "mode", "name", "inputs", "model_provider", "model_id", "introduction", "status", "invoke_from",
    "from_source", "from_end_user_id", "from_account_id", "override_model_configs", "dialogue_count", "created_at",
    "updated_at"))
_NEXT_TURN = (sa.update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == sa.bindparam("m_conversation_id"))
              .values(dialogue_count=_CONVERSATIONS.c.dialogue_count + 1, updated_at=sa.bindparam("m_updated_at")))
_NEW_MESSAGE, _MESSAGE_DEFAULTS = _insert(_MESSAGES, "m_", (
    "id", "app_id", "conversation_id", "inputs", "query", "model_provider", "model_id", "status", "invoke_from",
    "from_source", "from_end_user_id", "from_account_id", "app_mode", "task_id", "message_metadata",
    "override_model_configs", "app_model_config_id", "created_at", "updated_at"))
# PostgreSQL: the conversation's write as a data-modifying WITH of the message's INSERT: one atomic statement.
_FIRST_TURN_AT_ONCE = _NEW_MESSAGE.add_cte(_NEW_CONVERSATION.cte("new_conversation"))
_NEXT_TURN_AT_ONCE = _NEW_MESSAGE.add_cte(_NEXT_TURN.cte("next_turn"))


def _persist(session: Session, snapshot: AppSnapshot, caller: Caller, config: dict[str, Any],
             conversation: Conversation | None, inputs: dict[str, Any], query: str,
             specs: list[file_service.MessageFileSpec], invoke_from: str, auto_generate_name: bool,
             is_override: bool, task_id: str) -> RunHandle:
    """Write the turn: the conversation (new: INSERT; existing: its dialogue count), the pending message and its
    files. PostgreSQL without files: all of it in one statement, in autocommit (one round trip, and the pooled
    connection is taken only now for a new conversation); otherwise one statement per table in one transaction."""
    from_source = "api" if caller.end_user_id else "console"
    model = config["model"]
    now = utcnow()
    override = config if is_override else None
    params: dict[str, Any] = {}
    if conversation is None:
        conversation_id, dialogue_count = uuid7_str(), 1
        params.update(_params("c_", _CONVERSATION_DEFAULTS, {
            "id": conversation_id, "app_id": snapshot.id, "mode": snapshot.mode,
            "name": conversation_name(query) if snapshot.mode != "completion" else "", "inputs": inputs,
            "model_provider": model["provider"], "model_id": model["name"],
            "introduction": config.get("opening_statement") or "", "status": "normal", "invoke_from": invoke_from,
            "from_source": from_source, "from_end_user_id": caller.end_user_id,
            "from_account_id": caller.account_id, "override_model_configs": override, "dialogue_count": 1,
            "created_at": now, "updated_at": now}))
    else:
        conversation_id, dialogue_count = conversation.id, conversation.dialogue_count + 1
    message_id = uuid7_str()
    metadata = {"auto_generate_name": auto_generate_name and dialogue_count == 1}
    message_values = {
        "id": message_id, "app_id": snapshot.id, "conversation_id": conversation_id, "inputs": inputs,
        "query": query, "model_provider": model["provider"], "model_id": model["name"], "status": "pending",
        "invoke_from": invoke_from, "from_source": from_source, "from_end_user_id": caller.end_user_id,
        "from_account_id": caller.account_id, "app_mode": snapshot.mode, "task_id": task_id,
        "message_metadata": metadata, "override_model_configs": override,
        "app_model_config_id": None if is_override else snapshot.model_config_id, "created_at": now,
        "updated_at": now}
    params.update(_params("m_", _MESSAGE_DEFAULTS, message_values))
    if not specs and autocommit_statements(session):
        session.execute(_FIRST_TURN_AT_ONCE if conversation is None else _NEXT_TURN_AT_ONCE, params)
    else:
        session.execute(_NEW_CONVERSATION if conversation is None else _NEXT_TURN, params)
        session.execute(_NEW_MESSAGE, params)
        if specs:
            session.execute(sa.insert(MessageFile.__table__), [
                {"id": uuid7_str(), "message_id": message_id, "type": spec.type,
                 "transfer_method": spec.transfer_method, "url": spec.url, "upload_file_id": spec.upload_file_id,
                 "belongs_to": "user", "created_by_role": "end_user" if caller.end_user_id else "account",
                 "created_by": caller.end_user_id or caller.account_id or "", "created_at": now} for spec in specs])
    session.commit()
    created_at = to_timestamp(now) or 0
    envelope = {"conversation_id": conversation_id, "message_id": message_id, "created_at": created_at}
    if snapshot.mode == AppMode.COMPLETION:
        envelope.pop("conversation_id")
    return RunHandle(task_id=task_id, message_id=message_id, conversation_id=conversation_id, app_id=snapshot.id,
                     mode=snapshot.mode, created_at=created_at, slot=None, session_scope=session_factory(),
                     envelope=envelope, hints={"history": dialogue_count > 1, "files": bool(specs)},
                     turn=run_claim.turn_of(message_values, now))


def _error_event(handle: RunHandle, code: str, message: str, status: int) -> dict[str, Any]:
    return {"event": "error", **handle.envelope, "code": code, "status": status, "message": message}


def _mark_failed(handle: RunHandle, reason: str) -> None:
    with handle.session_scope() as session:
        session.execute(sa.update(Message).where(Message.id == handle.message_id,
                                                 Message.status.in_(("pending", "running")))
                        .values(status="error", error=reason, updated_at=utcnow()))
        session.commit()


def stream_events(handle: RunHandle, runtime: Runtime, timeouts: RelayTimeouts | None = None
                  ) -> Iterator[RawEvent | dict[str, Any] | None]:
    """Relay the dispatched run's events; see the module docstring. `None` items are keep-alive pings."""

    def on_failure(failure: RelayFailure) -> dict[str, Any]:
        logger.warning("run relay failed task_id=%s reason=%s", handle.task_id, failure.reason)
        try:
            _mark_failed(handle, failure.message)
        except Exception:
            logger.exception("could not mark message failed message_id=%s", handle.message_id)
        return _error_event(handle, "service_unavailable", failure.message, 503)

    try:
        subscription = handle.subscription
        if subscription is None:
            raise RuntimeError("stream_events runs once per handle")
        yield from relay(subscription, timeouts=timeouts or run_timeouts(runtime), on_failure=on_failure)
    finally:
        release(handle, runtime)


def release(handle: RunHandle, runtime: Runtime) -> None:
    """Close the run's subscription and give its active-request slot back; idempotent. For a response that is
    closed before its stream started (the client went away); stream_events calls it itself."""
    subscription, slot = handle.subscription, handle.slot
    handle.subscription, handle.slot = None, None
    try:
        if subscription is not None:
            subscription.close()
    finally:
        rate_limit_service.release(runtime.counters, slot)


def run_timeouts(runtime: Runtime) -> RelayTimeouts:
    """The relay's timeouts from the settings: pings every 10 s, queue and worker-lost timeouts as configured, 300 s
    idle."""
    settings = runtime.settings
    return RelayTimeouts(ping_interval=10.0, queue_timeout=float(settings.run_queue_timeout),
                         lost_timeout=float(settings.run_worker_lost_timeout), idle_timeout=300.0)


def wait_for_result(handle: RunHandle, runtime: Runtime) -> dict[str, Any]:
    """Drain the stream and build Dify's blocking body. Raises RunFailedError on an `error` event."""
    answer: list[str] = []
    end: dict[str, Any] | None = None
    for item in stream_events(handle, runtime):
        if item is None:
            continue
        event = item.decode() if isinstance(item, RawEvent) else item
        name = event.get("event")
        if name == "message":
            answer.append(event.get("answer", ""))
        elif name == "message_replace":
            answer = [event.get("answer", "")]
        elif name == "message_end":
            end = event
        elif name == "error":
            raise RunFailedError(event["code"], event["message"], event["status"])
    metadata = (end or {}).get("metadata") or {}
    body: dict[str, Any] = {"event": "message", "task_id": handle.task_id, "id": handle.message_id,
                            "message_id": handle.message_id, "conversation_id": handle.conversation_id,
                            "mode": handle.mode, "answer": "".join(answer), "metadata": metadata,
                            "created_at": handle.created_at}
    if handle.mode == AppMode.COMPLETION:
        body.pop("conversation_id")
    return body


def stop_run(session: Session, runtime: Runtime, *, task_id: str, caller: Caller) -> None:
    """Ask the worker to end the run at a chunk boundary (within run_monitor.STOP_POLL_SECONDS), if
    `caller` started it (else a no-op, as Dify). Reads messages (by task id); writes the run's stop flag."""
    owner = (Message.from_end_user_id == caller.end_user_id if caller.end_user_id
             else Message.from_account_id == caller.account_id)
    if session.scalar(sa.select(Message.id).where(Message.task_id == task_id, owner).limit(1)) is not None:
        runtime.counters.set(redis_keys.run_stop_flag(task_id), "1", ttl_seconds=STOP_TTL)
