"""Static description of the built-in providers, in Dify's provider-entity shape.

`provider_schemas()` feeds the console's model-provider pages; `secret_variables(provider)` names the
credential fields callers must encrypt at rest and mask on every read. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from typing import Any

from api.core.model_runtime.pricing import OPENAI_PRICES, predefined_models
from api.core.model_runtime.providers.azure_openai import API_VERSIONS, DEFAULT_API_VERSION


def _label(text: str) -> dict[str, str]:
    return {"en_US": text, "zh_Hans": text}


def _field(variable: str, label: str, type_: str, required: bool, *, default: str | None = None,
           options: list[str] | None = None, placeholder: str | None = None,
           llm_only: bool = False) -> dict[str, Any]:
    return {
        "variable": variable,
        "label": _label(label),
        "type": type_,
        "required": required,
        "default": default,
        "options": [{"value": o, "label": _label(o), "show_on": []} for o in options or []],
        "placeholder": _label(placeholder) if placeholder else None,
        "max_length": 0,
        "show_on": [{"variable": "__model_type", "value": "llm"}] if llm_only else [],
    }


def _mode_field() -> dict[str, Any]:
    return _field("mode", "Completion mode", "select", True, default="chat", options=["chat", "completion"],
                  llm_only=True)


def _model_schema(placeholder: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": {"label": _label("Model Name"), "placeholder": _label(placeholder)},
            "credential_form_schemas": fields}


_SCHEMAS: dict[str, dict[str, Any]] = {
    "openai": {
        "label": "OpenAI",
        "supported_model_types": ["llm", "text-embedding"],
        "configurate_methods": ["predefined-model"],
        "provider_credential_schema": {"credential_form_schemas": [
            _field("openai_api_key", "API Key", "secret-input", True, placeholder="sk-..."),
            _field("openai_organization", "Organization", "text-input", False),
            _field("openai_api_base", "API Base", "text-input", False, placeholder="https://api.openai.com/v1"),
        ]},
        "model_credential_schema": None,
    },
    "anthropic": {
        "label": "Anthropic",
        "supported_model_types": ["llm"],
        "configurate_methods": ["predefined-model"],
        "provider_credential_schema": {"credential_form_schemas": [
            _field("anthropic_api_key", "API Key", "secret-input", True),
            _field("anthropic_api_url", "API URL", "text-input", False, placeholder="https://api.anthropic.com"),
        ]},
        "model_credential_schema": None,
    },
    "openai_api_compatible": {
        "label": "OpenAI-API-compatible",
        "supported_model_types": ["llm", "text-embedding", "rerank"],
        "configurate_methods": ["customizable-model"],
        "provider_credential_schema": None,
        "model_credential_schema": _model_schema("Enter the model name", [
            _field("api_key", "API Key", "secret-input", False),
            _field("endpoint_url", "API endpoint URL", "text-input", True, placeholder="http://host:port/v1"),
            _field("endpoint_model_name", "Model name for API endpoint", "text-input", False),
            _mode_field(),
            _field("context_size", "Model context size", "text-input", True, default="4096"),
            _field("max_tokens_to_sample", "Upper bound for max tokens", "text-input", False, default="4096",
                   llm_only=True),
        ]),
    },
    "azure_openai": {
        "label": "Azure OpenAI Service Model",
        "supported_model_types": ["llm", "text-embedding"],
        "configurate_methods": ["customizable-model"],
        "provider_credential_schema": None,
        "model_credential_schema": _model_schema("Enter your deployment name", [
            _field("openai_api_base", "API Endpoint URL", "text-input", True,
                   placeholder="https://<resource>.openai.azure.com/"),
            _field("openai_api_key", "API Key", "secret-input", True),
            _field("openai_api_version", "API Version", "select", True, default=DEFAULT_API_VERSION,
                   options=list(API_VERSIONS)),
            _field("base_model_name", "Base Model", "select", True, options=list(OPENAI_PRICES)),
        ]),
    },
    "ollama": {
        "label": "Ollama",
        "supported_model_types": ["llm", "text-embedding"],
        "configurate_methods": ["customizable-model"],
        "provider_credential_schema": None,
        "model_credential_schema": _model_schema("Enter the model name, e.g. llama3.1", [
            _field("base_url", "Base URL", "text-input", True, placeholder="http://localhost:11434"),
            _mode_field(),
            _field("context_size", "Model context size", "text-input", True, default="4096"),
        ]),
    },
}


def provider_schemas() -> dict[str, dict[str, Any]]:
    """Every built-in provider by id: `provider`, `label`, `supported_model_types`, `configurate_methods`,
    `provider_credential_schema` / `model_credential_schema` (form fields: variable, label, type, required, …)
    and `models` (predefined models; empty for customizable providers). Returns fresh copies."""
    return {provider: provider_schema(provider) for provider in _SCHEMAS}


def provider_schema(provider: str) -> dict[str, Any]:
    """One provider's schema (see provider_schemas); KeyError for an unknown (normalised) provider id."""
    schema = deepcopy(_SCHEMAS[provider])
    return {"provider": provider, **schema, "label": _label(schema["label"]), "models": predefined_models(provider)}


def supports_model_type(provider: str, model_type: str) -> bool:
    """Whether the (normalised) provider offers `model_type`; no copy (on every model call's path)."""
    return model_type in _SCHEMAS[provider]["supported_model_types"]


def credential_fields(provider: str) -> list[dict[str, Any]]:
    schema = _SCHEMAS[provider]
    form = schema["provider_credential_schema"] or schema["model_credential_schema"]
    return form["credential_form_schemas"]


def credential_problem(provider: str, model_type: str, credentials: Mapping[str, Any]) -> str | None:
    """Dify's form rules for the given values: text and secret inputs are strings, a select is one of its
    options. The first violation, or None (also for an unknown provider, which the caller reports)."""
    for form in credential_fields(provider) if provider in _SCHEMAS else []:
        value = credentials.get(form["variable"])
        if value is None or (form["show_on"] and model_type != "llm"):
            continue
        if form["type"] in ("text-input", "secret-input") and not isinstance(value, str):
            return f"{form['variable']} must be a string."
        options = [o["value"] for o in form["options"]]
        if form["type"] == "select" and value not in options:
            return f"{form['variable']} must be one of {options}."
    return None


def secret_variables(provider: str) -> tuple[str, ...]:
    """Credential variables of type secret-input: encrypt at rest, mask on read."""
    return tuple(f["variable"] for f in credential_fields(provider) if f["type"] == "secret-input")


def required_variables(provider: str, model_type: str = "llm") -> tuple[str, ...]:
    return tuple(f["variable"] for f in credential_fields(provider) if f["required"]
                 and (not f["show_on"] or model_type == "llm"))
