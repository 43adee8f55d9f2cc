"""Executing a chat/completion run (the worker side; Celery task or embedded thread).

Contract: claims the message with a conditional UPDATE (pending → running; run_claim: while the model
call starts, and nothing is published or written before it succeeds), so a redelivered or late task
publishes and writes nothing (it only drops its model call); publishes `_claimed`, then heartbeats every
RUN_HEARTBEAT_INTERVAL while
it works, one `message` event per upstream chunk, and exactly one terminal event (`message_end`
or `error`) — also on unexpected failures. The answer, usage, prices, latency, the model that
answered and the final status (normal | stopped | error) are persisted before the terminal event. If the
claim itself fails (database unreachable), publishes `_failed`, so the waiting stream ends at once.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.chat import pipeline
from api.core.chat.prompt import Turn, build_chat_prompt, build_completion_prompt
from api.core.model_runtime.entities import ImageInput, ModelTarget
from api.core.model_runtime.errors import InvokeAuthorizationError, InvokeError, InvokeQuotaExceededError
from api.core.model_runtime.resilience import CircuitBreaker, RetryPolicy
from api.core.streaming import CLAIMED, FAILED, HEARTBEAT
from api.extensions import redis_keys
from api.extensions.database import autocommit_statements
from api.extensions.runtime import Runtime
from api.libs import sse
from api.libs.clock import to_timestamp, utcnow
from api.models.app import App, AppModelConfig
from api.models.conversation import Message, MessageFile
from api.models.enums import AppMode
from api.models.file import UploadFile
from api.services import dispatch, provider_service, retrieval_service, run_claim
from api.services.errors import ProviderNotInitializeError, ServiceError
from api.services.run_monitor import RunMonitor

logger = logging.getLogger(__name__)
HISTORY_LIMIT = 50
_breaker = CircuitBreaker()
_retry = RetryPolicy()


class _Publisher:
    def __init__(self, runtime: Runtime, task_id: str, envelope: dict[str, Any]) -> None:
        self._topic = runtime.broadcaster.topic(redis_keys.run_topic(task_id))
        self.envelope, self._task_id = envelope, task_id
        self.terminal_sent = False

    def raw(self, event: dict[str, Any]) -> None:
        # `event` first: the API relays these bytes as they are. Queued, not awaited: one event per model token
        # must not cost a Redis round trip on the generating thread (order is kept per process).
        self._topic.publish_nowait(sse.encode(event))

    def event(self, name: str, **fields: Any) -> None:
        body = {"event": name, **self.envelope, **fields}
        if name != "error":
            body["task_id"] = self._task_id
        self.raw(body)
        if name in ("message_end", "error"):
            self.terminal_sent = True


_MESSAGES = Message.__table__
# Built once (per run only the parameters change). No .values(): the SET clause is the columns named by the
# parameters (always the same set, so compiled once).
_FINISH = sa.update(_MESSAGES).where(_MESSAGES.c.id == sa.bindparam("finish_id"))


def _config(session: Session, runtime: Runtime, message: Message) -> dict[str, Any]:
    if message.override_model_configs:
        return message.override_model_configs
    config_id = message.app_model_config_id
    row = runtime.cache.get_or_load(redis_keys.cache_model_config(config_id or ""),
                                    lambda: session.get(AppModelConfig, config_id).to_dict() if config_id else None)
    if row is None:
        raise ProviderNotInitializeError("The app has no model configuration.")
    return row


def _targets(session: Session, runtime: Runtime, tenant_id: str, model: dict[str, Any]) -> list[ModelTarget]:
    chain = [model, *(model.get("fallbacks") or [])]
    targets, first_error = [], None
    for item in chain:
        try:
            targets.append(provider_service.resolve_target(
                session, cache=runtime.cache, secret_key=runtime.settings.secret_key, tenant_id=tenant_id,
                provider=item["provider"], model=item["name"],
                completion_params=item.get("completion_params", model.get("completion_params")),
                mode=model.get("mode") or "chat"))
        except ProviderNotInitializeError as exc:
            first_error = first_error or exc
    if not targets:
        raise first_error or ProviderNotInitializeError()
    return targets


def _history(session: Session, message: Message) -> list[Turn]:
    rows = session.execute(sa.select(Message.query, Message.answer).where(
        Message.conversation_id == message.conversation_id, Message.id != message.id,
        Message.status.in_(("normal", "stopped")), Message.created_at <= message.created_at)
        .order_by(Message.created_at.desc()).limit(HISTORY_LIMIT)).all()
    return [Turn(query=q, answer=a) for q, a in reversed(rows)]


def _images(session: Session, runtime: Runtime, message: Message) -> tuple[ImageInput, ...]:
    images = []
    for file in session.scalars(sa.select(MessageFile).where(MessageFile.message_id == message.id,
                                                             MessageFile.type == "image")):
        if file.transfer_method == "remote_url" and file.url:
            images.append(ImageInput(url=file.url))
        elif file.upload_file_id:
            upload = session.get(UploadFile, file.upload_file_id)
            if upload is not None:
                data = base64.b64encode(runtime.storage.load(upload.key)).decode()
                images.append(ImageInput(url=f"data:{upload.mime_type or 'image/png'};base64,{data}"))
    return tuple(images)


def _prompt(session: Session, runtime: Runtime, message: Message, config: dict[str, Any], target: ModelTarget,
            context: str = "", hints: dict[str, bool] | None = None):
    hints = hints or {}
    images = _images(session, runtime, message) if hints.get("files", True) else ()
    if message.app_mode == AppMode.COMPLETION:
        return build_completion_prompt(pre_prompt=config.get("pre_prompt") or "", inputs=message.inputs or {},
                                       query=message.query, images=images, context=context)
    params = target.completion_params or {}
    return build_chat_prompt(pre_prompt=config.get("pre_prompt") or "", inputs=message.inputs or {},
                             query=message.query, images=images,
                             history=_history(session, message) if hints.get("history", True) else [],
                             context=context, context_size=_int(target.credentials.get("context_size")),
                             max_tokens=_int(params.get("max_tokens")))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _error_fields(exc: Exception) -> tuple[str, int, str]:
    if isinstance(exc, InvokeAuthorizationError):
        return "completion_request_error", 400, "Incorrect API key provided"
    if isinstance(exc, InvokeQuotaExceededError):
        return "provider_quota_exceeded", 400, exc.message
    if isinstance(exc, InvokeError | ServiceError):
        return exc.code, 400, exc.message
    return "internal_server_error", 500, "Internal Server Error, please contact support."


def execute_chat_run(session: Session, *, runtime: Runtime, message_id: str, task_id: str,
                     hints: dict[str, bool] | None = None, turn: dict[str, Any] | None = None) -> str:
    """Run one message to completion; returns the final status ("skipped" if it was not ours to claim).

    `hints` (from the API that persisted the turn): "history"/"files" False skip the queries for earlier
    turns and attached files; missing hints mean "look". `turn` (run_claim.turn_of): the model call starts while
    the message is being claimed; without it, the claim comes first."""
    stopped = threading.Event()
    publisher = _Publisher(runtime, task_id, {})

    def on_claimed() -> None:  # on the claiming thread, once the row is ours
        publisher.raw({"event": CLAIMED})  # queued, not awaited (as every event)
        _monitor.watch(task_id, counters=runtime.counters, beat=lambda: publisher.raw({"event": HEARTBEAT}),
                       interval=runtime.settings.run_heartbeat_interval, stopped=stopped)

    def on_failed() -> None:  # the client hears of it now, not after its queue timeout (nothing was claimed)
        publisher.raw({"event": FAILED})
        stopped.set()  # a model call already under way ends at its next chunk

    bind = session.get_bind()
    claim = (run_claim.Claim.start(bind, message_id, on_claimed, on_failed)
             if turn is not None and isinstance(bind, sa.Engine)
             else run_claim.Claim.now(session, message_id, on_claimed, on_failed))
    status = "error"
    try:
        try:
            message = claim.message() if turn is None else run_claim.message_of(message_id, task_id, turn)
            publisher.envelope = _envelope(message)
            status = _generate(session, runtime, message, publisher, task_id, hints, stopped, claim)
        except Exception as exc:
            session.rollback()  # no pooled connection is held while the claim's outcome is awaited
            claim.message()  # a run that is not ours leaves the row and the stream alone (raises)
            status = _fail(session, message_id, publisher, exc)
    except run_claim.NotClaimableError:
        logger.info("run not claimable (already handled) message_id=%s", message_id)
        return "skipped"
    finally:
        # Waits for the claim (so its thread no longer starts watching the run). A run that is not ours leaves the
        # watch of the delivery that owns it alone.
        if claim.ours():
            _monitor.unwatch(task_id)
            if not publisher.terminal_sent:
                publisher.event("error", code="internal_server_error", status=500, message="Internal Server Error")
    if status == "normal" and (message.message_metadata or {}).get("auto_generate_name"):
        dispatch.enqueue_conversation_name(runtime.dispatcher, conversation_id=message.conversation_id)
    return status


def _envelope(message: Message) -> dict[str, Any]:
    envelope: dict[str, Any] = {"conversation_id": message.conversation_id, "message_id": message.id,
                                "created_at": to_timestamp(message.created_at) or 0}
    if message.app_mode == AppMode.COMPLETION:
        envelope.pop("conversation_id")
    return envelope


def _fail(session: Session, message_id: str, publisher: _Publisher, exc: Exception) -> str:
    """A failed run: its row marked `error` and its stream ended with an `error` event."""
    code, http_status, text = _error_fields(exc)
    if http_status == 500:
        logger.error("run failed message_id=%s", message_id, exc_info=exc)
    else:
        logger.warning("run failed message_id=%s code=%s", message_id, code)
    session.rollback()
    session.execute(sa.update(Message).where(Message.id == message_id)
                    .values(status="error", error=text, updated_at=utcnow()))
    session.commit()
    publisher.event("error", code=code, status=http_status, message=text)
    return "error"


def _generate(session: Session, runtime: Runtime, message: Message, publisher: _Publisher, task_id: str,
              hints: dict[str, bool] | None, stopped: threading.Event, claim: run_claim.Claim) -> str:
    config = _config(session, runtime, message)
    tenant_id = _tenant_of(session, message)
    targets = _targets(session, runtime, tenant_id, config["model"])
    if retrieval_service.uses_knowledge(config):
        claim.message()  # retrieval writes hit counts and calls embedding models: only for a run that is ours
    knowledge = retrieval_service.retrieve_for_app(  # the app's datasets (dataset_configs), if any
        session, runtime=runtime, tenant_id=tenant_id, config=config, query=message.query or "",
        inputs=message.inputs, app_mode=message.app_mode or "", invoke_from=message.invoke_from)
    messages = _prompt(session, runtime, message, config, targets[0], context=knowledge.context, hints=hints)
    session.commit()  # hand the pooled connection back while the model streams
    finished: pipeline.Finished | None = None
    first = True
    try:
        for item in pipeline.generate(targets, messages, should_stop=stopped.is_set, retry=_retry, breaker=_breaker):
            if first:  # nothing is published before the run is known to be ours (raises if it is not)
                claim.message()
            if isinstance(item, pipeline.Delta):
                publisher.event("message", id=message.id, answer=item.text, from_variable_selector=None)
                if first:  # the publisher thread sends it now, not once this thread has parsed a burst
                    time.sleep(0)
            else:
                finished = item
            first = False
    finally:
        if stopped.is_set():  # a flag this run never saw expires by its TTL (no round trip per run for it)
            runtime.counters.delete(redis_keys.run_stop_flag(task_id))
    assert finished is not None
    usage = finished.usage
    answered = finished.model or targets[0]
    metadata = {"annotation_reply": None, "retriever_resources": knowledge.resources, "usage": usage.to_dict(),
                "model": {"provider": answered.provider, "name": answered.name}}
    status = "stopped" if finished.stopped else "normal"
    message.message_metadata = {**(message.message_metadata or {}), **metadata}
    # The API may have marked the row failed meanwhile (its relay lost Redis): the finished answer wins.
    autocommit_statements(session)  # one statement: one round trip
    session.execute(_FINISH, {
        "finish_id": message.id, "answer": finished.answer, "status": status, "error": None,
        "model_provider": answered.provider, "model_id": answered.name,
        "message": [{"role": m.role, "text": m.content} for m in messages],
        "message_tokens": usage.prompt_tokens, "answer_tokens": usage.completion_tokens,
        "message_unit_price": usage.prompt_unit_price, "message_price_unit": usage.prompt_price_unit,
        "answer_unit_price": usage.completion_unit_price, "answer_price_unit": usage.completion_price_unit,
        "total_price": usage.total_price, "currency": usage.currency, "provider_response_latency": usage.latency,
        "message_metadata": message.message_metadata, "updated_at": utcnow()})
    session.commit()
    publisher.event("message_end", id=message.id, metadata=metadata, files=None)
    return status


_monitor = RunMonitor()  # stop flags and heartbeats of every run in this process


_app_tenants: dict[str, str] = {}  # an app never changes workspace


def _tenant_of(session: Session, message: Message) -> str:
    tenant_id = _app_tenants.get(message.app_id)
    if tenant_id is None:
        tenant_id = session.scalar(sa.select(App.tenant_id).where(App.id == message.app_id)) or ""
        if tenant_id:
            if len(_app_tenants) > 10_000:
                _app_tenants.clear()
            _app_tenants[message.app_id] = tenant_id
    return tenant_id


STALE_AFTER_SECONDS = 1260  # the run task's hard time limit: nothing legitimately runs longer


def expire_stale_runs(session: Session) -> int:
    """Mark messages still pending/running past the hard time limit as errors (their worker died
    while nobody was listening). Idempotent. Commits; returns how many it expired."""
    cutoff = utcnow() - timedelta(seconds=STALE_AFTER_SECONDS)
    count = session.execute(sa.update(Message).where(Message.status.in_(("pending", "running")),
                                                     Message.created_at < cutoff)
                            .values(status="error", error="The run was interrupted.", updated_at=utcnow())).rowcount
    session.commit()
    return count
