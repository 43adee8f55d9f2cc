"""Entry point of the model runtime: provider ids → bound model objects, credential validation, schemas.

Each provider id has one shared `httpx.Client` (connection pooling; per-request connect/read timeouts from
`Timeouts`), created lazily and closed by `close_clients()`. Credentials are bound per model object and never
stored here. Everything raises InvokeError subclasses (`ProviderNotSupportedError` for unknown ids/types).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import httpx

from api.core.model_runtime.entities import PromptMessage, Timeouts
from api.core.model_runtime.errors import InvokeBadRequestError, ProviderNotSupportedError
from api.core.model_runtime.ports import LargeLanguageModel, RerankModel, TextEmbeddingModel
from api.core.model_runtime.providers._base import http_timeout
from api.core.model_runtime.providers.anthropic import AnthropicChatModel
from api.core.model_runtime.providers.azure_openai import azure_endpoint
from api.core.model_runtime.providers.ollama import OllamaChatModel, OllamaEmbeddingModel
from api.core.model_runtime.providers.openai_compatible import (
    Endpoint,
    OpenAIChatModel,
    OpenAIEmbeddingModel,
    OpenAIRerankModel,
    compatible_endpoint,
    openai_endpoint,
)
from api.core.model_runtime.schemas import (
    credential_problem,
    provider_schema,
    provider_schemas,
    secret_variables,
    supports_model_type,
)
from api.core.model_runtime.transport import Urllib3Transport

__all__ = ["PROVIDERS", "close_clients", "get_embedding", "get_llm", "get_rerank", "normalise_provider",
           "provider_schema", "provider_schemas", "secret_variables", "validate_credentials"]

PROVIDERS = ("openai", "openai_api_compatible", "anthropic", "azure_openai", "ollama")
MODEL_TYPES = ("llm", "text-embedding", "rerank")
_OPENAI_STYLE = {"openai": openai_endpoint, "openai_api_compatible": compatible_endpoint,
                 "azure_openai": azure_endpoint}

HTTP_MAX_CONNECTIONS = 1024  # per provider and process; above any sane worker concurrency
_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


def normalise_provider(provider: str) -> str:
    """`langgenius/openai/openai` → `openai`; short ids pass through. Does not check the id is known."""
    return provider.rsplit("/", 1)[-1].strip() if provider else provider


def _provider(provider: str, model_type: str) -> str:
    name = normalise_provider(provider)
    if name not in PROVIDERS:
        raise ProviderNotSupportedError(f"Unknown model provider: {provider}")
    if not supports_model_type(name, model_type):
        raise ProviderNotSupportedError(f"[{name}] Error: model type {model_type} is not supported")
    return name


def _client(provider: str) -> httpx.Client:
    with _clients_lock:
        client = _clients.get(provider)
        if client is None or client.is_closed:
            # One client serves every generating thread of the process (a Celery worker runs
            # CELERY_WORKER_CONCURRENCY = 256 streams at once): a smaller pool made stream 101 wait for a
            # connection, time out (PoolTimeout), and open the endpoint's circuit breaker for everybody.
            client = httpx.Client(timeout=http_timeout(Timeouts()),
                                  transport=Urllib3Transport(max_connections=HTTP_MAX_CONNECTIONS))
            _clients[provider] = client
        return client


def close_clients() -> None:
    """Close every shared client (process shutdown, tests). Later calls create fresh ones."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _endpoint(provider: str, model: str, credentials: Mapping[str, Any]) -> Endpoint:
    return _OPENAI_STYLE[provider](credentials, model)


def get_llm(provider: str, model: str, credentials: Mapping[str, Any], *, mode: str | None = None,
            timeouts: Timeouts | None = None) -> LargeLanguageModel:
    """A chat/completion model bound to `credentials`.

    Mode: the per-model `mode` credential (openai_api_compatible, ollama) wins, then `mode`, then "chat".
    Raises ProviderNotSupportedError, or InvokeBadRequestError when a required credential is missing.
    """
    name = _provider(provider, "llm")
    timeouts = timeouts or Timeouts()
    chosen_mode = str(credentials.get("mode") or mode or "chat")
    if name == "anthropic":
        return AnthropicChatModel(model, credentials, _client(name), timeouts)
    if name == "ollama":
        return OllamaChatModel(model, credentials, _client(name), timeouts, mode=chosen_mode)
    return OpenAIChatModel(_endpoint(name, model, credentials), model, _client(name), timeouts, mode=chosen_mode)


def get_embedding(provider: str, model: str, credentials: Mapping[str, Any], *,
                  timeouts: Timeouts | None = None) -> TextEmbeddingModel:
    """A text-embedding model bound to `credentials` (openai, openai_api_compatible, azure_openai, ollama)."""
    name = _provider(provider, "text-embedding")
    timeouts = timeouts or Timeouts()
    if name == "ollama":
        return OllamaEmbeddingModel(model, credentials, _client(name), timeouts)
    return OpenAIEmbeddingModel(_endpoint(name, model, credentials), model, _client(name), timeouts)


def get_rerank(provider: str, model: str, credentials: Mapping[str, Any], *,
               timeouts: Timeouts | None = None) -> RerankModel:
    """A rerank model bound to `credentials` (openai_api_compatible: Jina/Cohere-style `POST {base}/rerank`)."""
    name = _provider(provider, "rerank")
    return OpenAIRerankModel(_endpoint(name, model, credentials), model, _client(name), timeouts or Timeouts())


def validate_credentials(provider: str, model_type: str, model: str, credentials: Mapping[str, Any], *,
                         timeouts: Timeouts | None = None) -> None:
    """Prove `credentials` work with one real, minimal call; return None or raise an InvokeError.

    llm: a blocking chat/completion with max_tokens=1; text-embedding: one 1-text embedding; rerank: one
    query against one document. Secrets are redacted from error messages.
    """
    if model_type not in MODEL_TYPES:
        raise InvokeBadRequestError(f"Unknown model type: {model_type}")
    if not model:
        raise InvokeBadRequestError("A model name is required.")
    problem = credential_problem(provider, model_type, credentials)
    if problem:
        raise InvokeBadRequestError(problem)
    if model_type == "llm":
        llm = get_llm(provider, model, credentials, timeouts=timeouts)
        for _chunk in llm.invoke([PromptMessage(role="user", content="ping")], params={"max_tokens": 1},
                                 stream=False):
            pass
    elif model_type == "text-embedding":
        get_embedding(provider, model, credentials, timeouts=timeouts).embed(["ping"])
    else:
        get_rerank(provider, model, credentials, timeouts=timeouts).rerank("ping", ["ping"], 1)
