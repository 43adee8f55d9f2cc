"""Apps in a workspace: list, create, read, update, delete, copy, enable flags, model config.

Every query filters by tenant; an app of another workspace is AppNotFoundError (404).
Writes that change what the Service API serves invalidate the app's cached snapshot in every
process (see service_auth_service).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.app.model_config import ModelConfigError, default_model_config, validate_model_config
from api.extensions import redis_keys
from api.extensions.cache import InvalidatingCache
from api.libs import secret_tokens
from api.libs.pagination import Page
from api.models.account import Account
from api.models.app import MODEL_CONFIG_JSON_FIELDS, ApiToken, App, AppModelConfig, EndUser, Site
from api.models.enums import MODEL_CONFIG_MODES
from api.services import tag_service
from api.services.errors import AppNotFoundError, InvalidInputError
from api.services.workspace_service import EDITORS, PRIVILEGED, Principal


def list_apps(session: Session, *, tenant_id: str, page: int, limit: int, mode: str = "all", name: str | None = None,
              created_by: str | None = None, tag_ids: list[str] | None = None) -> Page:
    """A page of the workspace's apps, newest first, filtered by mode/name/creator and by tags (apps carrying any
    of `tag_ids`; unknown tags match nothing, as in Dify)."""
    cond = [App.tenant_id == tenant_id, App.is_universal.is_(False)]
    if mode != "all":
        cond.append(App.mode == mode)
    if name:
        escaped = name[:30].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        cond.append(App.name.ilike(f"%{escaped}%", escape="\\"))
    if created_by:
        cond.append(App.created_by == created_by)
    if tag_ids:
        cond.append(App.id.in_(tag_service.tagged_targets(tenant_id=tenant_id, tag_type=tag_service.APP,
                                                          tag_ids=tag_ids)))
    total = session.scalar(sa.select(sa.func.count(App.id)).where(*cond)) or 0
    items = session.scalars(sa.select(App).where(*cond).order_by(App.created_at.desc(), App.id.desc())
                            .offset((page - 1) * limit).limit(limit)).all()
    return Page(items=list(items), total=total, page=page, limit=limit)


def get_app(session: Session, *, tenant_id: str, app_id: str) -> App:
    """The app with `app_id` in this workspace. Raises AppNotFoundError."""
    app = session.scalar(sa.select(App).where(App.id == app_id, App.tenant_id == tenant_id,
                                              App.status == "normal"))
    if app is None:
        raise AppNotFoundError()
    return app


def get_model_config(session: Session, app: App) -> AppModelConfig | None:
    """The app's current model config row (`app.app_model_config_id`), or None if it has none. Reads only."""
    return session.get(AppModelConfig, app.app_model_config_id) if app.app_model_config_id else None


def get_model_configs(session: Session, apps: list[App]) -> dict[str, AppModelConfig]:
    """Live model configs of several apps in one query, keyed by config id.

    Loads only what the app list shows (model, pre_prompt, authorship): decoding every JSON column
    of every row was the largest cost of `GET /console/api/apps`. Other attributes load on access.
    """
    ids = [a.app_model_config_id for a in apps if a.app_model_config_id]
    if not ids:
        return {}
    listed = sa.orm.load_only(AppModelConfig.model, AppModelConfig.pre_prompt, AppModelConfig.created_by,
                              AppModelConfig.created_at, AppModelConfig.updated_by, AppModelConfig.updated_at)
    return {c.id: c for c in session.scalars(sa.select(AppModelConfig).options(listed)
                                             .where(AppModelConfig.id.in_(ids)))}


def get_site(session: Session, app: App) -> Site | None:
    """The app's web-app site row, or None if none was created. Reads only."""
    return session.scalar(sa.select(Site).where(Site.app_id == app.id))


def get_creator_names(session: Session, account_ids: set[str]) -> dict[str, str]:
    """account id → name, in one query (for list rendering)."""
    ids = {i for i in account_ids if i}
    if not ids:
        return {}
    return dict(session.execute(sa.select(Account.id, Account.name).where(Account.id.in_(ids))).all())


def _new_site(app: App, account: Account) -> Site:
    return Site(app_id=app.id, title=app.name, icon_type=app.icon_type, icon=app.icon,
                icon_background=app.icon_background, description=app.description,
                default_language=account.interface_language or "en-US", customize_token_strategy="not_allow",
                code=secret_tokens.random_alnum(16), created_by=account.id, updated_by=account.id,
                use_icon_as_answer_icon=app.use_icon_as_answer_icon)


def _save_model_config(session: Session, app: App, config: dict[str, Any], account_id: str) -> AppModelConfig:
    row = AppModelConfig(app_id=app.id, provider=config["model"]["provider"], model_id=config["model"]["name"],
                         created_by=account_id, updated_by=account_id)
    for key in (*MODEL_CONFIG_JSON_FIELDS, "opening_statement", "dataset_query_variable", "pre_prompt",
                "prompt_type"):
        setattr(row, key, config.get(key))
    session.add(row)
    session.flush()
    app.app_model_config_id = row.id
    return row


def create_app(session: Session, *, principal: Principal, name: str, mode: str, description: str = "",
               icon_type: str | None = None, icon: str | None = None, icon_background: str | None = None) -> App:
    """Create an app (editor+) with its site and, for chat/agent-chat/completion, a default model config.

    Writes: apps, sites, app_model_configs; commits once. Raises PermissionDeniedError.
    """
    principal.require(EDITORS)
    app = App(tenant_id=principal.tenant_id, name=name, mode=mode, description=description or "",
              icon_type=icon_type or "emoji", icon=icon or "🤖", icon_background=icon_background or "#FFEAD5",
              enable_site=True, enable_api=True, status="normal", created_by=principal.account_id,
              updated_by=principal.account_id)
    session.add(app)
    session.flush()
    if mode in MODEL_CONFIG_MODES:
        _save_model_config(session, app, default_model_config(mode), principal.account_id)
    session.add(_new_site(app, principal.account))
    session.commit()
    return app


def _invalidate(cache: InvalidatingCache, app_id: str) -> None:
    cache.invalidate(redis_keys.cache_app(app_id))


def update_app(session: Session, *, principal: Principal, cache: InvalidatingCache, app_id: str,
               changes: dict[str, Any]) -> App:
    """Apply `changes` (name, description, icon*, use_icon_as_answer_icon, limits) (editor+). Commits.

    Raises: PermissionDeniedError, AppNotFoundError.
    """
    principal.require(EDITORS)
    app = get_app(session, tenant_id=principal.tenant_id, app_id=app_id)
    for key in ("name", "description", "icon_type", "icon", "icon_background", "use_icon_as_answer_icon",
                "max_active_requests", "api_rpm", "api_rph"):
        if key in changes and changes[key] is not None:
            setattr(app, key, changes[key])
    app.updated_by = principal.account_id
    session.commit()
    _invalidate(cache, app.id)
    return app


def set_flags(session: Session, *, principal: Principal, cache: InvalidatingCache, app_id: str,
              enable_api: bool | None = None, enable_site: bool | None = None) -> App:
    """Toggle API access (owner/admin) or the web site (editor+). Commits.

    Raises: PermissionDeniedError, AppNotFoundError.
    """
    principal.require(PRIVILEGED if enable_api is not None else EDITORS)
    app = get_app(session, tenant_id=principal.tenant_id, app_id=app_id)
    if enable_api is not None:
        app.enable_api = enable_api
    if enable_site is not None:
        app.enable_site = enable_site
    app.updated_by = principal.account_id
    session.commit()
    _invalidate(cache, app.id)
    return app


def delete_app(session: Session, *, principal: Principal, cache: InvalidatingCache, app_id: str) -> None:
    """Delete the app and everything that hangs off it (keys, config, site, end users, tag bindings); its keys
    stop working at once (editor+). Commits.

    Raises: PermissionDeniedError, AppNotFoundError.
    """
    principal.require(EDITORS)
    app = get_app(session, tenant_id=principal.tenant_id, app_id=app_id)
    token_hashes = list(session.scalars(sa.select(ApiToken.token).where(ApiToken.app_id == app.id)))
    for model in (ApiToken, AppModelConfig, Site, EndUser):
        session.execute(sa.delete(model).where(model.app_id == app.id))
    tag_service.remove_target_bindings(session, tenant_id=app.tenant_id, target_id=app.id)
    session.delete(app)
    session.commit()
    cache.invalidate(redis_keys.cache_app(app.id), *(redis_keys.cache_api_key(h) for h in token_hashes))


def copy_app(session: Session, *, principal: Principal, app_id: str, name: str | None, description: str | None,
             icon_type: str | None, icon: str | None, icon_background: str | None) -> App:
    """Duplicate an app with its current model config and a new site (editor+). Commits.

    Keys, end users and conversations are not copied. Raises PermissionDeniedError, AppNotFoundError.
    """
    principal.require(EDITORS)
    source = get_app(session, tenant_id=principal.tenant_id, app_id=app_id)
    copy = App(tenant_id=principal.tenant_id, name=name or source.name, mode=source.mode,
               description=source.description if description is None else description,
               icon_type=icon_type or source.icon_type, icon=icon or source.icon,
               icon_background=icon_background or source.icon_background, enable_site=source.enable_site,
               enable_api=source.enable_api, api_rpm=source.api_rpm, api_rph=source.api_rph,
               max_active_requests=source.max_active_requests,
               use_icon_as_answer_icon=source.use_icon_as_answer_icon, status="normal",
               created_by=principal.account_id, updated_by=principal.account_id)
    session.add(copy)
    session.flush()
    config = get_model_config(session, source)
    if config is not None:
        _save_model_config(session, copy, config.to_dict(), principal.account_id)
    session.add(_new_site(copy, principal.account))
    session.commit()
    return copy


def save_model_config(session: Session, *, principal: Principal, cache: InvalidatingCache, app_id: str,
                      config: Any) -> AppModelConfig:
    """Validate `config` for the app's mode and make it the live config (editor+).

    Writes: a new app_model_configs row and apps.app_model_config_id; commits once.
    Raises: PermissionDeniedError, AppNotFoundError (also for workflow/advanced-chat apps, which
    have no model config), InvalidInputError naming the bad field.
    """
    principal.require(EDITORS)
    app = get_app(session, tenant_id=principal.tenant_id, app_id=app_id)
    if app.mode not in MODEL_CONFIG_MODES:
        raise AppNotFoundError(f"App mode is not in the supported list: {[m.value for m in MODEL_CONFIG_MODES]}")
    try:
        clean = validate_model_config(app.mode, config)
    except ModelConfigError as exc:
        raise InvalidInputError(exc.message, field=exc.field)
    row = _save_model_config(session, app, clean, principal.account_id)
    app.updated_by = principal.account_id
    session.commit()
    _invalidate(cache, app.id)
    return row


