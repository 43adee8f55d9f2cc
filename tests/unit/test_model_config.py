import pytest

from api.core.app.model_config import ModelConfigError, default_model_config, validate_model_config

MODEL = {"provider": "openai", "name": "gpt-4o", "mode": "chat", "completion_params": {}}


def test_validate_model_config_fills_dify_defaults_and_normalises_provider():
    config = validate_model_config("chat", {"model": {**MODEL, "provider": "langgenius/openai/openai"}})

    assert config["model"]["provider"] == "openai"
    assert config["retriever_resource"] == {"enabled": True}
    assert config["suggested_questions"] == []
    assert config["prompt_type"] == "simple"


def test_validate_model_config_keeps_fallback_chain():
    config = validate_model_config("chat", {"model": {**MODEL, "fallbacks": [
        {"provider": "anthropic", "name": "claude-3-5-haiku"}]}})

    assert config["model"]["fallbacks"] == [{"provider": "anthropic", "name": "claude-3-5-haiku"}]


@pytest.mark.parametrize(("config", "field"), [
    ({}, "model"),
    ({"model": {**MODEL, "provider": "nope"}}, "model.provider"),
    ({"model": {**MODEL, "name": ""}}, "model.name"),
    ({"model": {**MODEL, "fallbacks": [{"provider": "x", "name": "y"}]}}, "model.fallbacks[0]"),
    ({"model": MODEL, "user_input_form": "x"}, "user_input_form"),
    ({"model": MODEL, "user_input_form": [{"bogus": {"label": "a", "variable": "a"}}]}, "user_input_form[0]"),
    ({"model": MODEL, "user_input_form": [{"text-input": {"label": "a", "variable": "1bad"}}]},
     "user_input_form[0].variable"),
    ({"model": MODEL, "user_input_form": [{"text-input": {"label": "a", "variable": "a"}},
                                          {"paragraph": {"label": "b", "variable": "a"}}]},
     "user_input_form[1].variable"),
    ({"model": MODEL, "user_input_form": [{"select": {"label": "a", "variable": "a", "options": ["x"],
                                                      "default": "y"}}]}, "user_input_form[0].default"),
    ({"model": MODEL, "speech_to_text": {"enabled": "yes"}}, "speech_to_text"),
    ({"model": MODEL, "suggested_questions": [1]}, "suggested_questions"),
    ({"model": MODEL, "dataset_configs": {"retrieval_model": "many"}}, "dataset_configs.retrieval_model"),
    ({"model": MODEL, "dataset_query_variable": "q"}, "dataset_query_variable"),
    ({"model": MODEL, "file_upload": {"image": {"number_limits": 99}}}, "file_upload.image.number_limits"),
])
def test_validate_model_config_rejects_bad_field(config, field):
    with pytest.raises(ModelConfigError) as info:
        validate_model_config("chat", config)

    assert info.value.field == field


def test_completion_with_datasets_requires_a_query_variable():
    with pytest.raises(ModelConfigError, match="Dataset query variable"):
        validate_model_config("completion", {"model": MODEL, "dataset_configs": {
            "datasets": {"datasets": [{"dataset": {"enabled": True, "id": "d"}}]}}})


def test_default_completion_config_asks_for_a_query_paragraph():
    config = default_model_config("completion")

    assert config["pre_prompt"] == "{{query}}"
    assert config["user_input_form"][0]["paragraph"]["variable"] == "query"


def test_default_agent_chat_config_enables_agent_mode():
    assert default_model_config("agent-chat")["agent_mode"]["enabled"] is True
