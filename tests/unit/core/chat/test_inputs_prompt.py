import pytest

from api.core.chat.inputs import InputValidationError, validate_inputs
from api.core.chat.prompt import Turn, build_chat_prompt, build_completion_prompt, conversation_name, fill_template

FORM = [
    {"text-input": {"label": "Name", "variable": "name", "required": True, "max_length": 5}},
    {"select": {"label": "Tone", "variable": "tone", "options": ["warm", "dry"], "default": "warm"}},
    {"number": {"label": "N", "variable": "n"}},
    {"checkbox": {"label": "C", "variable": "c"}},
]


def test_validate_inputs_coerces_and_fills_defaults_and_drops_unknown():
    clean = validate_inputs(FORM, {"name": "Ann\x00", "n": "3", "c": "yes", "extra": 1})

    assert clean == {"name": "Ann", "tone": "warm", "n": 3, "c": True}


@pytest.mark.parametrize(("inputs", "field", "message"), [
    ({}, "name", "name is required in input form"),
    ({"name": "toolong"}, "name", "must be less than 5 characters"),
    ({"name": "A", "tone": "loud"}, "tone", "must be one of the following"),
    ({"name": "A", "n": "x"}, "n", "valid number"),
    ({"name": "A", "c": "maybe"}, "c", "boolean"),
    ({"name": 5}, "name", "must be a string"),
])
def test_validate_inputs_rejects(inputs, field, message):
    with pytest.raises(InputValidationError, match=message) as info:
        validate_inputs(FORM, inputs)

    assert info.value.field == field


def test_fill_template_replaces_known_and_blanks_unknown():
    assert fill_template("Hi {{ name }}, {{missing}}!", {"name": "Ann"}) == "Hi Ann, !"


def test_build_chat_prompt_orders_system_history_query():
    messages = build_chat_prompt(pre_prompt="You are {{name}}.", inputs={"name": "Bot"}, query="q3",
                                 history=[Turn("q1", "a1"), Turn("q2", "a2")])

    assert [(m.role, m.content) for m in messages] == [("system", "You are Bot."), ("user", "q1"),
                                                       ("assistant", "a1"), ("user", "q2"), ("assistant", "a2"),
                                                       ("user", "q3")]


def test_build_chat_prompt_keeps_only_the_newest_history_that_fits():
    history = [Turn("old " * 400, "x" * 1600), Turn("recent", "answer")]

    messages = build_chat_prompt(pre_prompt="", inputs={}, query="now", history=history, context_size=600,
                                 max_tokens=100)

    assert [m.content for m in messages] == ["recent", "answer", "now"]


def test_build_completion_prompt_fills_the_template():
    messages = build_completion_prompt(pre_prompt="Translate: {{query}}", inputs={"query": "hola"})

    assert [(m.role, m.content) for m in messages] == [("user", "Translate: hola")]


def test_conversation_name_truncates_at_twenty_characters():
    assert conversation_name("What is the capital of France?") == "What is the capital …"
    assert conversation_name("") == "New conversation"
