"""The one SQLAlchemy handle (Flask-SQLAlchemy) and engine options per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Session, scoped_session

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


_AUTOCOMMIT = "openify.autocommit"


def is_connect_failure(exc: BaseException) -> bool:
    """Whether `exc` says no database connection could be made at all (server down or restarting, or its
    max_connections reached): SQLAlchemy raises those without a statement."""
    return isinstance(exc, sa.exc.OperationalError) and exc.statement is None


def autocommit_statements(session: Session) -> bool:
    """PostgreSQL: until the session's next commit or rollback, every statement is its own transaction, with no
    BEGIN and COMMIT round trips. Each of those is a network round trip to the server: a turn's pending message
    written as BEGIN + INSERTs + COMMIT took five of them, and one when it is a single statement.

    For hot paths made of reads and single-statement (self-contained) writes. Call it right before the session's
    first statement (the pooled connection is taken here). Returns whether the session's statements run in
    autocommit: True again if they already do; False when a transaction has already begun, when the session is
    bound to a connection (it then joins that connection's transaction) or on SQLite (in process: a transaction
    costs no round trip there).

    The driver's own autocommit switch is used (psycopg2 sends nothing for it) and switched back when the pool
    takes the connection back (`_end_autocommit`). SQLAlchemy's AUTOCOMMIT isolation level would do the same but
    restore the level with a `SET default_transaction_isolation` statement: one more round trip each time."""
    if isinstance(session, scoped_session):
        session = session()
    bind = session.get_bind()
    # A session bound to a Connection joins that connection's transaction (as tests' rollback fixtures do).
    if bind.dialect.name != "postgresql" or not isinstance(bind, sa.Engine):
        return False
    if session.in_transaction():  # already switched (True), or a transaction has begun (False)
        return bool(session.connection().connection.info.get(_AUTOCOMMIT))
    pooled = session.connection().connection
    pooled.info[_AUTOCOMMIT] = True
    pooled.dbapi_connection.autocommit = True  # type: ignore[union-attr]
    return True


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _end_autocommit(dbapi_connection: Any, record: Any) -> None:
    if record is not None and record.info.pop(_AUTOCOMMIT, False) and dbapi_connection is not None:
        dbapi_connection.autocommit = False
