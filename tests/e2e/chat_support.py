"""Helpers for the chat end-to-end tests: a bootstrapped workspace on a real server, apps wired to the fake
model server, the official `dify_client` SDK pointed at the server, and an SSE reader for its responses.

Model names are unique per (purpose, server mode): the fake model server is shared by both servers of a test
module, and background calls (conversation titles) of one test must not consume another test's script.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import requests
from dify_client import ChatClient, CompletionClient

from tests.e2e.servers import Server
from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import Console, Member

PROVIDER = "openai_api_compatible"
CHAT_PATH = "/v1/chat/completions"
STREAM_READ_TIMEOUT = 30.0  # > the 10 s keep-alive ping interval
T = TypeVar("T")
Client = TypeVar("Client", ChatClient, CompletionClient)


@dataclass
class ChatApp:
    id: str
    key: str
    mode: str
    model: str
    server: Server

    def client(self, kind: type[Client] = ChatClient) -> Client:  # type: ignore[assignment]
        """The official SDK (0.1.10 hardcodes api.dify.ai: point the instance at our server)."""
        client = kind(self.key)
        client.base_url = self.server.base_url + "/v1"
        return client

    @property
    def chat(self) -> ChatClient:
        return self.client(ChatClient)

    @property
    def completion(self) -> CompletionClient:
        return self.client(CompletionClient)


@dataclass
class Stack:
    """One server with its owner logged in; creates models and apps through the console API."""

    server: Server
    http: httpx.Client
    console: Console
    owner: Member
    models: set[str] = field(default_factory=set)

    @property
    def mode(self) -> str:
        return self.server.mode

    def model_name(self, purpose: str) -> str:
        return f"{purpose}-{self.mode}"

    def register_model(self, llm: FakeLLMServer, name: str, **credentials: str) -> None:
        """Add an openai_api_compatible model pointing at the fake (validated there with a real call)."""
        if name in self.models:
            return
        self.console.call("post", f"/workspaces/current/model-providers/{PROVIDER}/models", token=self.owner.token,
                          json={"model": name, "model_type": "llm", "credentials": {
                              "endpoint_url": llm.url + "/v1", "mode": "chat", "context_size": "4096",
                              **credentials}}, expect=200)
        self.models.add(name)

    def create_app(self, llm: FakeLLMServer, *, model: str, mode: str = "chat", fallbacks: tuple[str, ...] = (),
                   **config: Any) -> ChatApp:
        """A new app of `mode` answering with `model` (and `fallbacks`), plus an API key for it."""
        for name in (model, *fallbacks):
            self.register_model(llm, name)
        app_id = self.console.create_app(self.owner, mode=mode, name=f"{model} {mode} app")["id"]
        body: dict[str, Any] = {"model": {"provider": PROVIDER, "name": model, "mode": "chat",
                                          "completion_params": {}},
                                "pre_prompt": "You are a helpful assistant.", "user_input_form": []}
        if fallbacks:
            body["model"]["fallbacks"] = [{"provider": PROVIDER, "name": name} for name in fallbacks]
        body.update(config)
        self.console.call("post", f"/apps/{app_id}/model-config", token=self.owner.token, json=body, expect=200)
        return ChatApp(id=app_id, key=self.console.create_key(self.owner, app_id), mode=mode, model=model,
                       server=self.server)

    def set_limits(self, app: ChatApp, **limits: int) -> None:
        """PUT the app's api_rpm / api_rph / max_active_requests."""
        self.console.call("put", f"/apps/{app.id}", token=self.owner.token,
                          json={"name": f"{app.model} {app.mode} app", **limits}, expect=200)


class Stacks:
    """One bootstrapped Stack per server (its owner set up once), shared by the tests of a module."""

    def __init__(self) -> None:
        self._by_url: dict[str, Stack] = {}

    def get(self, server: Server) -> Stack:
        if server.base_url not in self._by_url:
            # no idle keep-alive connections: they would hold up the server's graceful shutdown at teardown
            http = httpx.Client(base_url=server.base_url, timeout=30.0,
                                limits=httpx.Limits(max_keepalive_connections=0))
            console = Console(http)
            self._by_url[server.base_url] = Stack(server, http, console, console.setup_owner())
        return self._by_url[server.base_url]

    def close(self) -> None:
        for stack in self._by_url.values():
            stack.http.close()


def events(response: requests.Response, read_timeout: float = STREAM_READ_TIMEOUT) -> Iterator[dict[str, Any]]:
    """The `data:` events of an SSE response, as they arrive (keep-alive pings skipped).

    The SDK sets no timeout; a stream silent for `read_timeout` seconds raises instead of hanging the test."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    connection = getattr(response.raw, "connection", None)
    if connection is not None and connection.sock is not None:
        connection.sock.settimeout(read_timeout)
    for line in response.iter_lines():
        if line.startswith(b"data: "):
            yield json.loads(line[len(b"data: "):])


def all_events(response: requests.Response) -> list[dict[str, Any]]:
    try:
        return list(events(response))
    finally:
        response.close()


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["event"] for item in items]


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy (bounded wait; fails with the last value)."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    assert value, f"condition not met within {timeout}s (last value: {value!r})"
    return value


def chat_requests(llm: FakeLLMServer, model: str) -> list[dict[str, Any]]:
    """Bodies the fake received for `model` on the chat completions route (validation calls included)."""
    return [body for body in llm.bodies(CHAT_PATH) if isinstance(body, dict) and body.get("model") == model]


def request_with_query(llm: FakeLLMServer, model: str, query: str) -> dict[str, Any]:
    """The (last) chat request for `model` whose final user message is `query` — not a title/suggestion call."""
    found = [body for body in chat_requests(llm, model) if _last_user_text(body) == query]
    assert found, f"the fake never received a request for {model} ending with {query!r}"
    return found[-1]


def _last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    if not users:
        return ""
    content = users[-1].get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def messages_of(app: ChatApp, user: str, conversation_id: str, **params: Any) -> dict[str, Any]:
    response = app.chat.get_conversation_messages(user, conversation_id=conversation_id, **params)
    assert response.status_code == 200, response.text
    return response.json()


def only_conversation(app: ChatApp, user: str) -> str:
    """The id of `user`'s single conversation (for runs whose blocking answer was an error)."""
    response = app.chat.get_conversations(user)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert len(data) == 1, data
    return data[0]["id"]
