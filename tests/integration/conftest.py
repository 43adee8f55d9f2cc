"""PostgreSQL + Redis fixtures with per-test isolation (SQLAlchemy's SAVEPOINT recipe).

Each test runs inside an outer transaction on one connection; service code's commits only
release savepoints, and everything is rolled back at teardown. Redis db 15 is flushed per test.
`shared_ctx` seeds one workspace per module instead, and rolls each test back to it (see there).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import scoped_session, sessionmaker

from api.app import create_app
from api.controllers import auth as auth_controller
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from tests.conftest import distributed_settings
from tests.fakes.llm_server import FakeLLMServer, start_llm_server
from tests.helpers import PASSWORD, Console
from tests.integration.bad_input_support import Ctx
from tests.integration.seed import Seed, seed_workspace

pytestmark = pytest.mark.integration


def _make_app(scratch_database: str, redis_url: str, tmp: Path) -> Flask:
    return create_app(distributed_settings(tmp, scratch_database, redis_url))


@pytest.fixture(scope="session")
def pg_app(scratch_database: str, pg_services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return _make_app(scratch_database, pg_services[1], tmp_path_factory.mktemp("storage"))


@pytest.fixture(scope="session")
def pg_app_b(scratch_database: str, pg_services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """A second app instance on the same database and Redis: stands in for another process."""
    return _make_app(scratch_database, pg_services[1], tmp_path_factory.mktemp("storage_b"))


@pytest.fixture
def redis_client(pg_services: tuple[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(pg_services[1])
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@contextlib.contextmanager
def _bound_session(connection: sa.Connection, setup_done: bool) -> Iterator[scoped_session]:
    """`db.session` bound to `connection` (already in a transaction): service commits only release SAVEPOINTs."""
    scoped = scoped_session(sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                                         expire_on_commit=False))
    original = db.session
    db.session = scoped
    auth_controller._setup_done = setup_done
    try:
        yield scoped
    finally:
        scoped.remove()
        db.session = original
        auth_controller._setup_done = False


@contextlib.contextmanager
def _rolled_back_session(pg_app: Flask) -> Iterator[tuple[sa.Connection, scoped_session]]:
    """A connection in an outer transaction, rolled back at the end, with `db.session` bound to it."""
    with pg_app.app_context():
        engine = db.engine
    connection = engine.connect()
    outer = connection.begin()
    try:
        with _bound_session(connection, setup_done=False) as scoped:
            yield connection, scoped
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def db_session(pg_app: Flask, redis_client: redis.Redis) -> Iterator[object]:
    with _rolled_back_session(pg_app) as (_connection, scoped):
        yield scoped


@pytest.fixture
def client(pg_app: Flask, db_session: object):
    return pg_app.test_client()


@pytest.fixture
def client_b(pg_app_b: Flask, db_session: object):
    return pg_app_b.test_client()


# ---- the seeded workspace the bad-input walks use ----------------------------------------------------

@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    server = start_llm_server()
    yield server
    server.stop()


def _seed(console: Console, session: object, pg_app: Flask, llm: FakeLLMServer) -> Seed:
    setup = {"email": "owner@example.com", "name": "Owner", "password": PASSWORD, "unknown": {"extra": [1]}}
    console.call("post", "/setup", json=setup, expect=201)  # the setup body's unknown field is ignored too
    owner = console.login("owner@example.com")
    return seed_workspace(console, session, pg_app, owner, llm.url, tag="X", member_email="member@example.com")


@pytest.fixture
def ctx(client, db_session, pg_app, llm, redis_client) -> Ctx:
    console = Console(client)
    return Ctx(console, _seed(console, db_session, pg_app, llm), llm.url, pg_app, redis_client)


@pytest.fixture(scope="module")
def _module_seed(pg_app: Flask, pg_services: tuple[str, str], llm: FakeLLMServer,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """The `ctx` workspace, built ONCE for a module inside an outer transaction that is rolled back at its end; with
    the Redis keys the seeding left (DUMP'd) and a copy of the stored files, for `shared_ctx` to restore before each
    test."""
    client = redis.Redis.from_url(pg_services[1])
    client.flushdb()
    try:
        with _rolled_back_session(pg_app) as (connection, scoped):
            seed = _seed(Console(pg_app.test_client()), scoped, pg_app, llm)
            scoped.remove()
            keys = [(key, client.dump(key), client.pttl(key)) for key in client.scan_iter(count=1000)]
            files = pg_app.extensions["runtime"].settings.storage_dir / "files"
            snapshot = tmp_path_factory.mktemp("seeded-files") / "files"
            shutil.copytree(files, snapshot)
            yield connection, seed, keys, (files, snapshot), {}
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def shared_ctx(_module_seed: tuple, pg_app: Flask, pg_services: tuple[str, str], llm: FakeLLMServer) -> Iterator[Ctx]:
    """`ctx`, but the workspace is seeded once per module: for modules of many tests that each send a few requests.

    Each test runs in a SAVEPOINT of the module's transaction, rolled back after it; Redis is flushed and given back
    the keys the seeding left; the stored files are put back as the seeding left them; the process's cache is
    cleared. So nothing a test changed (a row, a counter, a file, a cached app) reaches the next one. The tests share
    `Ctx.views` (fingerprints by state digest): the seeded state's fingerprint is taken once for the module."""
    connection, seed, keys, (files, snapshot), views = _module_seed
    shutil.rmtree(files)
    shutil.copytree(snapshot, files)
    client = redis.Redis.from_url(pg_services[1])
    client.flushdb()
    for key, value, ttl in keys:
        if value is not None and ttl != -2:
            client.restore(key, max(ttl, 0), value, replace=True)
    with pg_app.app_context():
        get_runtime().cache.clear()
    savepoint = connection.begin_nested()
    try:
        with _bound_session(connection, setup_done=True):
            yield Ctx(Console(pg_app.test_client()), seed, llm.url, pg_app, client, views)
    finally:
        if savepoint.is_active:
            savepoint.rollback()
        client.close()
