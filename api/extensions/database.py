"""The one SQLAlchemy handle (Flask-SQLAlchemy) and engine options per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Session

from api.config import Settings
from api.models.base import Base

db = SQLAlchemy(metadata=Base.metadata, session_options={"expire_on_commit": False})


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def engine_options(settings: Settings) -> dict[str, Any]:
    # hide_parameters: SQL errors never carry bound values (hashes, digests) into logs.
    if settings.is_sqlite:
        return {"connect_args": {"check_same_thread": False, "timeout": 5}, "hide_parameters": True}
    options: dict[str, Any] = {
        "hide_parameters": True,
        "pool_size": settings.sqlalchemy_pool_size,
        "max_overflow": settings.sqlalchemy_max_overflow,
        "pool_timeout": settings.sqlalchemy_pool_timeout,
        "pool_pre_ping": settings.sqlalchemy_pool_pre_ping,
        "pool_recycle": 3600,
    }
    if sa.make_url(settings.database_url).get_driver_name() == "psycopg2":
        # An executemany that SQLAlchemy cannot turn into multi-row VALUES (INSERT … ON CONFLICT without RETURNING,
        # UPDATE by primary key: every indexing upsert) goes out in pages of 100 statements (psycopg2's
        # execute_batch) instead of one round trip per row; rowcount is then unreliable for executemany only.
        # bench/bench_indexing.py: economy indexing used ~40% less CPU per MB (this process + PostgreSQL) with it.
        options["executemany_mode"] = "values_plus_batch"
    return options


def init_app(app: Flask, settings: Settings) -> None:
    if settings.is_sqlite:
        settings.storage_dir.mkdir(parents=True, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = settings.database_url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(settings)
    db.init_app(app)
    if settings.is_sqlite:
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)


def session_factory() -> Callable[[], AbstractContextManager[Session]]:
    """A factory of short-lived sessions usable after the request ends (e.g. inside an SSE generator).

    Call it while the app context is active; each `with factory() as session:` pushes that app's
    context and removes the session afterwards, so no pooled connection is held in between.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    @contextmanager
    def scope() -> Iterator[Session]:
        with app.app_context():
            try:
                yield db.session
            finally:
                db.session.remove()

    return scope


def commit_without_flush_wait(session: Session) -> None:
    """Commit without waiting for the WAL to reach disk (PostgreSQL: `synchronous_commit = off` for this one
    transaction; SQLite: a plain commit).

    Atomicity and ordering are unchanged; only a database crash within ~0.6 s can lose the transaction. Used for
    rows whose loss costs nothing beyond the crash itself: a run's pending message and its claim (the stream fails
    either way and the reaper expires leftovers). Never for results: answers use a plain commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
    session.commit()
