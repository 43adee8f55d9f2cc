"""App factory: settings → extensions (in order) → blueprints and error handlers. Wiring only."""

from __future__ import annotations

import gc
import logging

import sqlalchemy as sa
from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from api.config import Settings, load_settings
from api.controllers import register_blueprints
from api.extensions import celery as celery_ext
from api.extensions import database, migrate, runtime
from api.extensions.logging import configure_logging

logger = logging.getLogger(__name__)

_CORS_HEADERS = ["Content-Type", "Authorization", "X-App-Code", "X-App-Passport", "X-Request-Id"]


def _cors(app: Flask, settings: Settings) -> None:
    # Bearer tokens only, no cookies: credentials are never allowed, so no Origin is ever
    # reflected together with Access-Control-Allow-Credentials.
    common = {"allow_headers": _CORS_HEADERS, "expose_headers": ["X-Version", "X-Env", "X-Trace-Id", "X-Request-Id"],
              "methods": ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"], "supports_credentials": False}

    def options(origins: tuple[str, ...]) -> dict[str, object]:
        if "*" in origins:
            return {"origins": "*", "send_wildcard": True, **common}
        return {"origins": list(origins), **common}

    CORS(app, resources={
        r"/console/api/*": options(settings.console_cors_allow_origins),
        r"/v1/*": options(settings.web_api_cors_allow_origins),
        r"/api/*": options(settings.web_api_cors_allow_origins),
    })


class _NoCookieSession(SecureCookieSessionInterface):
    """Bearer tokens only: never open a Flask cookie session (with SECRET_KEY set, Flask otherwise builds
    a signing serializer and cookie settings on every request, ~15% of a cached /v1/parameters call)."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then uses its NullSession: reads are empty, writes raise


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings)
    app = Flask("api", static_folder=None)
    app.config.update(SECRET_KEY=settings.secret_key, MAX_CONTENT_LENGTH=settings.max_content_length_mb * 1024 * 1024,
                      JSON_SORT_KEYS=False, RESTFUL_JSON={"ensure_ascii": False, "separators": (",", ":")})
    app.json.sort_keys = False
    app.session_interface = _NoCookieSession()
    if settings.trusted_proxy_count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxy_count, x_host=settings.trusted_proxy_count)
    database.init_app(app, settings)
    migrate.init_app(app)
    celery = celery_ext.init_app(app, settings)
    runtime.init_app(app, settings, celery)
    _cors(app, settings)
    register_blueprints(app)
    from api import commands

    commands.register(app)
    return app


def start_background(app: Flask) -> None:
    """Serving process only: embedded mode runs periodic housekeeping on a timer thread."""
    dispatcher = app.extensions["runtime"].dispatcher
    if isinstance(dispatcher, celery_ext.ThreadDispatcher):
        dispatcher.start_periodic()


def freeze_startup_heap() -> None:
    """Call once a serving or worker process has started: every object alive now (modules, the app, SQLAlchemy's
    and Celery's machinery) moves to the collector's permanent generation (`gc.freeze`), so its full passes scan only
    what requests create. With ~220k start-up objects a full pass held the GIL for ~110 ms, stalling every request
    of the process at random (bench/bench_chat.py, embedded overload burst: 429s answered after 150–250 ms)."""
    gc.collect()
    gc.freeze()


def startup_checks(app: Flask) -> None:
    """One clear log line for problems an operator should fix before traffic arrives."""
    settings = app.extensions["runtime"].settings
    if settings.is_sqlite or settings.vector_store != "pgvector":
        return
    with app.app_context():
        try:
            available = database.db.session.scalar(
                sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"))
        except Exception:
            logger.warning("startup check: the database is unreachable; /ready will report it")
            return
        finally:
            database.db.session.remove()
    if not available:
        logger.warning("VECTOR_STORE=pgvector but this PostgreSQL has no 'vector' extension: high-quality "
                       "knowledge indexing will fail until pgvector is installed (use the pgvector/pgvector image)")
