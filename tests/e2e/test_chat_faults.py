"""Chat runs when things go wrong, against real processes, driven with the official `dify_client` SDK.

A Celery worker killed mid-stream (distributed only), a user stopping an answer, a failing primary model
with a fallback, per-app request limits, and a provider rejecting its API key. Every stream must end with a
terminal event and every message must end in a final status (contract §7, §8).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
import requests

from tests.e2e.chat_support import (
    PROVIDER,
    ChatApp,
    Stack,
    Stacks,
    all_events,
    chat_requests,
    events,
    eventually,
    messages_of,
    names,
    only_conversation,
)
from tests.e2e.servers import Server
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e

WORDS = " ".join(f"word{i}" for i in range(50))  # 50 chunks of one word each


def _slow(llm: FakeLLMServer, model: str, n_chunks: int = 50, inter_token_delay_ms: int = 200) -> None:
    llm.script(model, reply=" ".join(f"word{i}" for i in range(n_chunks)), n_chunks=n_chunks,
               first_token_delay_ms=0, inter_token_delay_ms=inter_token_delay_ms)


def _stop(app: ChatApp, task_id: str, user: str) -> dict:
    # dify-client 0.1.10 predates stop_message(); this is the call 0.1.11+ makes
    response = app.chat._send_request("POST", f"/chat-messages/{task_id}/stop", {"user": user})
    assert response.status_code == 200, response.text
    return response.json()


def _assert_429(response: requests.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "too_many_requests"
    assert response.json()["status"] == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= 1


def test_killed_worker_ends_the_stream_with_an_error(distributed_server: Server, stacks: Stacks, llm: FakeLLMServer,
                                                     kill_celery_worker: Callable[[Server], None]) -> None:
    stack = stacks.get(distributed_server)
    model = stack.model_name("killed")
    _slow(llm, model, inter_token_delay_ms=300)
    app = stack.create_app(llm, model=model)
    stream = events(app.chat.create_chat_message({}, "Talk slowly", "alice", response_mode="streaming"))
    first = next(stream)
    assert first["event"] == "message", first

    kill_celery_worker(distributed_server)
    rest = list(stream)  # ends once the API notices the silence (RUN_WORKER_LOST_TIMEOUT)

    assert names(rest)[-1] == "error", rest
    assert set(names(rest[:-1])) <= {"message"}
    error = rest[-1]
    assert (error["code"], error["status"]) == ("service_unavailable", 503)
    assert error["message_id"] == first["message_id"]
    assert error["conversation_id"] == first["conversation_id"]
    stored = messages_of(app, "alice", first["conversation_id"])["data"]
    assert [m["status"] for m in stored] == ["error"]
    assert stored[0]["error"]


def test_lost_redis_subscription_ends_the_stream_and_the_answer_is_still_kept(
        distributed_server: Server, stacks: Stacks, llm: FakeLLMServer) -> None:
    stack = stacks.get(distributed_server)
    model = stack.model_name("redis-drop")
    _slow(llm, model, n_chunks=8)
    app = stack.create_app(llm, model=model)
    stream = events(app.chat.create_chat_message({}, "Keep going", "alice", response_mode="streaming"))
    first = next(stream)

    assert _drop_subscribers(distributed_server) >= 1  # the API's relay connections (Redis "drops")
    rest = list(stream)

    assert names(rest)[-1] == "error", rest
    assert set(names(rest[:-1])) <= {"message"}
    assert (rest[-1]["code"], rest[-1]["status"]) == ("service_unavailable", 503)
    assert rest[-1]["message_id"] == first["message_id"]
    # The relay marks the row failed at once; the worker, unaffected, then finishes the answer and wins.
    stored = eventually(lambda: [m for m in messages_of(app, "alice", first["conversation_id"])["data"]
                                 if m["status"] == "normal"])
    assert [(m["answer"], m["error"]) for m in stored] == [(" ".join(f"word{i}" for i in range(8)), None)]


def _drop_subscribers(server: Server) -> int:
    """CLIENT KILL this server's SUBSCRIBE connections (its Redis db only; other runs use other dbs)."""
    url = server.env["REDIS_URL"]
    db = url.rsplit("/", 1)[1]
    client = redis.Redis.from_url(url)
    try:
        victims = [c["id"] for c in client.client_list(_type="pubsub") if c["db"] == db and c["cmd"] == "subscribe"]
        for victim in victims:
            client.client_kill_filter(_id=victim)
        return len(victims)
    finally:
        client.close()


def test_client_disconnect_frees_the_slot_and_the_answer_completes(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("disconnect")
    _slow(llm, model, n_chunks=8)
    app = stack.create_app(llm, model=model)
    stack.set_limits(app, max_active_requests=1)
    response = app.chat.create_chat_message({}, "Hang up on me", "alice", response_mode="streaming")
    first = next(events(response))
    response.close()
    llm.script(model, reply="Quick one.")  # the run already streaming keeps its own script

    after = eventually(lambda: (r := app.chat.create_chat_message({}, "Next", "bob")).status_code == 200 and r)

    assert after.json()["answer"] == "Quick one."
    stored = eventually(lambda: [m for m in messages_of(app, "alice", first["conversation_id"])["data"]
                                 if m["status"] not in ("pending", "running")])
    assert [(m["status"], m["answer"]) for m in stored] == [("normal", " ".join(f"word{i}" for i in range(8)))]


def test_stop_ends_the_answer_and_keeps_the_partial_text(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("stopped")
    _slow(llm, model)
    app = stack.create_app(llm, model=model)
    stream = events(app.chat.create_chat_message({}, "Count to fifty", "alice", response_mode="streaming"))
    received = [next(stream) for _ in range(3)]
    task_id = received[0]["task_id"]

    assert _stop(app, task_id, "bob") == {"result": "success"}  # not bob's run: ignored
    received += [next(stream) for _ in range(2)]
    assert names(received) == ["message"] * 5
    assert _stop(app, task_id, "alice") == {"result": "success"}
    rest = list(stream)

    assert names(rest)[-1] == "message_end", rest
    assert names(rest[:-1]).count("message") == len(rest) - 1
    assert len(rest) - 1 <= 2, f"{len(rest) - 1} chunks after the stop"
    partial = "".join(e["answer"] for e in received + rest[:-1])
    assert WORDS.startswith(partial)
    assert len(partial) < len(WORDS)
    assert rest[-1]["metadata"]["model"] == {"provider": PROVIDER, "name": model}
    stored = messages_of(app, "alice", received[0]["conversation_id"])["data"]
    assert [(m["status"], m["answer"]) for m in stored] == [("stopped", partial)]


def test_failing_primary_model_falls_back(stack: Stack, llm: FakeLLMServer) -> None:
    primary, backup = stack.model_name("primary"), stack.model_name("backup")
    llm.script(backup, reply="The backup answers.")
    app = stack.create_app(llm, model=primary, fallbacks=(backup,))
    llm.script(primary, failures=[500, 500, 500, 500])  # after registration, whose validation call must pass
    primary_calls = len(chat_requests(llm, primary))

    blocking = app.chat.create_chat_message({}, "Anyone there?", "alice")
    streamed = all_events(app.chat.create_chat_message({}, "Still there?", "alice", response_mode="streaming"))

    assert blocking.status_code == 200, blocking.text
    assert blocking.json()["answer"] == "The backup answers."
    assert blocking.json()["metadata"]["model"] == {"provider": PROVIDER, "name": backup}
    assert len(chat_requests(llm, primary)) - primary_calls >= 2  # the primary was retried before falling back
    assert names(streamed)[-1] == "message_end", streamed
    assert "".join(e["answer"] for e in streamed if e["event"] == "message") == "The backup answers."
    assert streamed[-1]["metadata"]["model"] == {"provider": PROVIDER, "name": backup}


def test_requests_per_minute_limit(stack: Stack, llm: FakeLLMServer) -> None:
    app = stack.create_app(llm, model=stack.model_name("rpm"))
    stack.set_limits(app, api_rpm=3)
    into_minute = time.time() % 60
    if into_minute > 55:  # the window is the calendar minute: keep all calls inside one
        time.sleep(60.2 - into_minute)

    answered = [app.chat.create_chat_message({}, f"Call {n}", "alice") for n in range(3)]
    fourth = app.chat.create_chat_message({}, "Call 4", "alice")
    streaming = app.chat.create_chat_message({}, "Call 5", "alice", response_mode="streaming")

    assert [r.status_code for r in answered] == [200, 200, 200]
    _assert_429(fourth, 3)
    assert int(fourth.headers["Retry-After"]) <= 60
    _assert_429(streaming, 3)


def test_active_requests_limit(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("active")
    _slow(llm, model, n_chunks=6)
    app = stack.create_app(llm, model=model)
    stack.set_limits(app, max_active_requests=1)
    first = events(app.chat.create_chat_message({}, "Take your time", "alice", response_mode="streaming"))
    assert next(first)["event"] == "message"

    blocked = app.chat.create_chat_message({}, "Me too", "bob")
    blocked_stream = app.chat.create_chat_message({}, "Me too", "bob", response_mode="streaming")
    rest = list(first)
    after = app.chat.create_chat_message({}, "My turn now", "bob")

    _assert_429(blocked, 1)
    _assert_429(blocked_stream, 1)
    assert names(rest)[-1] == "message_end"
    assert after.status_code == 200, after.text
    assert after.json()["answer"] == " ".join(f"word{i}" for i in range(6))


def test_rejected_provider_key_is_a_completion_request_error(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("revoked")
    llm.script(model, api_key="sk-valid-0001")
    stack.register_model(llm, model, api_key="sk-valid-0001")
    app = stack.create_app(llm, model=model)
    llm.script(model, api_key="sk-rotated-0002")  # the provider no longer accepts the stored key

    blocking = app.chat.create_chat_message({}, "Hello?", "blocking-user")
    streamed = all_events(app.chat.create_chat_message({}, "Hello?", "streaming-user", response_mode="streaming"))

    assert blocking.status_code == 400, blocking.text
    assert blocking.json() == {"code": "completion_request_error", "message": "Incorrect API key provided",
                               "status": 400}
    assert names(streamed) == ["error"], streamed
    error = streamed[0]
    assert (error["code"], error["status"], error["message"]) == ("completion_request_error", 400,
                                                                  "Incorrect API key provided")
    assert "task_id" not in error
    for user in ("blocking-user", "streaming-user"):
        stored = messages_of(app, user, only_conversation(app, user))["data"]
        assert [(m["status"], m["answer"]) for m in stored] == [("error", "")]
        assert "Incorrect API key provided" in stored[0]["error"]
        assert "sk-valid" not in str(stored)
