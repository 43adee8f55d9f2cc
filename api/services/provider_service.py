"""Model-provider credentials of a workspace and its default models.

Credentials are validated with a real minimal call before they are stored, stored as one
Fernet-encrypted JSON document, and masked on every read. Saving a masked value back keeps the
stored secret (so clients can round-trip the form). Provider-level credentials serve every model
of `openai`/`anthropic`; the per-model providers store one credential per (model, model_type).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.core.model_runtime import registry
from api.core.model_runtime.entities import ModelTarget
from api.core.model_runtime.errors import InvokeError
from api.extensions import redis_keys
from api.extensions.cache import InvalidatingCache
from api.libs import crypto
from api.models.provider import ProviderCredential, ProviderModelCredential, TenantDefaultModel
from api.services.errors import InvalidInputError, NotFoundError, ProviderNotInitializeError
from api.services.workspace_service import PRIVILEGED, Principal

PROVIDER_LEVEL = frozenset({"openai", "anthropic"})
# Provider-level credentials name no model: the validation call uses one cheap model of the provider.
VALIDATION_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
MODEL_TYPES = ("llm", "text-embedding", "rerank")


def normalise(provider: str) -> str:
    """Accept Dify's plugin ids (`langgenius/openai/openai`); raise NotFoundError for unknown providers."""
    name = registry.normalise_provider(provider or "")
    if name not in registry.PROVIDERS:
        raise NotFoundError(f"Provider {provider} does not exist.")
    return name


def secret_variables(provider: str) -> set[str]:
    """Credential fields that are secrets (encrypted, masked) for `provider`, at either level."""
    schema = registry.provider_schemas()[provider]
    names: set[str] = set()
    for key in ("provider_credential_schema", "model_credential_schema"):
        for form in ((schema.get(key) or {}).get("credential_form_schemas") or []):
            if form.get("type") == "secret-input":
                names.add(form["variable"])
    return names


def _mask(provider: str, credentials: dict[str, Any]) -> dict[str, Any]:
    secrets = secret_variables(provider)
    return {k: crypto.mask_secret(str(v)) if k in secrets and v else v for k, v in credentials.items()}


def _merge_masked(provider: str, new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    if not old:
        return new
    masked_old = _mask(provider, old)
    return {k: old[k] if k in old and v == masked_old.get(k) and k in secret_variables(provider) else v
            for k, v in new.items()}


def _decrypt(secret_key: str, token: str) -> dict[str, Any]:
    return json.loads(crypto.decrypt(secret_key, token))


def _validate(provider: str, model_type: str, model: str | None, credentials: dict[str, Any]) -> None:
    try:
        registry.validate_credentials(provider, model_type, model or VALIDATION_MODELS.get(provider), credentials)
    except InvokeError as exc:
        raise InvalidInputError(exc.message, field="credentials")


def _provider_row(session: Session, tenant_id: str, provider: str) -> ProviderCredential | None:
    return session.scalar(sa.select(ProviderCredential).where(ProviderCredential.tenant_id == tenant_id,
                                                              ProviderCredential.provider_name == provider))


def _model_row(session: Session, tenant_id: str, provider: str, model: str, model_type: str
               ) -> ProviderModelCredential | None:
    return session.scalar(sa.select(ProviderModelCredential).where(
        ProviderModelCredential.tenant_id == tenant_id, ProviderModelCredential.provider_name == provider,
        ProviderModelCredential.model_name == model, ProviderModelCredential.model_type == model_type))


def get_provider_credentials(session: Session, *, secret_key: str, tenant_id: str, provider: str
                             ) -> dict[str, Any] | None:
    """The provider-level credentials, masked; None when not configured."""
    provider = normalise(provider)
    row = _provider_row(session, tenant_id, provider)
    return _mask(provider, _decrypt(secret_key, row.encrypted_config)) if row else None


def save_provider_credentials(session: Session, *, principal: Principal, cache: InvalidatingCache, secret_key: str,
                              provider: str, credentials: dict[str, Any], name: str | None = None) -> None:
    """Validate (real call) and store provider-level credentials (owner/admin). Commits.

    Raises: PermissionDeniedError, NotFoundError (unknown provider), InvalidInputError (per-model
    provider, or the validation call failed).
    """
    principal.require(PRIVILEGED)
    provider = normalise(provider)
    if provider not in PROVIDER_LEVEL:
        raise InvalidInputError(f"{provider} is configured per model: use .../models.", field="credentials")
    row = _provider_row(session, principal.tenant_id, provider)
    merged = _merge_masked(provider, credentials, _decrypt(secret_key, row.encrypted_config) if row else None)
    _validate(provider, "llm", None, merged)
    if row is None:
        row = ProviderCredential(tenant_id=principal.tenant_id, provider_name=provider, encrypted_config="")
        session.add(row)
    row.encrypted_config = crypto.encrypt(secret_key, json.dumps(merged))
    row.credential_name = name or row.credential_name or "API KEY 1"
    session.commit()
    cache.invalidate(redis_keys.cache_credentials(principal.tenant_id, provider))


def delete_provider_credentials(session: Session, *, principal: Principal, cache: InvalidatingCache,
                                provider: str) -> None:
    """Remove provider-level credentials (owner/admin). Commits."""
    principal.require(PRIVILEGED)
    provider = normalise(provider)
    session.execute(sa.delete(ProviderCredential).where(ProviderCredential.tenant_id == principal.tenant_id,
                                                        ProviderCredential.provider_name == provider))
    session.commit()
    cache.invalidate(redis_keys.cache_credentials(principal.tenant_id, provider))


def validate_credentials(*, principal: Principal, provider: str, credentials: dict[str, Any],
                         model: str | None = None, model_type: str = "llm") -> str | None:
    """Make a real minimal call; return None when it works, else the provider's error message.

    Owner/admin only (it makes outbound calls to caller-chosen endpoints). Raises PermissionDeniedError.
    """
    principal.require(PRIVILEGED)
    provider = normalise(provider)
    try:
        registry.validate_credentials(provider, model_type, model or VALIDATION_MODELS.get(provider), credentials)
    except InvokeError as exc:
        return exc.message
    return None


def save_model_credentials(session: Session, *, principal: Principal, cache: InvalidatingCache, secret_key: str,
                           provider: str, model: str, model_type: str, credentials: dict[str, Any]) -> None:
    """Validate and store credentials for one model (owner/admin). Commits.

    Raises: PermissionDeniedError, NotFoundError, InvalidInputError.
    """
    principal.require(PRIVILEGED)
    provider = normalise(provider)
    if model_type not in MODEL_TYPES:
        raise InvalidInputError(f"model_type must be one of {list(MODEL_TYPES)}", field="model_type")
    row = _model_row(session, principal.tenant_id, provider, model, model_type)
    merged = _merge_masked(provider, credentials, _decrypt(secret_key, row.encrypted_config) if row else None)
    _validate(provider, model_type, model, merged)
    if row is None:
        row = ProviderModelCredential(tenant_id=principal.tenant_id, provider_name=provider, model_name=model,
                                      model_type=model_type, encrypted_config="")
        session.add(row)
    row.encrypted_config = crypto.encrypt(secret_key, json.dumps(merged))
    session.commit()
    cache.invalidate(redis_keys.cache_credentials(principal.tenant_id, provider))


def list_models(session: Session, *, secret_key: str, tenant_id: str, provider: str) -> list[dict[str, Any]]:
    """The workspace's per-model credentials of `provider` (masked)."""
    provider = normalise(provider)
    rows = session.scalars(sa.select(ProviderModelCredential).where(
        ProviderModelCredential.tenant_id == tenant_id, ProviderModelCredential.provider_name == provider)
        .order_by(ProviderModelCredential.created_at))
    return [{"model": r.model_name, "model_type": r.model_type, "status": "active" if r.enabled else "disabled",
             "credentials": _mask(provider, _decrypt(secret_key, r.encrypted_config))} for r in rows]


def delete_model(session: Session, *, principal: Principal, cache: InvalidatingCache, provider: str, model: str,
                 model_type: str) -> None:
    """Remove one model's credentials (owner/admin). Commits."""
    principal.require(PRIVILEGED)
    provider = normalise(provider)
    session.execute(sa.delete(ProviderModelCredential).where(
        ProviderModelCredential.tenant_id == principal.tenant_id, ProviderModelCredential.provider_name == provider,
        ProviderModelCredential.model_name == model, ProviderModelCredential.model_type == model_type))
    session.commit()
    cache.invalidate(redis_keys.cache_credentials(principal.tenant_id, provider))


def configured_providers(session: Session, tenant_id: str) -> dict[str, list[tuple[str, str]]]:
    """provider → [(model, model_type)] configured in the workspace ([] for provider-level ones)."""
    result: dict[str, list[tuple[str, str]]] = {}
    for name in session.scalars(sa.select(ProviderCredential.provider_name)
                                .where(ProviderCredential.tenant_id == tenant_id)):
        result.setdefault(name, [])
    for row in session.execute(sa.select(ProviderModelCredential.provider_name, ProviderModelCredential.model_name,
                                         ProviderModelCredential.model_type)
                               .where(ProviderModelCredential.tenant_id == tenant_id)):
        result.setdefault(row[0], []).append((row[1], row[2]))
    return result


def get_default_model(session: Session, *, tenant_id: str, model_type: str) -> TenantDefaultModel | None:
    """The tenant's default model row of `model_type` (llm, text-embedding, rerank, ...), or None. Reads only."""
    return session.scalar(sa.select(TenantDefaultModel).where(TenantDefaultModel.tenant_id == tenant_id,
                                                              TenantDefaultModel.model_type == model_type))


def set_default_models(session: Session, *, principal: Principal, settings: list[dict[str, Any]]) -> None:
    """Set the default model per model type; entries without a provider are skipped (owner/admin). Commits."""
    principal.require(PRIVILEGED)
    for item in settings:
        if not item.get("provider") or not item.get("model"):
            continue
        model_type = item.get("model_type")
        if model_type not in MODEL_TYPES:
            raise InvalidInputError(f"model_type must be one of {list(MODEL_TYPES)}", field="model_settings")
        provider = normalise(item["provider"])
        row = get_default_model(session, tenant_id=principal.tenant_id, model_type=model_type)
        if row is None:
            row = TenantDefaultModel(tenant_id=principal.tenant_id, model_type=model_type, provider_name=provider,
                                     model_name=item["model"])
            session.add(row)
        row.provider_name, row.model_name = provider, item["model"]
    session.commit()


def _load_credentials(session: Session, secret_key: str, tenant_id: str, provider: str) -> dict[str, Any]:
    """{"provider": creds | None, "models": {(model, type): creds}} decrypted, for the runtime cache."""
    row = _provider_row(session, tenant_id, provider)
    models = session.scalars(sa.select(ProviderModelCredential).where(
        ProviderModelCredential.tenant_id == tenant_id, ProviderModelCredential.provider_name == provider,
        ProviderModelCredential.enabled.is_(True)))
    return {"provider": _decrypt(secret_key, row.encrypted_config) if row else None,
            "models": {f"{m.model_name}|{m.model_type}": _decrypt(secret_key, m.encrypted_config) for m in models}}


def resolve_target(session: Session, *, cache: InvalidatingCache, secret_key: str, tenant_id: str, provider: str,
                   model: str, model_type: str = "llm", completion_params: dict[str, Any] | None = None,
                   mode: str = "chat") -> ModelTarget:
    """A runnable ModelTarget with decrypted credentials (cached per process, invalidated on change).

    Raises: ProviderNotInitializeError when the workspace has no credentials for it.
    """
    provider = normalise(provider)
    creds = cache.get_or_load(redis_keys.cache_credentials(tenant_id, provider),
                              lambda: _load_credentials(session, secret_key, tenant_id, provider))
    credentials = creds["models"].get(f"{model}|{model_type}") or creds["provider"]
    if credentials is None:
        raise ProviderNotInitializeError()
    if provider not in PROVIDER_LEVEL:
        mode = credentials.get("mode") or mode
    return ModelTarget(provider=provider, name=model, credentials=credentials,
                       completion_params=dict(completion_params or {}), mode=mode)  # type: ignore[arg-type]
