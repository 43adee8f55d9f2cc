"""Completion mode, vision per provider, embeddings batching and rerank, over real HTTP."""

from __future__ import annotations

import base64

import pytest

from api.core.model_runtime import registry
from api.core.model_runtime.entities import ImageInput, PromptMessage
from api.core.model_runtime.errors import InvokeBadRequestError
from tests.fakes.llm_server import PNG_1PX
from tests.fakes.llm_wire import fake_vector
from tests.unit.core.model_runtime.helpers import collect, creds, user

PNG_URI = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()


@pytest.mark.parametrize("stream", [True, False])
def test_compatible_completion_mode_uses_legacy_completions(llm_server, stream):
    llm_server.script("instruct", reply="Once upon a time", prompt_tokens=4, completion_tokens=4)
    credentials = creds("openai_api_compatible", llm_server, mode="completion")
    llm = registry.get_llm("openai_api_compatible", "instruct", credentials)

    text, chunks = collect(llm.invoke([PromptMessage("user", "Tell a story")], params={}, stream=stream))

    assert text == "Once upon a time"
    assert chunks[-1].usage.total_tokens == 8
    body = llm_server.bodies("/v1/completions")[0]
    assert body["prompt"] == "Tell a story"
    assert "messages" not in body


def test_openai_completion_mode_comes_from_the_mode_argument(llm_server):
    llm = registry.get_llm("openai", "gpt-3.5-turbo-instruct", creds("openai", llm_server), mode="completion")

    text, _ = collect(llm.invoke(user("hi"), params={}))

    assert text == "Hello from the fake model."
    assert llm_server.count("/v1/completions") == 1


@pytest.mark.parametrize("stream", [True, False])
def test_ollama_completion_mode_uses_generate_with_system_and_options(llm_server, stream):
    llm = registry.get_llm("ollama", "llama3.1", creds("ollama", llm_server, mode="completion"))

    text, _ = collect(llm.invoke([PromptMessage("system", "Be terse."), PromptMessage("user", "hi")],
                                 params={"max_tokens": 9, "temperature": 0.1}, stop=["\n"], stream=stream))

    assert text == "Hello from the fake model."
    body = llm_server.bodies("/api/generate")[0]
    assert (body["prompt"], body["system"]) == ("hi", "Be terse.")
    assert body["options"] == {"num_predict": 9, "temperature": 0.1, "stop": ["\n"], "num_ctx": 4096}


def test_ollama_images_are_sent_as_bare_base64_from_data_uris_and_urls(llm_server):
    llm = registry.get_llm("ollama", "llava", creds("ollama", llm_server))
    images = (ImageInput(PNG_URI), ImageInput(llm_server.url + "/images/cat.png"))

    list(llm.invoke(user("describe", images=images), params={}))

    message = llm_server.bodies("/api/chat")[0]["messages"][0]
    assert message["images"] == [base64.b64encode(PNG_1PX).decode()] * 2


def test_ollama_refuses_images_over_the_size_cap(llm_server):
    llm = registry.get_llm("ollama", "llava", creds("ollama", llm_server))

    with pytest.raises(InvokeBadRequestError):
        list(llm.invoke(user("describe", images=(ImageInput(llm_server.url + "/images/big"),)), params={}))
    assert llm_server.count("/api/chat") == 0


def test_anthropic_images_become_base64_and_url_sources(llm_server):
    llm = registry.get_llm("anthropic", "claude-3-5-sonnet-latest", creds("anthropic", llm_server))
    images = (ImageInput(PNG_URI), ImageInput("https://example.com/cat.png"))

    list(llm.invoke(user("describe", images=images), params={}))

    content = llm_server.bodies("/v1/messages")[0]["messages"][0]["content"]
    assert content == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": base64.b64encode(PNG_1PX).decode()}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "text", "text": "describe"},
    ]


@pytest.mark.parametrize(("provider", "path"), [
    ("openai", "/v1/embeddings"),
    ("openai_api_compatible", "/v1/embeddings"),
    ("azure_openai", "/openai/deployments/emb/embeddings"),
    ("ollama", "/api/embed"),
])
def test_embeddings_are_batched_by_64_and_keep_input_order(llm_server, provider, path):
    texts = [f"text number {i}" for i in range(150)]
    model = registry.get_embedding(provider, "emb", creds(provider, llm_server))

    result = model.embed(texts)

    assert llm_server.count(path) == 3
    assert [len(b["input"]) for b in llm_server.bodies(path)] == [64, 64, 22]
    assert result.vectors == [fake_vector(t) for t in texts]
    assert result.usage_tokens == 3 * 150


def test_rerank_returns_hits_best_first_limited_to_top_n(llm_server):
    model = registry.get_rerank("openai_api_compatible", "rr", creds("openai_api_compatible", llm_server))
    documents = ["bananas are yellow", "the sky is blue today", "blue sky and blue sea"]

    hits = model.rerank("blue sky", documents, top_n=2)

    assert [h.index for h in hits] == [1, 2]
    assert hits[0].score == pytest.approx(1.0)
    assert llm_server.bodies("/v1/rerank")[0] == {"model": "rr", "query": "blue sky", "documents": documents,
                                                  "top_n": 2}


def test_rerank_of_no_documents_makes_no_request(llm_server):
    model = registry.get_rerank("openai_api_compatible", "rr", creds("openai_api_compatible", llm_server))

    assert model.rerank("q", [], top_n=3) == []
    assert llm_server.count() == 0


def test_an_unreachable_image_url_is_a_bad_request_not_a_provider_failure(llm_server):
    llm = registry.get_llm("ollama", "llava", creds("ollama", llm_server))

    with pytest.raises(InvokeBadRequestError, match="could not fetch image"):
        list(llm.invoke(user("describe", images=(ImageInput(llm_server.url + "/missing"),)), params={}))
