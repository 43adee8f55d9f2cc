"""Azure OpenAI: the OpenAI wire format at `{openai_api_base}/openai/deployments/{deployment}/…?api-version=…`.

The model name is the deployment name; `base_model_name` (e.g. gpt-4o) picks the price-table entry. Requests
authenticate with the `api-key` header. Chunk parsing is openai_compatible.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from api.core.model_runtime.errors import InvokeBadRequestError
from api.core.model_runtime.providers.openai_compatible import Endpoint

DEFAULT_API_VERSION = "2024-10-21"
API_VERSIONS = ("2025-01-01-preview", "2024-12-01-preview", "2024-10-21", "2024-08-01-preview", "2024-06-01",
                "2024-02-01")
# `stream_options.include_usage` is accepted from these API versions on; older ones reject unknown fields.
_USAGE_IN_STREAM_SINCE = "2024-09-01"


def azure_endpoint(credentials: Mapping[str, Any], model: str) -> Endpoint:
    """Provider `azure_openai`: `openai_api_base`, `openai_api_key` (required), `base_model_name`,
    `openai_api_version` (default DEFAULT_API_VERSION)."""
    base = str(credentials.get("openai_api_base") or "").strip().rstrip("/")
    key = str(credentials.get("openai_api_key") or "")
    if not base or not key:
        raise InvokeBadRequestError("[azure_openai] Error: openai_api_base and openai_api_key are required")
    version = str(credentials.get("openai_api_version") or DEFAULT_API_VERSION)
    return Endpoint(
        provider="azure_openai",
        base_url=base,
        url_for=_deployment_urls(base, model, version),
        headers={"api-key": key},
        wire_model=None,
        pricing_model=str(credentials.get("base_model_name") or model),
        include_usage=version[:10] >= _USAGE_IN_STREAM_SINCE,
        secrets=(key,),
    )


def _deployment_urls(base: str, deployment: str, version: str) -> Callable[[str], str]:
    paths = {"chat": "chat/completions", "completion": "completions", "embeddings": "embeddings"}

    def url_for(kind: str) -> str:
        if kind not in paths:
            raise InvokeBadRequestError(f"[azure_openai] Error: {kind} is not supported")
        return (f"{base}/openai/deployments/{quote(deployment, safe='')}/{paths[kind]}"
                f"?api-version={quote(version, safe='')}")

    return url_for
