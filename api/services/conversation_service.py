"""Conversations and messages of one end user (or console account) of an app.

Everything is scoped by (app, caller): another user's conversation or message is "not found".
Titles and suggested questions come from one short model call (the app's own model chain).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.chat import pipeline
from api.core.model_runtime.entities import PromptMessage
from api.core.model_runtime.resilience import CircuitBreaker, RetryPolicy
from api.extensions.runtime import Runtime
from api.libs.clock import utcnow
from api.libs.uuid7 import is_uuid
from api.models.app import App, AppModelConfig
from api.models.conversation import Conversation, Message, MessageFeedback, MessageFile
from api.services import provider_service
from api.services.errors import (
    ConversationNotFoundError,
    InvalidInputError,
    MessageNotFoundError,
    NotFoundError,
    SuggestedQuestionsDisabledError,
)
from api.services.run_service import Caller

logger = logging.getLogger(__name__)
SORTS = {"created_at": Conversation.created_at.asc(), "-created_at": Conversation.created_at.desc(),
         "updated_at": Conversation.updated_at.asc(), "-updated_at": Conversation.updated_at.desc()}
_breaker, _retry = CircuitBreaker(), RetryPolicy(max_attempts=2)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    limit: int
    has_more: bool


def _owned(caller: Caller) -> list[sa.ColumnElement[bool]]:
    if caller.end_user_id:
        return [Conversation.from_end_user_id == caller.end_user_id]
    return [Conversation.from_account_id == caller.account_id]


def get_conversation(session: Session, *, app_id: str, caller: Caller, conversation_id: str) -> Conversation:
    """The caller's non-deleted conversation. Raises ConversationNotFoundError."""
    if not is_uuid(conversation_id):
        raise ConversationNotFoundError()
    conversation = session.scalar(sa.select(Conversation).where(
        Conversation.id == conversation_id, Conversation.app_id == app_id, Conversation.is_deleted.is_(False),
        *_owned(caller)))
    if conversation is None:
        raise ConversationNotFoundError()
    return conversation


def list_conversations(session: Session, *, app_id: str, caller: Caller, last_id: str | None, limit: int,
                       sort_by: str) -> Page:
    """The caller's conversations after `last_id` in `sort_by` order (Dify's infinite scroll)."""
    cond = [Conversation.app_id == app_id, Conversation.is_deleted.is_(False), *_owned(caller)]
    column = Conversation.updated_at if sort_by.lstrip("-") == "updated_at" else Conversation.created_at
    if last_id:
        last = session.scalar(sa.select(Conversation).where(Conversation.id == last_id, *cond)) if is_uuid(
            last_id) else None
        if last is None:
            raise NotFoundError("Last Conversation Not Exists.")
        pivot = getattr(last, column.key)
        cond.append(sa.or_(column < pivot, sa.and_(column == pivot, Conversation.id < last.id))
                    if sort_by.startswith("-") else
                    sa.or_(column > pivot, sa.and_(column == pivot, Conversation.id > last.id)))
    order = [SORTS[sort_by], Conversation.id.desc() if sort_by.startswith("-") else Conversation.id.asc()]
    rows = list(session.scalars(sa.select(Conversation).where(*cond).order_by(*order).limit(limit + 1)))
    return Page(items=rows[:limit], limit=limit, has_more=len(rows) > limit)


def delete_conversation(session: Session, *, app_id: str, caller: Caller, conversation_id: str) -> None:
    """Soft-delete the caller's conversation. Commits. Raises ConversationNotFoundError."""
    conversation = get_conversation(session, app_id=app_id, caller=caller, conversation_id=conversation_id)
    conversation.is_deleted = True
    session.commit()


def rename_conversation(session: Session, *, runtime: Runtime, app_id: str, caller: Caller, conversation_id: str,
                        name: str | None, auto_generate: bool) -> Conversation:
    """Set a name, or generate one from the first query with the app's model. Commits.

    Raises: ConversationNotFoundError, InvalidInputError (no name and no auto_generate).
    """
    conversation = get_conversation(session, app_id=app_id, caller=caller, conversation_id=conversation_id)
    if auto_generate:
        conversation.name = generate_name(session, runtime=runtime, conversation=conversation) or conversation.name
    elif name and name.strip():
        conversation.name = name.strip()[:255]
    else:
        raise InvalidInputError("name is required when auto_generate is false", field="name")
    session.commit()
    return conversation


def list_messages(session: Session, *, app_id: str, caller: Caller, conversation_id: str, first_id: str | None,
                  limit: int) -> Page:
    """The newest `limit` messages older than `first_id`, returned oldest first (Dify's history cursor)."""
    conversation = get_conversation(session, app_id=app_id, caller=caller, conversation_id=conversation_id)
    cond = [Message.conversation_id == conversation.id]
    if first_id:
        first = session.scalar(sa.select(Message).where(Message.id == first_id, *cond)) if is_uuid(first_id) else None
        if first is None:
            raise NotFoundError("First Message Not Exists.")
        cond.append(sa.or_(Message.created_at < first.created_at,
                           sa.and_(Message.created_at == first.created_at, Message.id < first.id)))
    rows = list(session.scalars(sa.select(Message).where(*cond)
                                .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1)))
    return Page(items=list(reversed(rows[:limit])), limit=limit, has_more=len(rows) > limit)


def message_extras(session: Session, messages: list[Message], caller: Caller) -> dict[str, dict[str, Any]]:
    """feedback and files per message id, in two queries."""
    ids = [m.id for m in messages]
    extras: dict[str, dict[str, Any]] = {i: {"feedback": None, "files": []} for i in ids}
    if not ids:
        return extras
    source = "user" if caller.end_user_id else "admin"
    for fb in session.scalars(sa.select(MessageFeedback).where(MessageFeedback.message_id.in_(ids),
                                                               MessageFeedback.from_source == source)):
        extras[fb.message_id]["feedback"] = {"rating": fb.rating}
    for file in session.scalars(sa.select(MessageFile).where(MessageFile.message_id.in_(ids))):
        extras[file.message_id]["files"].append(file)
    return extras


def _get_message(session: Session, app_id: str, caller: Caller, message_id: str) -> Message:
    if not is_uuid(message_id):
        raise MessageNotFoundError()
    owner = (Message.from_end_user_id == caller.end_user_id) if caller.end_user_id else (
        Message.from_account_id == caller.account_id)
    message = session.scalar(sa.select(Message).where(Message.id == message_id, Message.app_id == app_id, owner))
    if message is None:
        raise MessageNotFoundError()
    return message


def give_feedback(session: Session, *, app_id: str, caller: Caller, message_id: str, rating: str | None,
                  content: str | None) -> None:
    """Create, update or (rating None) delete the caller's feedback on a message. Commits.

    Raises: MessageNotFoundError, InvalidInputError (None rating without existing feedback).
    """
    message = _get_message(session, app_id, caller, message_id)
    source = "user" if caller.end_user_id else "admin"
    feedback = session.scalar(sa.select(MessageFeedback).where(MessageFeedback.message_id == message.id,
                                                               MessageFeedback.from_source == source))
    if rating is None:
        if feedback is None:
            raise InvalidInputError("rating cannot be None when feedback not exists", field="rating")
        session.delete(feedback)
    elif feedback is None:
        session.add(MessageFeedback(app_id=app_id, conversation_id=message.conversation_id, message_id=message.id,
                                    rating=rating, content=content, from_source=source,
                                    from_end_user_id=caller.end_user_id, from_account_id=caller.account_id))
    else:
        feedback.rating, feedback.content, feedback.updated_at = rating, content, utcnow()
    session.commit()


def _app_config(session: Session, app_id: str) -> tuple[App, dict[str, Any]]:
    app = session.get(App, app_id)
    config = session.get(AppModelConfig, app.app_model_config_id) if app and app.app_model_config_id else None
    if app is None or config is None:
        raise NotFoundError("App not found.")
    return app, config.to_dict()


def _complete_once(session: Session, runtime: Runtime, app_id: str, prompt: str) -> str:
    app, config = _app_config(session, app_id)
    model = {**config["model"], "completion_params": {"max_tokens": 256, "temperature": 0.3}}
    targets = [provider_service.resolve_target(session, cache=runtime.cache, secret_key=runtime.settings.secret_key,
                                               tenant_id=app.tenant_id, provider=model["provider"],
                                               model=model["name"], completion_params=model["completion_params"])]
    answer = ""
    for item in pipeline.generate(targets, [PromptMessage(role="user", content=prompt)], should_stop=lambda: False,
                                  retry=_retry, breaker=_breaker):
        if isinstance(item, pipeline.Finished):
            answer = item.answer
    return answer.strip()


def generate_name(session: Session, *, runtime: Runtime, conversation: Conversation) -> str:
    """A short title for the conversation from its first query (empty string on failure)."""
    first = session.scalar(sa.select(Message.query).where(Message.conversation_id == conversation.id)
                           .order_by(Message.created_at).limit(1))
    if not first:
        return ""
    prompt = ("Write a concise title (at most 8 words, no quotes, same language as the text) for a conversation "
              f"that starts with:\n{first[:2000]}")
    try:
        return _complete_once(session, runtime, conversation.app_id, prompt).strip().strip('"')[:255]
    except Exception:
        logger.warning("conversation title generation failed conversation_id=%s", conversation.id)
        return ""


def generate_name_task(session: Session, *, runtime: Runtime, conversation_id: str) -> None:
    """Background: replace the provisional name with a generated one. Commits."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return
    name = generate_name(session, runtime=runtime, conversation=conversation)
    if name:
        conversation.name = name
        session.commit()


def suggested_questions(session: Session, *, runtime: Runtime, app_id: str, caller: Caller, message_id: str,
                        enabled: bool) -> list[str]:
    """Three follow-up questions for a message, when the app enables the feature.

    Raises: MessageNotFoundError, SuggestedQuestionsDisabledError.
    """
    message = _get_message(session, app_id, caller, message_id)
    if not enabled:
        raise SuggestedQuestionsDisabledError()
    prompt = ("Suggest the user's 3 most likely next questions, each under 20 words, in the conversation's language."
              " Answer only with a JSON array of strings.\n"
              f"User: {message.query[:2000]}\nAssistant: {message.answer[:4000]}")
    try:
        text = _complete_once(session, runtime, app_id, prompt)
    except Exception:
        logger.warning("suggested questions failed message_id=%s", message_id)
        return []
    match = re.search(r"\[.*\]", text, re.DOTALL)
    try:
        items = json.loads(match.group(0)) if match else []
    except ValueError:
        items = []
    return [str(q) for q in items if isinstance(q, str)][:3]
