"""One user flow against real processes, in both runtime modes (architecture §1).

Each test runs once against the embedded server (one gunicorn process, SQLite, in-process task
threads) and once against the distributed one (two gunicorn workers, PostgreSQL, Redis, a Celery
worker). Requests that must reach every worker process go out concurrently on fresh connections;
gunicorn's access log (worker pid per request) shows which processes answered.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.servers import ROOT, VENV_BIN, Server, clean_env
from tests.helpers import PASSWORD, Console, Member, bearer

pytestmark = pytest.mark.e2e

EMAIL = "owner@example.com"
BATCH = 20
MAX_CALLS = 200  # per phase, while waiting for every worker process to have answered


@dataclass
class Bootstrap:
    """What the first-run calls answered (recorded once per server, asserted by test_setup_and_login)."""

    step_before: dict[str, Any]
    setup: httpx.Response
    second_setup: httpx.Response
    step_after: dict[str, Any]
    login: httpx.Response
    owner: Member


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def server(request: pytest.FixtureRequest) -> Server:
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(scope="module")
def http(server: Server) -> Any:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def console(http: httpx.Client) -> Console:
    return Console(http)


@pytest.fixture(scope="module")
def bootstrap(http: httpx.Client, console: Console) -> Bootstrap:
    step_before = http.get("/console/api/setup").json()
    credentials = {"email": EMAIL, "name": "Owner", "password": PASSWORD}
    setup = http.post("/console/api/setup", json=credentials)
    second_setup = http.post("/console/api/setup", json=credentials)
    step_after = http.get("/console/api/setup").json()
    login = http.post("/console/api/login", json={"email": EMAIL, "password": PASSWORD})
    return Bootstrap(step_before, setup, second_setup, step_after, login, console.login(EMAIL))


@pytest.fixture(scope="module")
def owner(bootstrap: Bootstrap) -> Member:
    return bootstrap.owner


@pytest.fixture(scope="module")
def app_id(console: Console, owner: Member) -> str:
    return console.create_app(owner, mode="chat", name="E2E app")["id"]


def list_keys(console: Console, owner: Member, app_id: str) -> list[dict[str, Any]]:
    return console.call("get", f"/apps/{app_id}/api-keys", token=owner.token, expect=200).json()["data"]


def calls_from_every_worker(server: Server, path: str, headers: dict[str, str],
                            check: Callable[[httpx.Response], bool]) -> list[httpx.Response]:
    """GET `path` at least BATCH times, in concurrent batches on fresh connections, until every worker
    process has answered it (at most MAX_CALLS). Returns every response; `check` must hold for each."""
    since = server.access_offset()
    responses: list[httpx.Response] = []
    with (server.client(limits=httpx.Limits(max_keepalive_connections=0)) as client,
          ThreadPoolExecutor(max_workers=8) as pool):
        while True:
            batch = list(pool.map(lambda _: client.get(path, headers=headers), range(BATCH)))
            responses += batch
            bad = [(r.status_code, r.text[:200]) for r in batch if not check(r)]
            assert not bad, f"{len(bad)} of the last {len(batch)} calls answered unexpectedly: {bad[:3]}"
            pids = _workers_that_answered(server, path, since, len(responses))
            if len(pids) >= server.workers or len(responses) >= MAX_CALLS:
                break
    assert len(pids) == server.workers, f"only worker(s) {pids} answered {len(responses)} calls to {path}"
    return responses


def _workers_that_answered(server: Server, path: str, since: int, expected: int) -> set[int]:
    deadline = time.monotonic() + 3.0
    while True:  # gunicorn logs a request just after sending its response
        rows = [row for row in server.access_lines(since) if row[2] == path]
        if len(rows) >= expected or time.monotonic() > deadline:
            return {row[0] for row in rows}
        time.sleep(0.02)


def status_is(code: int) -> Callable[[httpx.Response], bool]:
    return lambda response: response.status_code == code


def test_setup_and_login(bootstrap: Bootstrap) -> None:
    assert bootstrap.step_before == {"step": "not_started"}
    assert (bootstrap.setup.status_code, bootstrap.setup.json()) == (201, {"result": "success"})
    assert bootstrap.second_setup.status_code == 403
    assert bootstrap.second_setup.json()["code"] == "already_setup"
    assert bootstrap.step_after["step"] == "finished"
    assert bootstrap.login.status_code == 200
    body = bootstrap.login.json()
    assert body["result"] == "success"
    assert {"access_token", "refresh_token", "expires_in"} <= set(body["data"])


def test_app_key_and_service_api(http: httpx.Client, console: Console, owner: Member, app_id: str) -> None:
    created = console.call("post", f"/apps/{app_id}/api-keys", token=owner.token, expect=201).json()
    key = created["token"]
    assert re.fullmatch(r"app-[A-Za-z0-9]{24}", key)
    listed = {k["id"]: k for k in list_keys(console, owner, app_id)}
    assert listed[created["id"]]["token"] == f"{key[:8]}…{key[-4:]}"
    assert key not in str(listed)

    v1 = http.get("/v1/parameters", headers=bearer(key))
    api = http.get("/api/parameters", headers=bearer(key))
    info = http.get("/v1/info", headers=bearer(key))
    site = http.get("/v1/site", headers=bearer(key))
    meta = http.get("/v1/meta", headers=bearer(key))

    assert (v1.status_code, api.status_code) == (200, 200)
    assert v1.json() == api.json()
    assert "user_input_form" in v1.json()
    assert info.status_code == 200
    assert info.json()["name"] == "E2E app"
    assert info.json()["mode"] == "chat"
    assert site.status_code == 200
    assert meta.status_code == 200


def test_unknown_key_is_401_with_challenge(http: httpx.Client) -> None:
    response = http.get("/v1/parameters", headers=bearer("app-" + "x" * 24))

    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_last_used_at_is_recorded_in_the_background(server: Server, http: httpx.Client, console: Console,
                                                    owner: Member, app_id: str) -> None:
    key = console.create_key(owner, app_id)
    key_id = next(k["id"] for k in list_keys(console, owner, app_id) if k["last_used_at"] is None
                  and k["token"] == f"{key[:8]}…{key[-4:]}")

    assert http.get("/v1/parameters", headers=bearer(key)).status_code == 200

    deadline = time.monotonic() + 20.0
    last_used_at = None
    while last_used_at is None and time.monotonic() < deadline:
        time.sleep(0.1)
        last_used_at = next(k for k in list_keys(console, owner, app_id) if k["id"] == key_id)["last_used_at"]
    assert last_used_at is not None, "last_used_at was never written by the background task"
    if server.mode == "distributed":  # it ran in the Celery worker process, not in gunicorn
        worker_log = next(p for p in server.procs if p.name == "celery").log.read_text(errors="replace")
        assert re.search(r"Task api_keys\.touch_last_used\[[^\]]+\] succeeded", worker_log), worker_log[-2000:]


def test_ready_and_metrics(server: Server, http: httpx.Client) -> None:
    ready = http.get("/ready")
    metrics = http.get("/metrics")

    assert ready.status_code == 200
    expected = {"database": "ok", "redis": "ok"} if server.mode == "distributed" else {"database": "ok"}
    assert ready.json()["checks"] == expected
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text


def test_metrics_count_the_requests_of_every_worker(server: Server, http: httpx.Client) -> None:
    # Only start-up probes call /health, and every worker answered some of them (see conftest).
    served = [row for row in server.access_lines() if row[1:] == ("GET", "/health", 200)]

    metrics = http.get("/metrics").text

    samples = [float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("http_requests_total{") and 'endpoint="/health"' in line
               and 'method="GET"' in line and 'status="200"' in line]
    assert samples == [len(served)], metrics
    assert len({row[0] for row in served}) == server.workers


def test_deleted_key_stops_working_in_every_worker(server: Server, console: Console, owner: Member,
                                                   app_id: str) -> None:
    key = console.create_key(owner, app_id)
    key_id = next(k["id"] for k in list_keys(console, owner, app_id) if k["token"] == f"{key[:8]}…{key[-4:]}")
    calls_from_every_worker(server, "/v1/parameters", bearer(key), status_is(200))  # warms every worker's cache

    console.call("delete", f"/apps/{app_id}/api-keys/{key_id}", token=owner.token, expect=204)
    after = calls_from_every_worker(server, "/v1/parameters", bearer(key), status_is(401))

    assert all(r.json()["code"] == "unauthorized" for r in after)
    assert key_id not in {k["id"] for k in list_keys(console, owner, app_id)}


def test_disabling_the_api_is_seen_by_every_worker(server: Server, console: Console, owner: Member,
                                                   app_id: str) -> None:
    key = console.create_key(owner, app_id)
    calls_from_every_worker(server, "/v1/parameters", bearer(key), status_is(200))

    console.call("post", f"/apps/{app_id}/api-enable", token=owner.token, json={"enable_api": False}, expect=200)
    calls_from_every_worker(server, "/v1/parameters", bearer(key), status_is(403))  # asserts every answer
    console.call("post", f"/apps/{app_id}/api-enable", token=owner.token, json={"enable_api": True}, expect=200)
    calls_from_every_worker(server, "/v1/parameters", bearer(key), status_is(200))


def _import_wsgi(tmp_path: Any, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "python"), "-c", "import api.wsgi"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=clean_env(STORAGE_DIR=str(tmp_path / "storage"), **env),
                          check=False)


@pytest.mark.parametrize(("env", "variable"), [
    ({"UPLOAD_FILE_SIZE_LIMIT": "abc"}, "UPLOAD_FILE_SIZE_LIMIT"),
    ({"REDIS_URL": "redis://127.0.0.1:6379/14"}, "SECRET_KEY"),
    ({"REDIS_URL": "redis://127.0.0.1:6379/14", "SECRET_KEY": "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U"},
     "SECRET_KEY"),
], ids=["bad-upload-limit", "distributed-without-secret", "distributed-with-dify-default-secret"])
def test_bad_config_fails_start_up_with_one_clear_line(tmp_path: Any, env: dict[str, str], variable: str) -> None:
    result = _import_wsgi(tmp_path, **env)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error:")
    assert variable in lines[0]
