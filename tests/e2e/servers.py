"""Starting, watching and stopping real server processes for the end-to-end tests.

Each process runs in its own process group (killed as a whole by `stop`) with its output in a file;
gunicorn also writes an access log naming the worker pid of every request, so tests can tell which
worker processes answered.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
START_TIMEOUT = 30.0
# Indexing settings of the distributed server: a document whose worker died is re-queued within lease + reaper
# period (10 + 5 s, the settings' minimums); small embedding batches make progress visible batch by batch.
INDEXING_LEASE_SECONDS, INDEXING_REAPER_INTERVAL, EMBEDDING_BATCH_SIZE = 10, 5, 4
# Variables of the caller's environment that would change the mode or the storage of a server under test.
_SCRUBBED = ("SECRET_KEY", "STORAGE_DIR", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "VECTOR_STORE",
             "GUNICORN_WORKERS", "GUNICORN_THREADS", "BIND", "PROMETHEUS_MULTIPROC_DIR", "SERVICE_API_URL",
             "CONSOLE_API_URL", "FILES_URL", "STORAGE_TYPE", "FLASK_APP")
_ACCESS_LOG_FORMAT = "%(p)s %(m)s %(U)s %(s)s"
_ACCESS_LINE = re.compile(r"^<(\d+)> (\S+) (\S+) (\d{3})$")
_PR_SET_PDEATHSIG = 1


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(LOG_LEVEL="info", LOG_FORMAT="text", PYTHONUNBUFFERED="1", **extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<{path} unreadable>"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 60) -> str:
        return f"----- {self.name} (pid {self.popen.pid}, exit {self.popen.poll()}) {self.log} -----\n" + tail(
            self.log, lines)


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the test runner dies without tearing down (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Proc:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return Proc(name, popen, log)


def stop(proc: Proc) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    try:
        pgid = os.getpgid(proc.popen.pid)
    except ProcessLookupError:
        pgid = proc.popen.pid
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; make sure none of its children survive it
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        break


def run(args: list[str], env: dict[str, str], logs: Path, name: str, timeout: float = 60.0) -> None:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        result = subprocess.run(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, timeout=timeout, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}\n{tail(log)}", pytrace=False)


@dataclass
class Server:
    mode: str
    base_url: str
    workers: int
    access_log: Path
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # what the processes were started with (for restarts)
    logs: Path | None = None

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10.0, **kwargs)  # type: ignore[arg-type]

    def access_offset(self) -> int:
        return self.access_log.stat().st_size if self.access_log.exists() else 0

    def access_lines(self, since: int = 0) -> list[tuple[int, str, str, int]]:
        """(worker pid, method, path, status) of each request logged after byte offset `since`."""
        with self.access_log.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
        rows = []
        for line in text.splitlines():
            match = _ACCESS_LINE.match(line.strip())
            if match:
                rows.append((int(match[1]), match[2], match[3], int(match[4])))
        return rows


def gunicorn(port: int, access_log: Path) -> list[str]:
    # The access log (worker pid, path, status) lets tests see which worker process answered.
    return [str(VENV_BIN / "gunicorn"), "-c", "docker/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
            "--access-logfile", str(access_log), "--access-logformat", _ACCESS_LOG_FORMAT, "api.wsgi:app"]


def celery_worker(env: dict[str, str], logs: Path, name: str = "celery") -> Proc:
    """Start a Celery worker process (threads pool) consuming every queue of the app."""
    return start(name, [str(VENV_BIN / "celery"), "-A", "api.worker:celery", "worker", "--loglevel=INFO",
                        "--concurrency=2", "--pool=threads", "-n", f"e2e-{secrets.token_hex(4)}@%h",
                        "--without-gossip", "--without-mingle"], env, logs)


def celery_beat(env: dict[str, str], logs: Path, name: str = "beat") -> Proc:
    """Start Celery beat (one per deployment): it sends the periodic tasks, such as the indexing reaper."""
    return start(name, [str(VENV_BIN / "celery"), "-A", "api.worker:celery", "beat", "--loglevel=INFO",
                        "--schedule", str(logs / "celerybeat-schedule")], env, logs)


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        dead = [p for p in server.procs if p.popen.poll() is not None]
        if dead:
            pytest.fail(f"{server.mode} server died during start-up\n" + "\n".join(p.tail() for p in dead),
                        pytrace=False)
        try:
            response = httpx.get(server.base_url + "/health", timeout=2.0)
            if response.status_code == 200 and _every_worker_answers_health(server, deadline):
                return
            last = response.status_code if response.status_code != 200 else "not every worker answered /health"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    pytest.fail(f"{server.mode} server not healthy after {START_TIMEOUT}s (last: {last!r})\n"
                + "\n".join(p.tail() for p in server.procs), pytrace=False)


def _every_worker_answers_health(server: Server, deadline: float) -> bool:
    """Gunicorn workers import the app on their own; wait until each one has answered /health."""
    pids: set[int] = set()
    with (httpx.Client(base_url=server.base_url, timeout=2.0, limits=httpx.Limits(max_keepalive_connections=0))
          as client, ThreadPoolExecutor(max_workers=4) as pool):
        while time.monotonic() < deadline:
            list(pool.map(lambda _: client.get("/health"), range(8)))
            time.sleep(0.05)  # gunicorn writes the access line just after the response
            pids = {row[0] for row in server.access_lines() if row[2] == "/health" and row[3] == 200}
            if len(pids) >= server.workers:
                return True
    return False


def wait_worker_ready(proc: Proc) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            pytest.fail(f"celery worker exited during start-up\n{proc.tail()}", pytrace=False)
        if re.search(r"@\S+ ready\.", proc.log.read_text(errors="replace")):
            return
        time.sleep(0.1)
    pytest.fail(f"celery worker not ready after {START_TIMEOUT}s\n{proc.tail()}", pytrace=False)


@contextmanager
def hold_redis_db(redis_url: str, candidates: Sequence[int],
                  on_wait: Callable[[int], None] | None = None) -> Iterator[str]:
    """The URL of a Redis db of our own, flushed before and after: the first of `candidates` whose lock file
    (/tmp/openify-e2e-redis-<db>.lock, shared by e2e tests and benchmarks) is free, else wait for the first."""
    handle, db = None, candidates[0]
    for db in candidates:
        handle = open(f"/tmp/openify-e2e-redis-{db}.lock", "w")  # noqa: SIM115 - held for the block's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            handle.close()
            handle = None
    if handle is None:  # every candidate busy: queue up behind the first
        db = candidates[0]
        if on_wait is not None:
            on_wait(db)
        handle = open(f"/tmp/openify-e2e-redis-{db}.lock", "w")  # noqa: SIM115
        fcntl.flock(handle, fcntl.LOCK_EX)
    url = urlunparse(urlparse(redis_url)._replace(path=f"/{db}"))
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
        try:
            yield url
        finally:
            client.flushdb()
    finally:
        client.close()
        handle.close()
