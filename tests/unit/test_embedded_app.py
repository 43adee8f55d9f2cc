"""The app in embedded mode (SQLite, in-process ports) with no external services."""

import pytest

from tests.conftest import embedded_app
from tests.helpers import Console, bearer, body


@pytest.fixture
def app(tmp_path):
    return embedded_app(tmp_path, CONSOLE_CORS_ALLOW_ORIGINS="https://console.example.com")


@pytest.fixture
def client(app):
    return app.test_client()


def test_embedded_flow_from_setup_to_parameters(client):
    console = Console(client)
    owner = console.setup_owner()
    key = console.create_key(owner, console.create_app(owner, mode="completion")["id"])

    params = body(client.get("/v1/parameters", headers=bearer(key)))

    assert params["user_input_form"][0]["paragraph"]["variable"] == "query"


def test_cors_never_pairs_an_origin_with_credentials(client):
    console_evil = client.options("/console/api/apps", headers={"Origin": "https://evil.example",
                                                                "Access-Control-Request-Method": "GET"})
    console_ok = client.options("/console/api/apps", headers={"Origin": "https://console.example.com",
                                                              "Access-Control-Request-Method": "GET"})
    service = client.get("/v1/", headers={"Origin": "https://evil.example"})

    assert "Access-Control-Allow-Origin" not in console_evil.headers
    assert console_ok.headers["Access-Control-Allow-Origin"] == "https://console.example.com"
    assert service.headers["Access-Control-Allow-Origin"] == "*"
    for response in (console_evil, console_ok, service):
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_request_id_is_echoed_or_generated(client):
    echoed = client.get("/health", headers={"X-Request-Id": "abc-123"})
    generated = client.get("/health", headers={"X-Request-Id": "bad id with spaces"})

    assert echoed.headers["X-Request-Id"] == "abc-123"
    assert len(generated.headers["X-Request-Id"]) == 32


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("get", "/nope", 404, "not_found"), ("delete", "/console/api/setup", 405, "method_not_allowed"),
    ("get", "/console/api/apps/not-a-uuid", 404, "not_found"),
])
def test_http_errors_have_the_error_body(client, method, path, status, code):
    response = getattr(client, method)(path)

    assert response.status_code == status
    assert set(body(response)) == {"code", "message", "status"}
    assert body(response)["code"] == code


def test_oversize_body_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024

    response = client.post("/console/api/login", data="x" * 4096, content_type="application/json")

    assert response.status_code == 413
    assert body(response)["code"] == "request_entity_too_large"


def test_ready_and_metrics(client):
    client.get("/health")

    ready = client.get("/ready")
    metrics = client.get("/metrics").get_data(as_text=True)

    assert ready.status_code == 200
    assert body(ready)["checks"] == {"database": "ok"}
    assert 'http_requests_total{endpoint="/health",method="GET",status="200"}' in metrics
