"""Service-API key authentication on the hot path, served from the invalidating cache.

A valid key costs no database round trip once warm: key digest → (key id, app id) and
app id → AppSnapshot (plain values: app fields, live model config, site, tenant status) are
both cached per process, and every write that changes them broadcasts an invalidation.
`last_used_at` is written in the background at most once a minute per key per process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.ports import Dispatcher
from api.extensions import redis_keys
from api.extensions.cache import InvalidatingCache
from api.libs import secret_tokens
from api.libs.clock import to_timestamp, utcnow
from api.libs.single_flight import SingleFlight
from api.models.account import Account, Tenant
from api.models.app import ApiToken, App, AppModelConfig, EndUser, Site
from api.models.enums import ApiTokenType, TenantStatus
from api.models.tag import Tag, TagBinding
from api.services import dispatch
from api.services.errors import EndUserNotFoundError, InvalidInputError, PermissionDeniedError, UnauthorizedError

logger = logging.getLogger(__name__)

TOUCH_INTERVAL_SECONDS = 60
DEFAULT_USER = "DEFAULT-USER"
_touched: dict[str, float] = {}
_touched_lock = threading.Lock()


@dataclass(frozen=True)
class KeyRecord:
    id: str
    type: str
    tenant_id: str
    app_id: str | None


@dataclass(frozen=True)
class AppSnapshot:
    """Everything the Service API reads about an app, as plain values."""

    id: str
    tenant_id: str
    tenant_status: str
    name: str
    description: str
    mode: str
    status: str
    enable_api: bool
    enable_site: bool
    icon_type: str | None
    icon: str | None
    icon_background: str | None
    use_icon_as_answer_icon: bool
    api_rpm: int
    api_rph: int
    max_active_requests: int
    author_name: str
    model_config: dict[str, Any] | None
    site: dict[str, Any] | None
    model_config_id: str | None = None
    tags: tuple[str, ...] = ()  # names of the app's tags (tag_service invalidates the snapshot when they change)


def _load_key(session: Session, digest: str) -> KeyRecord | None:
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token == digest))
    return KeyRecord(id=row.id, type=row.type, tenant_id=row.tenant_id, app_id=row.app_id) if row else None


def _site_dict(site: Site | None) -> dict[str, Any] | None:
    if site is None:
        return None
    return {c: getattr(site, c) for c in (
        "title", "chat_color_theme", "chat_color_theme_inverted", "icon_type", "icon", "icon_background",
        "description", "copyright", "privacy_policy", "custom_disclaimer", "default_language",
        "show_workflow_steps", "use_icon_as_answer_icon", "code")}


def load_snapshot(session: Session, app_id: str) -> AppSnapshot | None:
    """Read an app and its live config/site/tenant status into an AppSnapshot (None if gone)."""
    row = session.execute(sa.select(App, Tenant.status).join(Tenant, Tenant.id == App.tenant_id)
                          .where(App.id == app_id)).first()
    if row is None:
        return None
    app, tenant_status = row
    config = session.get(AppModelConfig, app.app_model_config_id) if app.app_model_config_id else None
    site = session.scalar(sa.select(Site).where(Site.app_id == app.id))
    author = session.scalar(sa.select(Account.name).where(Account.id == app.created_by)) if app.created_by else None
    tags = session.scalars(sa.select(Tag.name).join(TagBinding, TagBinding.tag_id == Tag.id).where(
        TagBinding.target_id == app.id, Tag.tenant_id == app.tenant_id, Tag.type == "app").order_by(Tag.name))
    return AppSnapshot(
        id=app.id, tenant_id=app.tenant_id, tenant_status=tenant_status, name=app.name,
        description=app.description or "", mode=app.mode, status=app.status, enable_api=app.enable_api,
        enable_site=app.enable_site, icon_type=app.icon_type, icon=app.icon, icon_background=app.icon_background,
        use_icon_as_answer_icon=app.use_icon_as_answer_icon, api_rpm=app.api_rpm, api_rph=app.api_rph,
        max_active_requests=app.max_active_requests or 0, author_name=author or "",
        model_config=config.to_dict() if config else None, site=_site_dict(site),
        model_config_id=config.id if config else None, tags=tuple(tags),
    )


def authenticate_key(session: Session, *, cache: InvalidatingCache, dispatcher: Dispatcher, token: str,
                     key_type: ApiTokenType) -> tuple[KeyRecord, AppSnapshot | None]:
    """Resolve a bearer key to its record and (for app keys) the app snapshot.

    Raises: UnauthorizedError (unknown key or wrong kind of key); PermissionDeniedError when the
    app is gone, abnormal, has API access disabled, or its workspace is archived.
    """
    digest = secret_tokens.digest(token)
    record = cache.get_or_load(redis_keys.cache_api_key(digest), lambda: _load_key(session, digest))
    if record is None or record.type != key_type:
        raise UnauthorizedError("Access token is invalid")
    _touch(dispatcher, record.id)
    if key_type != ApiTokenType.APP:
        return record, None
    snapshot = cache.get_or_load(redis_keys.cache_app(record.app_id), lambda: load_snapshot(session, record.app_id))
    if snapshot is None:
        raise PermissionDeniedError("The app no longer exists.")
    if snapshot.status != "normal":
        raise PermissionDeniedError("The app's status is abnormal.")
    if not snapshot.enable_api:
        raise PermissionDeniedError("The app's API service has been disabled.")
    if snapshot.tenant_status == TenantStatus.ARCHIVE:
        raise PermissionDeniedError("The workspace's status is archived.")
    return record, snapshot


def _touch(dispatcher: Dispatcher, key_id: str) -> None:
    now = time.monotonic()
    with _touched_lock:
        last = _touched.get(key_id)
        if last is not None and now - last < TOUCH_INTERVAL_SECONDS:
            return
        _touched[key_id] = now
    try:  # bookkeeping only: a broker that is down must not fail the request it rides on
        dispatch.enqueue_touch_api_key(dispatcher, key_id=key_id, used_at=to_timestamp(utcnow()) or 0)
    except Exception:
        logger.warning("could not queue the key's last-used update key_id=%s", key_id)
        with _touched_lock:
            _touched.pop(key_id, None)  # the next request tries again


def touch_api_key(session: Session, *, key_id: str, used_at: int) -> None:
    """Record when a key was last used (monotonic: never moves backwards). Commits."""
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(used_at, UTC).replace(tzinfo=None)
    session.execute(sa.update(ApiToken).where(
        ApiToken.id == key_id, sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < when),
    ).values(last_used_at=when))
    session.commit()


@dataclass(frozen=True)
class EndUserRef:
    """The identity of an end user (its row never changes once created, so it is safe to cache)."""

    id: str
    tenant_id: str
    app_id: str
    type: str
    session_id: str
    is_anonymous: bool


_END_USER_CACHE_MAX = 20_000
_end_users: dict[tuple[str, str], EndUserRef] = {}
_end_users_lock = threading.Lock()
_end_user_loads = SingleFlight()


def _end_user_ref(row: EndUser) -> EndUserRef:
    return EndUserRef(id=row.id, tenant_id=row.tenant_id, app_id=row.app_id or "", type=row.type,
                      session_id=row.session_id, is_anonymous=row.is_anonymous)


def get_or_create_end_user(session: Session, *, snapshot: AppSnapshot, user: str | None, required: bool
                           ) -> EndUserRef:
    """The end user of this app for the caller's `user` string (created on first sight). Commits when created.

    Served from a per-process map once seen: an end user's identity never changes, and the rows of a
    deleted app are never asked for again (its keys stop authenticating first).
    Raises: InvalidInputError "Arg user must be provided." when required and missing.
    """
    if not user:
        if required:
            raise InvalidInputError("Arg user must be provided.", field="user")
        user = DEFAULT_USER
    if len(user) > 255:
        raise InvalidInputError("user must be at most 255 characters.", field="user")
    cache_key = (snapshot.id, user)
    cached = _end_users.get(cache_key)
    if cached is not None:
        return cached
    with _end_user_loads.turn(cache_key) as first:  # concurrent first requests of one user: one lookup
        cached = None if first else _end_users.get(cache_key)
        return cached or _load_end_user(session, snapshot, user, cache_key)


def _load_end_user(session: Session, snapshot: AppSnapshot, user: str, cache_key: tuple[str, str]) -> EndUserRef:
    cond = (EndUser.app_id == snapshot.id, EndUser.session_id == user, EndUser.type == "service-api")
    end_user = session.scalar(sa.select(EndUser).where(*cond))
    if end_user is None:
        end_user = EndUser(tenant_id=snapshot.tenant_id, app_id=snapshot.id, type="service-api",
                           external_user_id=user, session_id=user, is_anonymous=user == DEFAULT_USER)
        session.add(end_user)
        try:
            session.commit()
        except sa.exc.IntegrityError:  # a concurrent request created it first
            session.rollback()
            end_user = session.scalar(sa.select(EndUser).where(*cond))
            assert end_user is not None
    ref = _end_user_ref(end_user)
    with _end_users_lock:
        if len(_end_users) >= _END_USER_CACHE_MAX:
            _end_users.clear()
        _end_users[cache_key] = ref
    return ref


def get_end_user(session: Session, *, snapshot: AppSnapshot, end_user_id: str) -> EndUser:
    """An end user of this app. Raises EndUserNotFoundError."""
    end_user = session.scalar(sa.select(EndUser).where(EndUser.id == end_user_id, EndUser.app_id == snapshot.id))
    if end_user is None:
        raise EndUserNotFoundError()
    return end_user
