"""What the console shows about model providers: each provider with its configuration status,
and the models available per model type in a workspace (built-in list + configured models)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.core.model_runtime import pricing, registry
from api.services import provider_service
from api.services.errors import NotFoundError


def list_providers(session: Session, *, tenant_id: str, model_type: str | None) -> list[dict[str, Any]]:
    """Dify's ProviderResponse per built-in provider, filtered by `model_type` when given."""
    configured = provider_service.configured_providers(session, tenant_id)
    result = []
    for name, schema in registry.provider_schemas().items():
        if model_type and model_type not in schema["supported_model_types"]:
            continue
        models = configured.get(name)
        result.append({
            "tenant_id": tenant_id, "provider": name, "label": schema["label"],
            "description": schema.get("description"), "icon_small": None, "icon_small_dark": None,
            "background": None, "help": schema.get("help"),
            "supported_model_types": schema["supported_model_types"],
            "configurate_methods": schema["configurate_methods"],
            "provider_credential_schema": schema.get("provider_credential_schema"),
            "model_credential_schema": schema.get("model_credential_schema"),
            "preferred_provider_type": "custom",
            "custom_configuration": {
                "status": "active" if models is not None else "no-configure",
                "custom_models": [{"model": m, "model_type": t} for m, t in (models or [])],
            },
            "system_configuration": {"enabled": False, "current_quota_type": None, "quota_configurations": []},
        })
    return result


def models_by_type(session: Session, *, tenant_id: str, model_type: str) -> list[dict[str, Any]]:
    """Per provider supporting `model_type`: its models and whether each is usable (`active`).

    Raises: NotFoundError for an unknown model type.
    """
    if model_type not in provider_service.MODEL_TYPES:
        raise NotFoundError(f"Model type {model_type} does not exist.")
    configured = provider_service.configured_providers(session, tenant_id)
    result = []
    for name, schema in registry.provider_schemas().items():
        if model_type not in schema["supported_model_types"]:
            continue
        provider_level = name in provider_service.PROVIDER_LEVEL
        custom = [m for m, t in configured.get(name, []) if t == model_type]
        predefined = [m["model"] for m in pricing.predefined_models(name) if m["model_type"] == model_type]
        models = [{"model": m, "label": {"en_US": m}, "model_type": model_type, "fetch_from": "predefined-model",
                   "status": "active" if provider_level and name in configured else "no-configure",
                   "features": [], "model_properties": {}, "deprecated": False, "load_balancing_enabled": False}
                  for m in predefined if m not in custom]
        models += [{"model": m, "label": {"en_US": m}, "model_type": model_type, "fetch_from": "customizable-model",
                    "status": "active", "features": [], "model_properties": {}, "deprecated": False,
                    "load_balancing_enabled": False} for m in custom]
        if not models:
            continue
        result.append({"tenant_id": tenant_id, "provider": name, "label": schema["label"], "icon_small": None,
                       "icon_small_dark": None,
                       "status": "active" if name in configured else "no-configure", "models": models})
    return result
