"""Chat over real HTTP for every provider: streaming, blocking, usage, prompt shape reaching the server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.core.model_runtime import registry
from api.core.model_runtime.entities import ImageInput, PromptMessage
from tests.unit.core.model_runtime.helpers import KEY, collect, creds, user

CASES = [
    ("openai", "gpt-4o", "/v1/chat/completions"),
    ("openai_api_compatible", "my-model", "/v1/chat/completions"),
    ("azure_openai", "my-deployment", "/openai/deployments/my-deployment/chat/completions"),
    ("anthropic", "claude-3-5-sonnet-20241022", "/v1/messages"),
    ("ollama", "llama3.1", "/api/chat"),
]


@pytest.mark.parametrize(("provider", "model", "path"), CASES)
def test_streaming_chat_yields_scripted_chunks_then_usage(llm_server, provider, model, path):
    llm_server.script(model, chunks=["Hel", "lo ", "world"], prompt_tokens=11, completion_tokens=3)
    llm = registry.get_llm(provider, model, creds(provider, llm_server))

    text, chunks = collect(llm.invoke(user("hi"), params={}, stream=True))

    assert [c.delta for c in chunks[:-1]] == ["Hel", "lo ", "world"]
    assert text == "Hello world"
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (11, 3, 14)
    assert last.finish_reason == "stop"
    assert last.usage.time_to_first_token is not None
    assert last.usage.latency >= last.usage.time_to_first_token
    assert llm_server.count(path) == 1


@pytest.mark.parametrize(("provider", "model", "path"), CASES)
def test_blocking_chat_returns_one_chunk_with_text_and_usage(llm_server, provider, model, path):
    llm_server.script(model, reply="The whole answer.", prompt_tokens=5, completion_tokens=4)
    llm = registry.get_llm(provider, model, creds(provider, llm_server))

    chunks = list(llm.invoke(user("hi"), params={}, stream=False))

    assert len(chunks) == 1
    assert chunks[0].delta == "The whole answer."
    assert chunks[0].usage.total_tokens == 9
    assert llm_server.bodies(path)[0]["stream"] is False


@pytest.mark.parametrize(("provider", "model", "path"), CASES)
def test_echo_shows_the_prompt_reached_the_server(llm_server, provider, model, path):
    llm_server.script(model, echo=True)
    llm = registry.get_llm(provider, model, creds(provider, llm_server))
    messages = [PromptMessage("system", "Be brief."), PromptMessage("user", "first"),
                PromptMessage("assistant", "ok"), PromptMessage("user", "what is 2+2?")]

    text, _ = collect(llm.invoke(messages, params={}))

    assert text == "what is 2+2?"


def test_openai_usage_is_priced_from_provider_counts(llm_server):
    llm_server.script("gpt-4o", prompt_tokens=10, completion_tokens=3)
    llm = registry.get_llm("openai", "gpt-4o-2024-08-06", creds("openai", llm_server))
    llm_server.script("gpt-4o-2024-08-06", prompt_tokens=10, completion_tokens=3)

    usage = list(llm.invoke(user("hi"), params={}))[-1].usage.to_dict()

    assert usage["prompt_price"] == "0.0000250"
    assert usage["completion_price"] == "0.0000300"
    assert usage["total_price"] == "0.0000550"
    assert (usage["prompt_unit_price"], usage["prompt_price_unit"], usage["currency"]) == ("0.0025", "0.001", "USD")


def test_azure_is_priced_by_base_model_and_authenticates_with_api_key_header(llm_server):
    llm_server.script("dep", prompt_tokens=1000, completion_tokens=1000)
    llm = registry.get_llm("azure_openai", "dep", creds("azure_openai", llm_server, base_model_name="gpt-4o-mini"))

    usage = list(llm.invoke(user("hi"), params={}))[-1].usage

    assert usage.total_price == Decimal("0.0007500")
    request = llm_server.requests[0]
    assert request.headers["api-key"] == KEY
    assert request.query == "api-version=2024-10-21"
    assert request.body["stream_options"] == {"include_usage": True}


def test_anthropic_body_has_system_max_tokens_and_version_header(llm_server):
    llm = registry.get_llm("anthropic", "claude-sonnet-4-20250514", creds("anthropic", llm_server))

    list(llm.invoke([PromptMessage("system", "Be brief."), PromptMessage("user", "hi")],
                    params={"temperature": 0.2, "presence_penalty": 1}, stop=["END"]))

    request = llm_server.requests[0]
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "Be brief."
    assert request.body["max_tokens"] == 4096
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]
    assert request.body["stop_sequences"] == ["END"]
    assert request.body["temperature"] == 0.2
    assert "presence_penalty" not in request.body


def test_openai_params_pass_through_and_unknown_ones_are_dropped(llm_server):
    llm = registry.get_llm("openai", "gpt-4o", creds("openai", llm_server, openai_organization="org-1"))
    params = {"temperature": 0.3, "top_p": 0.9, "max_tokens": 50, "presence_penalty": 0.1, "frequency_penalty": 0.2,
              "seed": 7, "response_format": "json_object", "stop": ["x"], "bogus": True}

    list(llm.invoke(user("hi"), params=params))

    request = llm_server.requests[0]
    body = request.body
    assert {k: body[k] for k in ("temperature", "top_p", "max_tokens", "presence_penalty", "frequency_penalty",
                                 "seed", "stop")} == {"temperature": 0.3, "top_p": 0.9, "max_tokens": 50,
                                                      "presence_penalty": 0.1, "frequency_penalty": 0.2, "seed": 7,
                                                      "stop": ["x"]}
    assert body["response_format"] == {"type": "json_object"}
    assert "bogus" not in body
    assert body["stream_options"] == {"include_usage": True}
    assert request.path == "/v1/chat/completions"  # /v1 appended to the base
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["openai-organization"] == "org-1"


def test_openai_reasoning_models_get_max_completion_tokens(llm_server):
    llm = registry.get_llm("openai", "o3-mini", creds("openai", llm_server))

    list(llm.invoke(user("hi"), params={"max_tokens": 20, "temperature": 0.5}))

    body = llm_server.requests[0].body
    assert body["max_completion_tokens"] == 20
    assert "max_tokens" not in body
    assert "temperature" not in body


def test_compatible_endpoint_caps_max_tokens_and_may_omit_the_key(llm_server):
    credentials = creds("openai_api_compatible", llm_server, api_key="", max_tokens_to_sample="100")
    llm = registry.get_llm("openai_api_compatible", "m", credentials)

    list(llm.invoke(user("hi"), params={"max_tokens": 5000}))

    request = llm_server.requests[0]
    assert request.body["max_tokens"] == 100
    assert "authorization" not in request.headers


def test_vision_content_parts_reach_openai(llm_server):
    image = "data:image/png;base64,iVBORw0KGgo="
    llm = registry.get_llm("openai", "gpt-4o", creds("openai", llm_server))
    list(llm.invoke(user("what is this?", images=(ImageInput(image, "low"),)), params={}))

    content = llm_server.requests[0].body["messages"][0]["content"]
    assert content == [{"type": "text", "text": "what is this?"},
                       {"type": "image_url", "image_url": {"url": image, "detail": "low"}}]


def test_provider_without_usage_gets_an_estimate(llm_server):
    llm_server.script("m", reply="abcdefgh", include_usage=False)
    llm = registry.get_llm("openai_api_compatible", "m", creds("openai_api_compatible", llm_server))

    usage = list(llm.invoke(user("abcd"), params={}))[-1].usage

    assert (usage.prompt_tokens, usage.completion_tokens) == (1, 2)


def test_plugin_style_provider_ids_are_accepted(llm_server):
    llm = registry.get_llm("langgenius/openai/openai", "gpt-4o", creds("openai", llm_server))

    text, _ = collect(llm.invoke(user("hi"), params={}))

    assert text == "Hello from the fake model."
    assert registry.normalise_provider("langgenius/anthropic/anthropic") == "anthropic"


def test_old_azure_api_versions_are_not_sent_stream_options(llm_server):
    credentials = creds("azure_openai", llm_server, openai_api_version="2024-02-01")
    llm = registry.get_llm("azure_openai", "dep", credentials)

    usage = list(llm.invoke(user("one two three four"), params={}))[-1].usage

    assert "stream_options" not in llm_server.requests[0].body
    assert usage.prompt_tokens == 5  # no usage in the stream: estimated from characters / 4
