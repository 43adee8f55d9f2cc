"""Credentials and small helpers shared by the model-runtime tests."""

from __future__ import annotations

from typing import Any

from api.core.model_runtime.entities import LLMChunk, PromptMessage
from tests.fakes.llm_server import FakeLLMServer

KEY = "sk-test-0123456789abcdef"


def creds(provider: str, server: FakeLLMServer, **extra: Any) -> dict[str, Any]:
    """Working credentials of `provider` pointed at the fake server."""
    base = {
        "openai": {"openai_api_key": KEY, "openai_api_base": server.url},
        "openai_api_compatible": {"endpoint_url": server.url + "/v1", "api_key": KEY, "mode": "chat"},
        "azure_openai": {"openai_api_base": server.url, "openai_api_key": KEY, "base_model_name": "gpt-4o-mini",
                         "openai_api_version": "2024-10-21"},
        "anthropic": {"anthropic_api_key": KEY, "anthropic_api_url": server.url},
        "ollama": {"base_url": server.url, "mode": "chat", "context_size": "4096"},
    }[provider]
    return {**base, **extra}


def user(text: str, **kwargs: Any) -> list[PromptMessage]:
    return [PromptMessage(role="user", content=text, **kwargs)]


def collect(chunks: Any) -> tuple[str, list[LLMChunk]]:
    items = list(chunks)
    return "".join(c.delta for c in items), items
