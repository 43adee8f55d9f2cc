"""App keys and workspace-wide dataset (knowledge) keys: create, list, delete.

Keys are `app-`/`dataset-` + 24 random alphanumerics. Only the SHA-256 digest and a display
mask are stored; the full key is returned once, by create. At most 10 per app / per workspace.
Deleting a key evicts it from every process's auth cache at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.extensions import redis_keys
from api.extensions.cache import InvalidatingCache
from api.libs import secret_tokens
from api.libs.clock import utcnow
from api.models.app import ApiToken
from api.models.enums import ApiTokenType
from api.services import app_service
from api.services.errors import ApiKeyNotFoundError, MaxKeysExceededError
from api.services.workspace_service import APP_READERS, EDITORS, PRIVILEGED, Principal

MAX_KEYS = 10
PREFIX = {ApiTokenType.APP: "app-", ApiTokenType.DATASET: "dataset-"}


@dataclass(frozen=True)
class CreatedKey:
    row: ApiToken
    token: str  # the only time the full key exists outside the caller's hands


def _scope(principal: Principal, key_type: ApiTokenType, app_id: str | None) -> list[sa.ColumnElement[bool]]:
    cond = [ApiToken.tenant_id == principal.tenant_id, ApiToken.type == key_type]
    if key_type == ApiTokenType.APP:
        cond.append(ApiToken.app_id == app_id)
    return cond


def _check_owner(session: Session, principal: Principal, key_type: ApiTokenType, app_id: str | None) -> None:
    if key_type == ApiTokenType.APP:
        assert app_id is not None
        app_service.get_app(session, tenant_id=principal.tenant_id, app_id=app_id)


def list_keys(session: Session, *, principal: Principal, key_type: ApiTokenType, app_id: str | None = None
              ) -> list[ApiToken]:
    """Keys of an app (any app reader) or of the workspace's knowledge API, oldest first.

    Raises: PermissionDeniedError, AppNotFoundError.
    """
    principal.require(APP_READERS if key_type == ApiTokenType.APP else APP_READERS | {"dataset_operator"})
    _check_owner(session, principal, key_type, app_id)
    return list(session.scalars(sa.select(ApiToken).where(*_scope(principal, key_type, app_id))
                                .order_by(ApiToken.created_at)))


def create_key(session: Session, *, principal: Principal, key_type: ApiTokenType, app_id: str | None = None
               ) -> CreatedKey:
    """Create a key (app keys: editor+; dataset keys: owner/admin). Commits.

    Raises: PermissionDeniedError, AppNotFoundError, MaxKeysExceededError (the 11th key).
    """
    principal.require(EDITORS if key_type == ApiTokenType.APP else PRIVILEGED)
    _check_owner(session, principal, key_type, app_id)
    count = session.scalar(sa.select(sa.func.count(ApiToken.id)).where(*_scope(principal, key_type, app_id)))
    if (count or 0) >= MAX_KEYS:
        raise MaxKeysExceededError()
    token = PREFIX[key_type] + secret_tokens.random_alnum(24)
    row = ApiToken(tenant_id=principal.tenant_id, app_id=app_id, type=key_type, created_at=utcnow(),
                   token=secret_tokens.digest(token), token_mask=secret_tokens.mask(token))
    session.add(row)
    session.commit()
    return CreatedKey(row=row, token=token)


def delete_key(session: Session, *, principal: Principal, cache: InvalidatingCache, key_type: ApiTokenType,
               key_id: str, app_id: str | None = None) -> None:
    """Delete a key (owner/admin); it stops authenticating in every process at once. Commits.

    Raises: PermissionDeniedError, AppNotFoundError, ApiKeyNotFoundError.
    """
    principal.require(PRIVILEGED)
    _check_owner(session, principal, key_type, app_id)
    row = session.scalar(sa.select(ApiToken).where(ApiToken.id == key_id, *_scope(principal, key_type, app_id)))
    if row is None:
        raise ApiKeyNotFoundError()
    session.delete(row)
    session.commit()
    cache.invalidate(redis_keys.cache_api_key(row.token))
