"""Authentication decorators: console bearer JWT and Service-API keys; they inject the principal.

`console_login` → view(self, principal, ...); `app_key_required(...)` → view(self, caller, ...);
`dataset_key_required` → view(self, caller, ...) with `caller.principal` the workspace owner.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import g, request

from api.extensions.database import db
from api.extensions.runtime import get_runtime, get_settings
from api.libs.jwt import TokenError, verify_access_token
from api.models.enums import ApiTokenType
from api.services import auth_service, dataset_service, service_auth_service, workspace_service
from api.services.errors import InvalidInputError, NotSetupError, UnauthorizedError
from api.services.service_auth_service import AppSnapshot, KeyRecord
from api.services.workspace_service import Principal

_setup_done = False


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise UnauthorizedError("Authorization header must be provided and start with 'Bearer'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Authorization scheme must be 'Bearer'")
    return token.strip()


def require_setup() -> None:
    global _setup_done
    if _setup_done:
        return
    if auth_service.get_setup(db.session) is None:
        raise NotSetupError()
    _setup_done = True  # setup never un-happens


def console_login(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        require_setup()
        try:
            account_id = verify_access_token(get_settings().secret_key, bearer_token())
        except TokenError as exc:
            raise UnauthorizedError(exc.message)
        principal = workspace_service.resolve_principal(db.session, account_id=account_id)
        g.principal = principal
        return view(self, principal, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class AppCaller:
    key: KeyRecord
    app: AppSnapshot
    end_user: service_auth_service.EndUserRef | None


def _user_value(source: str) -> str | None:
    if source == "query":
        value = request.args.get("user")
    elif source == "form":
        value = request.form.get("user")
    else:
        try:
            data = request.get_json(silent=True, force=True)
        except RecursionError:  # too deeply nested: json_body answers 400 for the body itself
            data = None
        value = data.get("user") if isinstance(data, dict) else None
    if value is not None and not isinstance(value, str):
        raise InvalidInputError("user must be a string.", field="user")
    return value.replace("\x00", "") if value is not None else None  # PostgreSQL stores no NUL


def app_key_required(user_from: str | None = None, user_required: bool = False) -> Callable[..., Any]:
    """Authenticate an app key; optionally resolve the end user from `user` in json/query/form."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            runtime = get_runtime()
            key, snapshot = service_auth_service.authenticate_key(
                db.session, cache=runtime.cache, dispatcher=runtime.dispatcher, token=bearer_token(),
                key_type=ApiTokenType.APP)
            assert snapshot is not None
            end_user = None
            if user_from:
                end_user = service_auth_service.get_or_create_end_user(
                    db.session, snapshot=snapshot, user=_user_value(user_from), required=user_required)
            return view(self, AppCaller(key=key, app=snapshot, end_user=end_user), *args, **kwargs)

        wrapper.__end_user_arg__ = (user_from, user_required)  # type: ignore[attr-defined]  # read by the docs' tests
        return wrapper

    return decorate


@dataclass(frozen=True)
class DatasetCaller:
    key: KeyRecord
    principal: Principal  # the workspace owner: knowledge API calls act as the owner (Dify)


def dataset_key_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate a dataset (knowledge) key. With a `dataset_id` in the path, the dataset must be in the key's
    workspace (else 404) and have API access enabled (else 403 "Dataset api access is not enabled.")."""

    @functools.wraps(view)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        runtime = get_runtime()
        key, _ = service_auth_service.authenticate_key(
            db.session, cache=runtime.cache, dispatcher=runtime.dispatcher, token=bearer_token(),
            key_type=ApiTokenType.DATASET)
        principal = dataset_service.owner_principal(db.session, tenant_id=key.tenant_id)
        if "dataset_id" in kwargs:
            dataset_service.get_api_dataset(db.session, tenant_id=key.tenant_id, dataset_id=kwargs["dataset_id"])
        return view(self, DatasetCaller(key=key, principal=principal), *args, **kwargs)

    return wrapper
