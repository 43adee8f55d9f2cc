from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.chat_support import Stack, all_events, events, messages_of, names, eventually
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e


def test_probe_completion_stop(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("cstop")
    llm.script(model, reply=" ".join(f"w{i}" for i in range(30)), n_chunks=30, inter_token_delay_ms=200)
    app = stack.create_app(llm, model=model, mode="completion")
    stream = events(app.completion.create_completion_message({}, "streaming", "alice"))
    first = next(stream)
    r = app.chat._send_request("POST", f"/completion-messages/{first['task_id']}/stop", {"user": "alice"})
    print("stop", r.status_code, r.text)
    rest = list(stream)
    print(names(rest))
    assert names(rest)[-1] == "message_end"


def test_probe_remote_image_and_null_rating(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("remote")
    app = stack.create_app(llm, model=model, file_upload={"image": {"enabled": True, "number_limits": 3,
                                                                    "transfer_methods": ["remote_url"]}})
    r = app.chat.create_chat_message({}, "Look 🙂", "alice", files=[{"type": "image", "transfer_method": "remote_url",
                                                               "url": llm.url + "/images/cat.png"}])
    print(r.status_code, r.text)
    body = [b for b in llm.bodies("/v1/chat/completions") if b.get("model") == model][-1]
    print(body["messages"][-1])
    mid = r.json()["id"]
    print(app.chat.message_feedback(mid, None, "alice").text)
    print(app.chat.message_feedback(mid, "like", "alice").text)
    print(app.chat.message_feedback(mid, None, "alice").text)
    print(messages_of(app, "alice", r.json()["conversation_id"])["data"][0]["feedback"])
    r2 = app.chat.create_chat_message({}, "Look", "alice", files=[{"type": "image", "transfer_method": "local_file",
                                                               "upload_file_id": "00000000-0000-0000-0000-000000000000"}])
    print(r2.status_code, r2.text)
    r3 = app.chat.get_conversations("alice", pinned=True)
    print(r3.status_code, r3.text[:200])


def test_probe_disconnect(stack: Stack, llm: FakeLLMServer) -> None:
    model = stack.model_name("disc")
    llm.script(model, reply=" ".join(f"w{i}" for i in range(10)), n_chunks=10, inter_token_delay_ms=200)
    app = stack.create_app(llm, model=model)
    stack.set_limits(app, max_active_requests=1)
    resp = app.chat.create_chat_message({}, "hi", "alice", response_mode="streaming")
    stream = events(resp)
    first = next(stream)
    resp.raw.connection.sock.close() if False else resp.close()
    t0 = time.monotonic()
    def ok():
        r = app.chat.create_chat_message({}, "again", "bob")
        return r.status_code == 200 and r
    got = eventually(ok, timeout=10, interval=0.2)
    print("slot back after", time.monotonic() - t0)
    def done():
        data = messages_of(app, "alice", first["conversation_id"])["data"]
        return data[0]["status"] != "pending" and data[0]["status"] != "running" and data
    data = eventually(done, timeout=10)
    print(data[0]["status"], data[0]["answer"])
