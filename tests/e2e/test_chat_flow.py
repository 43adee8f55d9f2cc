"""Chat and completion apps end to end, driven with the official `dify_client` SDK (0.1.10).

Each test runs against the embedded server (one gunicorn process, SQLite, generation on local threads)
and the distributed one (two gunicorn workers, PostgreSQL, Redis pub/sub, generation in a real Celery
worker). Answers come from the fake model server over real HTTP; what it received is checked too.
"""

from __future__ import annotations

import base64
import io
import re

import pytest

from tests.e2e.chat_support import (
    PROVIDER,
    ChatApp,
    Stack,
    all_events,
    chat_requests,
    eventually,
    messages_of,
    names,
    request_with_query,
)
from tests.fakes.llm_server import PNG_1PX, FakeLLMServer

pytestmark = pytest.mark.e2e

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TOPIC_FORM = [{"text-input": {"label": "Topic", "variable": "topic", "required": True, "max_length": 48}}]


def _blocking(app: ChatApp, query: str, user: str, conversation_id: str | None = None, **kwargs: object) -> dict:
    response = app.chat.create_chat_message(kwargs.pop("inputs", {}), query, user,
                                            conversation_id=conversation_id, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_blocking_answer_carries_the_provider_usage_and_model(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("blocking")
    llm.script(model, reply="Paris is the capital of France.", prompt_tokens=11, completion_tokens=7)
    app = stack.create_app(llm, model=model, pre_prompt="You answer questions about {{topic}}.",
                           user_input_form=TOPIC_FORM)

    body = _blocking(app, "What is the capital of France?", "alice", inputs={"topic": "geography"})

    assert body["event"] == "message"
    assert body["answer"] == "Paris is the capital of France."
    assert body["mode"] == "chat"
    assert body["id"] == body["message_id"]
    assert UUID.fullmatch(body["conversation_id"])
    assert UUID.fullmatch(body["task_id"])
    usage = body["metadata"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (11, 7, 18)
    assert body["metadata"]["model"] == {"provider": PROVIDER, "name": model}
    sent = request_with_query(llm, model, "What is the capital of France?")
    assert sent["messages"][0] == {"role": "system", "content": "You answer questions about geography."}


def test_streaming_relays_one_event_per_upstream_chunk(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("streaming")
    llm.script(model, chunks=["a", "b", "c"])
    app = stack.create_app(llm, model=model)

    response = app.chat.create_chat_message({}, "Say abc", "alice", response_mode="streaming")
    items = all_events(response)

    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert names(items) == ["message", "message", "message", "message_end"], items
    assert [item["answer"] for item in items[:3]] == ["a", "b", "c"]
    envelope = {(i["conversation_id"], i["message_id"], i["task_id"], i["created_at"]) for i in items}
    assert len(envelope) == 1, items
    end = items[-1]
    assert end["id"] == end["message_id"]
    assert end["metadata"]["model"] == {"provider": PROVIDER, "name": model}
    assert end["metadata"]["usage"]["completion_tokens"] >= 1
    stored = messages_of(app, "alice", end["conversation_id"])["data"]
    assert [(m["answer"], m["status"]) for m in stored] == [("abc", "normal")]


def test_second_turn_sends_the_history_to_the_model(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("history")
    llm.script(model, reply="The first answer.")
    app = stack.create_app(llm, model=model)
    first = _blocking(app, "First question?", "alice")
    llm.script(model, reply="The second answer.")

    second = _blocking(app, "Second question?", "alice", conversation_id=first["conversation_id"])

    assert second["conversation_id"] == first["conversation_id"]
    assert second["answer"] == "The second answer."
    sent = request_with_query(llm, model, "Second question?")["messages"]
    assert [m for m in sent if m["role"] != "system"] == [
        {"role": "user", "content": "First question?"}, {"role": "assistant", "content": "The first answer."},
        {"role": "user", "content": "Second question?"}]


def test_missing_required_input_is_rejected_before_the_model_is_called(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("inputs")
    app = stack.create_app(llm, model=model, pre_prompt="About {{topic}}.", user_input_form=TOPIC_FORM)
    calls = len(chat_requests(llm, model))

    response = app.chat.create_chat_message({}, "Hello?", "alice")
    too_long = app.chat.create_chat_message({"topic": "x" * 49}, "Hello?", "alice")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"
    assert "topic is required" in response.json()["message"]
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "invalid_param"
    assert len(chat_requests(llm, model)) == calls
    assert app.chat.get_conversations("alice").json()["data"] == []


def _names(app: ChatApp, user: str) -> dict[str, str]:
    return {c["id"]: c["name"] for c in app.chat.get_conversations(user).json()["data"]}


def test_conversations_are_listed_renamed_and_deleted_per_user(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("conversations")
    llm.script(model, reply="Small talk")  # also the generated title of each new conversation
    app = stack.create_app(llm, model=model)
    chat = app.chat
    older = _blocking(app, "One", "alice")["conversation_id"]
    eventually(lambda: _names(app, "alice") == {older: "Small talk"})  # the title lands in the background
    newer = _blocking(app, "Two", "alice")["conversation_id"]
    eventually(lambda: _names(app, "alice") == {older: "Small talk", newer: "Small talk"})

    listed = chat.get_conversations("alice").json()
    first_page = chat.get_conversations("alice", limit=1, pinned=False).json()
    second_page = chat.get_conversations("alice", limit=1, last_id=newer).json()

    assert [c["id"] for c in listed["data"]] == [newer, older]
    assert listed["has_more"] is False
    assert [c["id"] for c in first_page["data"]] == [newer]
    assert first_page["has_more"] is True
    assert [c["id"] for c in second_page["data"]] == [older]
    assert second_page["has_more"] is False
    assert chat.get_conversations("bob").json()["data"] == []
    assert chat.get_conversation_messages("bob", conversation_id=older).status_code == 404
    intruder = chat.rename_conversation(older, "Mine now", "bob")
    assert intruder.status_code == 404
    assert intruder.json()["code"] == "not_found"

    renamed = chat.rename_conversation(older, "Geography", "alice")
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Geography"
    assert _names(app, "alice")[older] == "Geography"

    assert chat._send_request("DELETE", f"/conversations/{older}", {"user": "bob"}).status_code == 404
    deleted = chat._send_request("DELETE", f"/conversations/{older}", {"user": "alice"})
    assert deleted.status_code == 204
    assert [c["id"] for c in chat.get_conversations("alice").json()["data"]] == [newer]
    assert chat.get_conversation_messages("alice", conversation_id=older).status_code == 404
    reuse = chat.create_chat_message({}, "Three", "alice", conversation_id=older)
    assert reuse.status_code == 404


def test_messages_page_backwards_with_first_id(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("messages")
    app = stack.create_app(llm, model=model)
    conversation_id = None
    for number in (1, 2, 3):
        llm.script(model, reply=f"Answer {number}.")
        conversation_id = _blocking(app, f"Question {number}?", "alice", conversation_id=conversation_id)[
            "conversation_id"]
    assert conversation_id is not None

    newest = messages_of(app, "alice", conversation_id, limit=2)
    older = messages_of(app, "alice", conversation_id, limit=2, first_id=newest["data"][0]["id"])

    assert [(m["query"], m["answer"]) for m in newest["data"]] == [("Question 2?", "Answer 2."),
                                                                  ("Question 3?", "Answer 3.")]
    assert newest["has_more"] is True
    assert [m["query"] for m in older["data"]] == ["Question 1?"]
    assert older["has_more"] is False
    assert all(m["status"] == "normal" and m["conversation_id"] == conversation_id
               for m in newest["data"] + older["data"])


def test_feedback_like_then_dislike(stack: Stack, llm: FakeLLMServer) -> None:
    app = stack.create_app(llm, model=stack.model_name("feedback"))
    answer = _blocking(app, "Rate me", "alice")

    liked = app.chat.message_feedback(answer["id"], "like", "alice")
    after_like = messages_of(app, "alice", answer["conversation_id"])["data"][0]["feedback"]
    disliked = app.chat.message_feedback(answer["id"], "dislike", "alice")
    after_dislike = messages_of(app, "alice", answer["conversation_id"])["data"][0]["feedback"]
    intruder = app.chat.message_feedback(answer["id"], "like", "bob")

    assert (liked.status_code, liked.json()) == (200, {"result": "success"})
    assert after_like == {"rating": "like"}
    assert disliked.status_code == 200
    assert after_dislike == {"rating": "dislike"}
    assert intruder.status_code == 404


def test_suggested_questions_come_from_the_model(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("suggested")
    app = stack.create_app(llm, model=model, suggested_questions_after_answer={"enabled": True})
    answer = _blocking(app, "Tell me about rivers", "alice")
    llm.script(model, reply='["Which river is longest?", "Where is the Nile?", "How do rivers form?"]')

    response = app.chat._send_request("GET", f"/messages/{answer['id']}/suggested", params={"user": "alice"})
    intruder = app.chat._send_request("GET", f"/messages/{answer['id']}/suggested", params={"user": "bob"})

    assert response.status_code == 200, response.text
    assert response.json() == {"result": "success",
                               "data": ["Which river is longest?", "Where is the Nile?", "How do rivers form?"]}
    assert intruder.status_code == 404


def test_parameters_describe_the_app(stack: Stack, llm: FakeLLMServer) -> None:
    app = stack.create_app(llm, model=stack.model_name("parameters"), user_input_form=TOPIC_FORM,
                           opening_statement="Hi! Pick a topic.", suggested_questions=["What is new?"],
                           suggested_questions_after_answer={"enabled": True},
                           file_upload={"image": {"enabled": True, "number_limits": 3,
                                                  "transfer_methods": ["local_file", "remote_url"]}})

    response = app.chat.get_application_parameters("alice")

    assert response.status_code == 200, response.text
    params = response.json()
    assert params["opening_statement"] == "Hi! Pick a topic."
    assert params["suggested_questions"] == ["What is new?"]
    assert params["suggested_questions_after_answer"] == {"enabled": True}
    assert params["user_input_form"][0]["text-input"]["variable"] == "topic"
    assert params["user_input_form"][0]["text-input"]["required"] is True
    image = params["file_upload"]["image"]
    assert image["enabled"] is True
    assert image["number_limits"] == 3
    assert set(image["transfer_methods"]) == {"local_file", "remote_url"}
    assert params["system_parameters"]["image_file_size_limit"] == 10


def test_uploaded_image_reaches_the_model(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("vision")
    app = stack.create_app(llm, model=model, file_upload={"image": {
        "enabled": True, "number_limits": 3, "transfer_methods": ["local_file", "remote_url"]}})

    upload = app.chat.file_upload("alice", {"file": ("dot.png", io.BytesIO(PNG_1PX), "image/png")})
    assert upload.status_code == 201, upload.text
    file = upload.json()
    assert (file["name"], file["extension"], file["mime_type"], file["size"]) == ("dot.png", "png", "image/png",
                                                                                  len(PNG_1PX))
    answer = _blocking(app, "What is in this picture?", "alice",
                       files=[{"type": "image", "transfer_method": "local_file", "upload_file_id": file["id"]}])

    content = request_with_query(llm, model, "What is in this picture?")["messages"][-1]["content"]
    assert isinstance(content, list), content
    assert {"type": "text", "text": "What is in this picture?"} in content
    images = [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
    assert images == ["data:image/png;base64," + base64.b64encode(PNG_1PX).decode()]
    stored = messages_of(app, "alice", answer["conversation_id"])["data"][0]["message_files"]
    assert [(f["type"], f["transfer_method"], f["upload_file_id"]) for f in stored] == [
        ("image", "local_file", file["id"])]


def test_completion_app_blocking_and_streaming(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("completion")
    llm.script(model, chunks=["Bon", "jour", "!"], prompt_tokens=5, completion_tokens=3)
    form = [{"paragraph": {"label": "Text", "variable": "text", "required": True}}]
    app = stack.create_app(llm, model=model, mode="completion", pre_prompt="Translate to French: {{text}}",
                           user_input_form=form)
    client = app.completion

    blocking = client.create_completion_message({"text": "Hello!"}, "blocking", "alice")
    streamed = all_events(client.create_completion_message({"text": "Hello again!"}, "streaming", "alice"))
    missing = client.create_completion_message({}, "blocking", "alice")

    assert blocking.status_code == 200, blocking.text
    body = blocking.json()
    assert (body["event"], body["mode"], body["answer"]) == ("message", "completion", "Bonjour!")
    assert "conversation_id" not in body
    assert body["metadata"]["usage"]["prompt_tokens"] == 5
    assert body["metadata"]["model"] == {"provider": PROVIDER, "name": model}
    assert request_with_query(llm, model, "Translate to French: Hello!")["messages"] == [
        {"role": "user", "content": "Translate to French: Hello!"}]
    assert names(streamed) == ["message", "message", "message", "message_end"], streamed
    assert "".join(e["answer"] for e in streamed[:3]) == "Bonjour!"
    assert all("conversation_id" not in e for e in streamed)
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_param"
    chat_route = app.chat.create_chat_message({"text": "x"}, "Hi", "alice")
    assert chat_route.status_code == 400
    assert chat_route.json()["code"] == "not_chat_app"
