"""Settings read once from the environment (and a `.env` file when present).

`load_settings(environ)` is pure apart from one thing: in embedded mode a missing
SECRET_KEY is generated once and kept under STORAGE_DIR, so restarts keep sessions valid.
Any bad value raises `ConfigError` naming the variable; `api.wsgi` turns that into one
clear line on stderr and a non-zero exit instead of a 500 later.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# Secrets that appear in public docs and compose files; distributed mode refuses them.
WELL_KNOWN_SECRET_KEYS = frozenset(
    {
        "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U",  # Dify's docker default
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "your-secret-key",
        "dev",
        "development",
        "test",
    }
)
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


def _str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}")
    if not value >= minimum or value == float("inf"):  # also rejects nan
        raise ConfigError(f"{name} must be a finite number >= {minimum:g}, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _str(env, name, default).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    value = _str(env, name)
    if value and urlparse(value).scheme.split("+")[0] not in schemes:
        raise ConfigError(f"{name} must be a URL with scheme {' or '.join(schemes)}, got {_redact_url(value)!r}")
    return value


def _redact_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = _str(env, name, "*")
    return tuple(o.strip() for o in raw.split(",") if o.strip())


@dataclass(frozen=True)
class Settings:
    secret_key: str
    storage_dir: Path
    database_url: str
    redis_url: str = ""
    celery_broker_url: str = ""
    vector_store: str = "embedded"
    service_api_url: str = ""
    console_api_url: str = ""
    console_web_url: str = ""
    files_url: str = ""
    storage_type: str = "local"
    s3_endpoint: str = ""
    s3_bucket_name: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    upload_file_size_limit: int = 15
    upload_image_file_size_limit: int = 10
    upload_video_file_size_limit: int = 100
    upload_audio_file_size_limit: int = 50
    workflow_file_upload_limit: int = 10
    upload_file_extension_blacklist: tuple[str, ...] = ()
    access_token_expire_minutes: int = 60
    refresh_token_expire_days: int = 30
    invite_expiry_hours: int = 72
    login_lockout_duration: int = 86400
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 30
    login_ip_window_seconds: int = 900
    console_cors_allow_origins: tuple[str, ...] = ("*",)
    web_api_cors_allow_origins: tuple[str, ...] = ("*",)
    app_default_active_requests: int = 0
    app_max_active_requests: int = 0
    api_key_cache_ttl: int = 10
    embedded_worker_threads: int = 4
    sqlalchemy_pool_size: int = 30
    sqlalchemy_max_overflow: int = 10
    sqlalchemy_pool_pre_ping: bool = False  # a round trip per checkout; Dify's default is off too
    sqlalchemy_pool_timeout: float = 10.0  # seconds, fractions allowed (e.g. 0.05 to shed load fast)
    max_content_length_mb: int = 120
    trusted_proxy_count: int = 0
    run_queue_timeout: int = 60
    celery_worker_pool: str = "threads"
    celery_worker_concurrency: int = 256
    run_worker_lost_timeout: int = 10
    run_heartbeat_interval: int = 2
    indexing_lease_seconds: int = 60
    indexing_reaper_interval: int = 60
    indexing_tenant_concurrency: int = 4
    embedding_batch_size: int = 64
    log_level: str = "INFO"
    log_format: str = "json"
    server_version: str = "1.13.2"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def distributed(self) -> bool:
        """Redis configured ⇒ Celery, pub/sub and counters go through Redis."""
        return bool(self.redis_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _secret_key(env: Mapping[str, str], storage_dir: Path, distributed: bool) -> str:
    key = _str(env, "SECRET_KEY")
    if distributed:
        if not key:
            raise ConfigError("SECRET_KEY is required in distributed mode (REDIS_URL is set); "
                              "generate one with: openssl rand -base64 42")
        if key in WELL_KNOWN_SECRET_KEYS or len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(f"SECRET_KEY is a well-known or short value (need >= {MIN_SECRET_KEY_LENGTH} "
                              "random characters); generate one with: openssl rand -base64 42")
        return key
    if key:
        return key
    path = storage_dir / ".secret_key"
    if path.exists():
        return path.read_text().strip()
    storage_dir.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(generated)
    return generated


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `environ` (default: os.environ plus `.env`). Raises ConfigError."""
    env: Mapping[str, str]
    if environ is None:
        from dotenv import dotenv_values

        env = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
    else:
        env = environ
    storage_dir = Path(_str(env, "STORAGE_DIR", "./storage")).expanduser().resolve()
    redis_url = _url(env, "REDIS_URL", ("redis", "rediss", "unix"))
    database_url = _url(env, "DATABASE_URL", ("sqlite", "postgresql", "postgres")) or f"sqlite:///{storage_dir}/app.db"
    for bare in ("postgres://", "postgresql://"):  # no driver named: use psycopg2 (SQLAlchemy 2.1 would pick psycopg 3)
        if database_url.startswith(bare):
            database_url = "postgresql+psycopg2://" + database_url[len(bare):]
    default_vector = "embedded" if database_url.startswith("sqlite") else "pgvector"
    blacklist = tuple(
        e.strip().lower().lstrip(".") for e in _str(env, "UPLOAD_FILE_EXTENSION_BLACKLIST").split(",") if e.strip()
    )
    return Settings(
        secret_key=_secret_key(env, storage_dir, bool(redis_url)),
        storage_dir=storage_dir,
        database_url=database_url,
        redis_url=redis_url,
        celery_broker_url=_url(env, "CELERY_BROKER_URL", ("redis", "rediss", "amqp", "pyamqp")) or redis_url,
        vector_store=_choice(env, "VECTOR_STORE", default_vector, ("pgvector", "embedded")),
        service_api_url=_url(env, "SERVICE_API_URL", ("http", "https")).rstrip("/"),
        console_api_url=_url(env, "CONSOLE_API_URL", ("http", "https")).rstrip("/"),
        console_web_url=_url(env, "CONSOLE_WEB_URL", ("http", "https")).rstrip("/"),
        files_url=_url(env, "FILES_URL", ("http", "https")).rstrip("/"),
        storage_type=_choice(env, "STORAGE_TYPE", "local", ("local", "s3")),
        s3_endpoint=_url(env, "S3_ENDPOINT", ("http", "https")),
        s3_bucket_name=_str(env, "S3_BUCKET_NAME"),
        s3_access_key=_str(env, "S3_ACCESS_KEY"),
        s3_secret_key=_str(env, "S3_SECRET_KEY"),
        s3_region=_str(env, "S3_REGION", "us-east-1"),
        upload_file_size_limit=_int(env, "UPLOAD_FILE_SIZE_LIMIT", 15, minimum=1),
        upload_image_file_size_limit=_int(env, "UPLOAD_IMAGE_FILE_SIZE_LIMIT", 10, minimum=1),
        upload_video_file_size_limit=_int(env, "UPLOAD_VIDEO_FILE_SIZE_LIMIT", 100, minimum=1),
        upload_audio_file_size_limit=_int(env, "UPLOAD_AUDIO_FILE_SIZE_LIMIT", 50, minimum=1),
        workflow_file_upload_limit=_int(env, "WORKFLOW_FILE_UPLOAD_LIMIT", 10, minimum=1),
        upload_file_extension_blacklist=blacklist,
        access_token_expire_minutes=_int(env, "ACCESS_TOKEN_EXPIRE_MINUTES", 60, minimum=1),
        refresh_token_expire_days=_int(env, "REFRESH_TOKEN_EXPIRE_DAYS", 30, minimum=1),
        invite_expiry_hours=_int(env, "INVITE_EXPIRY_HOURS", 72, minimum=1),
        login_lockout_duration=_int(env, "LOGIN_LOCKOUT_DURATION", 86400, minimum=1),
        login_max_failures_per_account=_int(env, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, minimum=1),
        login_max_failures_per_ip=_int(env, "LOGIN_MAX_FAILURES_PER_IP", 30, minimum=1),
        login_ip_window_seconds=_int(env, "LOGIN_IP_WINDOW_SECONDS", 900, minimum=1),
        console_cors_allow_origins=_origins(env, "CONSOLE_CORS_ALLOW_ORIGINS"),
        web_api_cors_allow_origins=_origins(env, "WEB_API_CORS_ALLOW_ORIGINS"),
        app_default_active_requests=_int(env, "APP_DEFAULT_ACTIVE_REQUESTS", 0),
        app_max_active_requests=_int(env, "APP_MAX_ACTIVE_REQUESTS", 0),
        api_key_cache_ttl=_int(env, "API_KEY_CACHE_TTL", 10, minimum=0, maximum=300),
        embedded_worker_threads=_int(env, "EMBEDDED_WORKER_THREADS", 4, minimum=1, maximum=64),
        sqlalchemy_pool_size=_int(env, "SQLALCHEMY_POOL_SIZE", 30, minimum=1),
        sqlalchemy_max_overflow=_int(env, "SQLALCHEMY_MAX_OVERFLOW", 10),
        sqlalchemy_pool_pre_ping=_bool(env, "SQLALCHEMY_POOL_PRE_PING", False),
        sqlalchemy_pool_timeout=_float(env, "SQLALCHEMY_POOL_TIMEOUT", 10.0, minimum=0.001),
        max_content_length_mb=_int(env, "MAX_REQUEST_BODY_MB", 120, minimum=1),
        trusted_proxy_count=_int(env, "TRUSTED_PROXY_COUNT", 0, maximum=10),
        run_queue_timeout=_int(env, "RUN_QUEUE_TIMEOUT", 60, minimum=1),
        celery_worker_pool=_choice(env, "CELERY_WORKER_POOL", "threads", ("threads", "prefork", "solo", "gevent")),
        celery_worker_concurrency=_int(env, "CELERY_WORKER_CONCURRENCY", 256, minimum=1, maximum=4096),
        run_worker_lost_timeout=_int(env, "RUN_WORKER_LOST_TIMEOUT", 10, minimum=2),
        run_heartbeat_interval=_int(env, "RUN_HEARTBEAT_INTERVAL", 2, minimum=1),
        indexing_lease_seconds=_int(env, "INDEXING_LEASE_SECONDS", 60, minimum=10, maximum=3600),
        indexing_reaper_interval=_int(env, "INDEXING_REAPER_INTERVAL", 60, minimum=5, maximum=3600),
        indexing_tenant_concurrency=_int(env, "INDEXING_TENANT_CONCURRENCY", 4, minimum=1, maximum=256),
        embedding_batch_size=_int(env, "EMBEDDING_BATCH_SIZE", 64, minimum=1, maximum=2048),
        log_level=_choice(env, "LOG_LEVEL", "INFO", ("debug", "info", "warning", "error")).upper(),
        log_format=_choice(env, "LOG_FORMAT", "json", ("json", "text")),
    )
