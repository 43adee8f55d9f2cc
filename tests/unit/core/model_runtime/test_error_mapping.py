"""HTTP errors and transport failures of every provider map onto the InvokeError family."""

from __future__ import annotations

import socket

import pytest

from api.core.model_runtime import registry
from api.core.model_runtime.entities import Timeouts
from api.core.model_runtime.errors import (
    InvokeAuthorizationError,
    InvokeBadRequestError,
    InvokeConnectionError,
    InvokeQuotaExceededError,
    InvokeRateLimitError,
    InvokeServerUnavailableError,
    ProviderNotSupportedError,
)
from tests.unit.core.model_runtime.helpers import KEY, creds, user

ALL = ["openai", "openai_api_compatible", "azure_openai", "anthropic", "ollama"]
KEYED = ["openai", "openai_api_compatible", "azure_openai", "anthropic"]


def _invoke(provider, server, model="m", stream=True, timeouts=None, **extra):
    llm = registry.get_llm(provider, model, creds(provider, server, **extra), timeouts=timeouts)
    return list(llm.invoke(user("hi"), params={}, stream=stream))


def test_openai_401_is_an_authorization_error_with_the_providers_message(llm_server):
    llm_server.api_key = "sk-the-right-one"

    with pytest.raises(InvokeAuthorizationError) as caught:
        _invoke("openai", llm_server)

    error = caught.value
    assert error.message.startswith("[openai] Error: Incorrect API key provided")
    assert KEY not in error.message
    assert (error.code, error.retryable, error.status_code) == ("completion_request_error", False, 401)


@pytest.mark.parametrize("provider", KEYED)
def test_wrong_key_is_an_authorization_error_for_every_keyed_provider(llm_server, provider):
    llm_server.api_key = "sk-the-right-one"

    with pytest.raises(InvokeAuthorizationError, match="Incorrect API key provided"):
        _invoke(provider, llm_server)


@pytest.mark.parametrize("provider", ALL)
def test_429_rate_limit_is_retryable(llm_server, provider):
    llm_server.script("m", failures=[429])

    with pytest.raises(InvokeRateLimitError) as caught:
        _invoke(provider, llm_server)

    assert caught.value.retryable
    assert caught.value.message.startswith(f"[{provider}] Error: ")


@pytest.mark.parametrize("provider", ["openai", "azure_openai"])
def test_429_insufficient_quota_is_quota_exceeded_and_not_retryable(llm_server, provider):
    llm_server.script("m", failures=[(429, "insufficient_quota")])

    with pytest.raises(InvokeQuotaExceededError) as caught:
        _invoke(provider, llm_server)

    assert (caught.value.code, caught.value.retryable) == ("provider_quota_exceeded", False)
    assert "exceeded your current quota" in caught.value.message


@pytest.mark.parametrize("provider", ALL)
@pytest.mark.parametrize("stream", [True, False])
def test_500_is_server_unavailable(llm_server, provider, stream):
    llm_server.script("m", failures=[500])

    with pytest.raises(InvokeServerUnavailableError) as caught:
        _invoke(provider, llm_server, stream=stream)

    assert caught.value.retryable
    assert caught.value.status_code == 500


def test_anthropic_529_overloaded_is_server_unavailable(llm_server):
    llm_server.script("m", failures=[529])

    with pytest.raises(InvokeServerUnavailableError, match="overloaded_error"):
        _invoke("anthropic", llm_server)


@pytest.mark.parametrize("status", [400, 404])
@pytest.mark.parametrize("provider", ALL)
def test_400_and_404_are_bad_requests(llm_server, provider, status):
    llm_server.script("m", failures=[status])

    with pytest.raises(InvokeBadRequestError) as caught:
        _invoke(provider, llm_server)

    assert not caught.value.retryable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("provider", ALL)
def test_connection_refused_is_a_retryable_connection_error(provider):
    server = type("S", (), {"url": f"http://127.0.0.1:{_closed_port()}"})()

    with pytest.raises(InvokeConnectionError) as caught:
        _invoke(provider, server)

    assert caught.value.retryable


@pytest.mark.parametrize("stream", [True, False])
def test_read_timeout_is_a_connection_error(llm_server, stream):
    llm_server.script("m", first_token_delay_ms=5000)

    with pytest.raises(InvokeConnectionError, match="read timed out"):
        _invoke("openai", llm_server, stream=stream, timeouts=Timeouts(connect=1, read=0.2))


def test_stream_cut_after_the_first_token_raises_a_connection_error(llm_server):
    llm_server.script("m", chunks=["a", "b", "c"], fail_after_chunks=1)
    chunks = registry.get_llm("openai", "m", creds("openai", llm_server)).invoke(user("hi"), params={})

    assert next(chunks).delta == "a"
    with pytest.raises(InvokeConnectionError):
        next(chunks)


def test_error_messages_never_contain_the_secret(llm_server):
    llm_server.api_key = "sk-the-right-one"
    secret = "sk-this-one-is-secret-12345"

    with pytest.raises(InvokeAuthorizationError) as caught:
        _invoke("openai", llm_server, openai_api_key=secret)

    assert secret not in caught.value.message


def test_unknown_provider_and_unsupported_model_type_are_rejected():
    with pytest.raises(ProviderNotSupportedError):
        registry.get_llm("nope", "m", {})
    with pytest.raises(ProviderNotSupportedError):
        registry.get_rerank("anthropic", "m", {"anthropic_api_key": "k"})


def test_missing_required_credential_is_a_bad_request():
    with pytest.raises(InvokeBadRequestError, match="openai_api_key"):
        registry.get_llm("openai", "gpt-4o", {})


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_in_stream_error_frames_are_mapped(llm_server, provider):
    llm_server.script("m", chunks=["a", "b"], error_after_chunks=1, stream_error_status=529)
    chunks = registry.get_llm(provider, "m", creds(provider, llm_server)).invoke(user("hi"), params={})

    assert next(chunks).delta == "a"
    with pytest.raises(InvokeServerUnavailableError):
        next(chunks)


def test_anthropic_in_stream_rate_limit_keeps_its_type(llm_server):
    llm_server.script("m", chunks=["a"], error_after_chunks=0, stream_error_status=429)

    with pytest.raises(InvokeRateLimitError, match="rate_limit_error"):
        _invoke("anthropic", llm_server)


def test_no_token_within_the_first_token_deadline_is_a_connection_error(llm_server):
    with pytest.raises(InvokeConnectionError, match="no token within"):
        _invoke("anthropic", llm_server, timeouts=Timeouts(total_first_token=0))


def test_closing_a_stream_early_releases_the_connection(llm_server):
    llm = registry.get_llm("openai", "m", creds("openai", llm_server))
    chunks = llm.invoke(user("hi"), params={})
    next(chunks)

    chunks.close()

    assert [c.delta for c in llm.invoke(user("again"), params={}, stream=False)] == ["Hello from the fake model."]
