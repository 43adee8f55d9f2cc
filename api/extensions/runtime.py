"""The ports chosen once per process from settings, and accessors for services and tasks.

Embedded mode (no REDIS_URL): in-process counters, topics, cache bus and a thread-pool
dispatcher. Distributed mode: Redis for all of them and Celery for background work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
import sqlalchemy as sa
from celery import Celery
from flask import Flask, current_app

from api.config import Settings
from api.core.ports import Broadcaster, CounterStore, Dispatcher, Storage
from api.core.rag.ports import FullTextIndex, VectorStore
from api.extensions.cache import InvalidatingCache
from api.extensions.celery import CeleryDispatcher, ThreadDispatcher
from api.extensions.counters import LocalCounterStore, RedisCounterStore
from api.extensions.database import db
from api.extensions.fulltext import PgFullTextIndex, SqliteFullTextIndex
from api.extensions.pubsub import LocalBroadcaster, RedisBroadcaster
from api.extensions.storage import LocalStorage, S3Storage
from api.extensions.vector_store import EmbeddedVectorStore, PgVectorStore

logger = logging.getLogger(__name__)
# Per process: above the thread counts of a gunicorn worker (GUNICORN_THREADS, 256) and of a Celery worker
# (CELERY_WORKER_CONCURRENCY, 256 runs each with a heartbeat), far below Redis's default maxclients (10000).
REDIS_MAX_CONNECTIONS = 2048


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    redis: redis.Redis | None
    counters: CounterStore
    broadcaster: Broadcaster
    dispatcher: Dispatcher
    storage: Storage
    cache: InvalidatingCache
    vector_store: VectorStore
    fulltext: FullTextIndex


def _storage(settings: Settings) -> Storage:
    if settings.storage_type == "s3":
        return S3Storage(endpoint=settings.s3_endpoint, bucket=settings.s3_bucket_name,
                         access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                         region=settings.s3_region)
    return LocalStorage(settings.storage_dir / "files")


def _knowledge_stores(settings: Settings) -> tuple[VectorStore, FullTextIndex]:
    """pgvector + PostgreSQL full text, or the embedded index (+ FTS5 on SQLite). Resolved per call, inside the
    app context. On SQLite the stores write through the session's connection, inside the caller's transaction:
    SQLite lets one connection write at a time, and a separate one would wait on the caller's open write."""
    if settings.is_sqlite:
        def session_connection() -> sa.Connection:
            return db.session.connection()

        return EmbeddedVectorStore(session_connection), SqliteFullTextIndex(session_connection)

    def engine() -> sa.Engine:
        return db.engine

    vectors = PgVectorStore(engine) if settings.vector_store == "pgvector" else EmbeddedVectorStore(engine)
    return vectors, PgFullTextIndex(engine)


def build_runtime(settings: Settings, celery: Celery) -> Runtime:
    if settings.distributed:
        # Every open SSE stream holds one pub/sub connection of this pool for its whole life (and every
        # generating thread publishes through it): redis-py >= 6 caps a pool at 100 connections by default,
        # which turned stream number 101 of a process into a 503 (MaxConnectionsError).
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2,
                                      health_check_interval=30, max_connections=REDIS_MAX_CONNECTIONS)
        broadcaster: Broadcaster = RedisBroadcaster(client)
        counters: CounterStore = RedisCounterStore(client)
        dispatcher: Dispatcher = CeleryDispatcher(celery, settings.celery_broker_url)
    else:
        client = None
        broadcaster = LocalBroadcaster()
        counters = LocalCounterStore()
        dispatcher = ThreadDispatcher(celery, settings.embedded_worker_threads, settings.celery_worker_concurrency)
    vector_store, fulltext = _knowledge_stores(settings)
    return Runtime(
        settings=settings, redis=client, counters=counters, broadcaster=broadcaster, dispatcher=dispatcher,
        storage=_storage(settings), cache=InvalidatingCache(broadcaster, settings.api_key_cache_ttl),
        vector_store=vector_store, fulltext=fulltext,
    )


def init_app(app: Flask, settings: Settings, celery: Celery) -> Runtime:
    runtime = build_runtime(settings, celery)
    app.extensions["runtime"] = runtime
    return runtime


def get_runtime() -> Runtime:
    return current_app.extensions["runtime"]


def get_settings() -> Settings:
    return current_app.extensions["runtime"].settings


def get_redis() -> redis.Redis | None:
    return current_app.extensions["runtime"].redis
