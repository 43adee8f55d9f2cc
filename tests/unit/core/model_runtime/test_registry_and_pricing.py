"""validate_credentials makes one real minimal call; schemas describe the credential forms; prices are Dify's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.core.model_runtime import pricing, registry
from api.core.model_runtime.entities import Usage
from api.core.model_runtime.errors import InvokeAuthorizationError, InvokeConnectionError
from tests.unit.core.model_runtime.helpers import creds


@pytest.mark.parametrize(("provider", "model_type", "path"), [
    ("openai", "llm", "/v1/chat/completions"),
    ("anthropic", "llm", "/v1/messages"),
    ("azure_openai", "llm", "/openai/deployments/m/chat/completions"),
    ("ollama", "llm", "/api/chat"),
    ("openai_api_compatible", "llm", "/v1/chat/completions"),
    ("openai", "text-embedding", "/v1/embeddings"),
    ("ollama", "text-embedding", "/api/embed"),
    ("openai_api_compatible", "rerank", "/v1/rerank"),
])
def test_validate_credentials_succeeds_with_one_minimal_call(llm_server, provider, model_type, path):
    registry.validate_credentials(provider, model_type, "m", creds(provider, llm_server))

    assert llm_server.count() == 1
    body = llm_server.bodies(path)[0]
    if model_type == "llm":
        assert body["stream"] is False
        assert (body.get("max_tokens") or body.get("options", {}).get("num_predict")) == 1
    elif model_type == "text-embedding":
        assert body["input"] == ["ping"]


def test_validate_credentials_fails_on_a_wrong_key(llm_server):
    llm_server.api_key = "sk-the-right-one"

    with pytest.raises(InvokeAuthorizationError, match="Incorrect API key provided"):
        registry.validate_credentials("openai", "llm", "gpt-4o", creds("openai", llm_server))


def test_validate_credentials_fails_when_the_endpoint_is_down(llm_server):
    url = llm_server.url
    llm_server.stop()

    with pytest.raises(InvokeConnectionError):
        registry.validate_credentials("ollama", "llm", "llama3", {"base_url": url})


def test_provider_schemas_describe_every_provider_and_its_secrets():
    schemas = registry.provider_schemas()

    assert set(schemas) == set(registry.PROVIDERS)
    assert schemas["openai"]["configurate_methods"] == ["predefined-model"]
    assert schemas["ollama"]["configurate_methods"] == ["customizable-model"]
    assert "rerank" in schemas["openai_api_compatible"]["supported_model_types"]
    fields = {f["variable"]: f for f in schemas["azure_openai"]["model_credential_schema"]["credential_form_schemas"]}
    assert fields["openai_api_key"]["type"] == "secret-input"
    assert fields["openai_api_key"]["required"]
    assert fields["openai_api_version"]["type"] == "select"
    assert registry.secret_variables("openai") == ("openai_api_key",)
    assert registry.secret_variables("anthropic") == ("anthropic_api_key",)
    assert registry.secret_variables("openai_api_compatible") == ("api_key",)
    assert registry.secret_variables("ollama") == ()
    assert {"model": "gpt-4o", "model_type": "llm"} in schemas["openai"]["models"]


def test_usage_to_dict_has_decimal_strings_like_dify():
    usage = pricing.price_usage("openai", "gpt-4o", 1000, 500, latency=1.5, ttft=0.2, ttg=1.3)

    data = usage.to_dict()

    assert data == {
        "prompt_tokens": 1000, "prompt_unit_price": "0.0025", "prompt_price_unit": "0.001",
        "prompt_price": "0.0025000", "completion_tokens": 500, "completion_unit_price": "0.01",
        "completion_price_unit": "0.001", "completion_price": "0.0050000", "total_tokens": 1500,
        "total_price": "0.0075000", "currency": "USD", "latency": 1.5, "time_to_first_token": 0.2,
        "time_to_generate": 1.3,
    }


def test_unknown_and_self_hosted_models_are_free_without_exponent_notation():
    data = pricing.price_usage("ollama", "gpt-4o", 10, 10, latency=0.1).to_dict()

    assert (data["prompt_price"], data["total_price"], data["prompt_unit_price"]) == ("0.0000000", "0.0000000", "0")
    assert Usage.empty().to_dict()["total_price"] == "0"


@pytest.mark.parametrize(("provider", "model", "per_1m_input"), [
    ("openai", "gpt-4o-mini-2024-07-18", "0.15"),
    ("openai", "gpt-4.1-mini", "0.40"),
    ("openai", "o3-mini", "1.10"),
    ("openai", "text-embedding-3-small", "0.02"),
    ("azure_openai", "gpt-4.1", "2.00"),
    ("anthropic", "claude-3-5-haiku-20241022", "0.80"),
    ("anthropic", "claude-sonnet-4-20250514", "3.00"),
    ("openai", "some-future-model", None),
])
def test_price_lookup_matches_dated_snapshots_by_prefix(provider, model, per_1m_input):
    price = pricing.find_price(provider, model)

    assert (price.input_per_1m if price else None) == (Decimal(per_1m_input) if per_1m_input else None)
