"""Property-based requests generated from the checked-in OpenAPI documents (schemathesis + hypothesis), sent to an
embedded-mode server in-process: whatever the input, no operation answers 5xx.

The server is seeded first (owner, a chat app on the fake model with an app key, a dataset key, an economy dataset
with a document, a conversation with one answered message), and path parameters named like a seeded object get its
id, so that generated bodies and queries reach the code behind the lookups instead of stopping at a 404. Runs are
derandomized: the same code and documents generate the same requests, so a failure reproduces. Operations that would
end the session or delete what the others need (logout, password change, deleting the seeded app or dataset) are
left out; the bad-input walks cover them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.extensions.database import db
from api.models.app import EndUser
from api.openapi import OUT_DIR
from tests.conftest import embedded_app
from tests.e2e.chat_support import eventually
from tests.fakes.llm_server import FakeLLMServer, start_llm_server
from tests.helpers import Console, bearer, body

EXAMPLES = 12  # per operation
PROVIDER = "openai_api_compatible"
SKIPPED = {
    ("console", "POST", "/logout"), ("console", "POST", "/account/password"), ("console", "POST", "/setup"),
    ("console", "DELETE", "/apps/{app_id}"), ("console", "DELETE", "/datasets/{dataset_id}"),
    ("service", "DELETE", "/datasets/{dataset_id}"),
}
# The service API first: console operations may turn API access off or rotate keys.
DOCUMENTS = {name: json.loads((OUT_DIR / f"{name}.json").read_text()) for name in ("service", "console")}
OPERATIONS = [(name, method.upper(), path) for name, document in DOCUMENTS.items()
              for path, methods in sorted(document["paths"].items()) for method in sorted(methods)
              if (name, method.upper(), path) not in SKIPPED]


class Seeded:
    def __init__(self, app: Any, llm: FakeLLMServer) -> None:
        self.app, self.client = app, app.test_client()
        console = Console(self.client)
        owner = console.setup_owner()
        self.token = owner.token
        console.call("post", f"/workspaces/current/model-providers/{PROVIDER}/models", token=owner.token, expect=200,
                     json={"model": "fuzz-model", "model_type": "llm", "credentials": {
                         "endpoint_url": llm.url + "/v1", "mode": "chat", "context_size": "4096"}})
        app_id = console.create_app(owner)["id"]
        console.call("post", f"/apps/{app_id}/model-config", token=owner.token, expect=200, json={
            "model": {"provider": PROVIDER, "name": "fuzz-model", "mode": "chat", "completion_params": {}},
            "pre_prompt": "You are helpful.", "user_input_form": []})
        self.app_key = console.create_key(owner, app_id)
        self.dataset_key = body(console.call("post", "/datasets/api-keys", token=owner.token, expect=200))["token"]
        dataset_id = self.knowledge("post", "/datasets", json={"name": "fuzz", "indexing_technique": "economy"})["id"]
        created = self.knowledge("post", f"/datasets/{dataset_id}/document/create-by-text", json={
            "name": "doc", "text": "foxes jump.\n\nover dogs.", "indexing_technique": "economy",
            "process_rule": {"mode": "automatic"}})
        document_id, batch = created["document"]["id"], created["batch"]
        segments = self._segments(dataset_id, document_id)
        answer = body(self.client.post("/v1/chat-messages", headers=bearer(self.app_key), json={
            "inputs": {}, "query": "hi", "user": "fuzz-user", "response_mode": "blocking"}))
        tag_id = body(console.call("post", "/tags", token=owner.token, expect=200,
                                   json={"name": "fuzz-tag", "type": "knowledge"}))["id"]
        self.ids = {"app_id": app_id, "dataset_id": dataset_id, "document_id": document_id, "batch": batch,
                    "tag_id": tag_id, "member_id": owner.account_id, "end_user_id": db.session.scalar(
                        sa.select(EndUser.id).where(EndUser.session_id == "fuzz-user")),
                    "segment_id": segments[0]["id"], "conversation_id": answer["conversation_id"],
                    "message_id": answer["message_id"], "task_id": answer["task_id"], "provider": PROVIDER}

    def knowledge(self, method: str, path: str, **kwargs: Any) -> Any:
        response = getattr(self.client, method)(f"/v1{path}", headers=bearer(self.dataset_key), **kwargs)
        assert response.status_code in (200, 201), (path, response.status_code, body(response))
        return body(response)

    def _segments(self, dataset_id: str, document_id: str) -> list[dict[str, Any]]:
        """The seeded document's segments, once the embedded worker threads have indexed it."""
        return eventually(lambda: self.knowledge("get", f"/datasets/{dataset_id}/documents/{document_id}/segments")[
            "data"], timeout=30.0, interval=0.05)

    def headers(self, document: str, path: str) -> dict[str, str]:
        if document == "console":
            return bearer(self.token)
        return bearer(self.dataset_key if path.startswith("/datasets") else self.app_key)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    llm = start_llm_server()
    app = embedded_app(tmp_path_factory.mktemp("fuzz"))
    try:
        with app.app_context():
            yield Seeded(app, llm)
            db.session.remove()
    finally:
        llm.stop()


@pytest.fixture(scope="module")
def schemas(seeded: Seeded) -> dict[str, Any]:
    loaded = {}
    for name, document in DOCUMENTS.items():
        schema = schemathesis.openapi.from_dict(document)
        schema.app = seeded.app  # requests go to the app through its WSGI interface
        loaded[name] = schema
    return loaded


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("document", "method", "path"), OPERATIONS, ids=[f"{d} {m} {p}" for d, m, p in OPERATIONS])
def test_generated_requests_never_get_a_server_error(seeded: Seeded, schemas: dict[str, Any], document: str,
                                                     method: str, path: str) -> None:
    operation = schemas[document][path][method]
    base_url = DOCUMENTS[document]["servers"][0]["url"]
    headers = seeded.headers(document, path)

    fixed = {p["name"]: seeded.ids[p["name"]] for p in operation.definition.raw.get("parameters", [])
             if p.get("in") == "path" and p["name"] in seeded.ids}
    cases = st.one_of(*(operation.as_strategy(mode, path_parameters=fixed or None) for mode in GenerationMode))

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers)
        assert response.status_code < 500, (
            f"{method} {path} -> {response.status_code}: {response.text[:500]}\n{case.as_curl_command()}")

    check()
