"""Gunicorn settings for both modes (SSE-friendly: gthread, many threads, no request cap per worker).

Embedded mode (no REDIS_URL) must run in ONE process: SQLite, in-process topics and the local
task pool live there. Distributed mode runs GUNICORN_WORKERS processes sharing Redis/PostgreSQL.
"""

import multiprocessing
import os
import tempfile

_distributed = bool(os.environ.get("REDIS_URL"))

bind = os.environ.get("BIND", "0.0.0.0:5001")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() if _distributed else 1))
if not _distributed:
    workers = 1
threads = int(os.environ.get("GUNICORN_THREADS", "256"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "360"))
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app logs each request itself, without query strings
control_socket_disable = True  # gunicorn 27: one per-user socket would clash between local servers
backlog = 2048

if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Aggregate /metrics across worker processes.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
