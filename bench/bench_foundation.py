"""Foundation throughput benchmark: the real app beside a bare Flask app, same gunicorn settings, same run.

    .venv/bin/python bench/bench_foundation.py [--duration 8] [--mode distributed|embedded|both]

For each mode it starts `gunicorn -c docker/gunicorn.conf.py api.wsgi:app` and
`gunicorn -c docker/gunicorn.conf.py bench.bare_app:app` with the same worker/thread settings on free
127.0.0.1 ports, seeds a workspace over HTTP (setup, login, ~20 chat apps, one app key), then measures
at each concurrency: the bare endpoint, `GET /v1/parameters` (app key) and `GET /console/api/apps`
(console JWT). It PRINTS requests/s, p50/p99 latency, errors, the ratios to the bare endpoint and the
server's CPU time per request (user+system of the gunicorn master and workers, read from /proc over the
measured window: less sensitive than req/s to other work on a shared machine), and marks the targets
MET / NOT MET; it never fails on timings (exit code 0 unless the setup itself breaks). Each row's duration
is split into --rounds rounds interleaved with the other rows, so background noise hits all rows alike.

Distributed mode uses a scratch PostgreSQL database (dropped at the end) and Redis db 13 (flushed before
and after); embedded mode a temporary STORAGE_DIR. Every process and the scratch database are cleaned
up at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import LoadResult, run_load  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
GUNICORN_CONF = "docker/gunicorn.conf.py"
HOST = "127.0.0.1"
PASSWORD = "passw0rd-Aa1"
# Settings the benchmark controls; anything inherited from the caller's shell is dropped first.
_APP_VARS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "STORAGE_DIR", "SECRET_KEY", "GUNICORN_WORKERS",
             "GUNICORN_THREADS", "BIND", "PROMETHEUS_MULTIPROC_DIR", "LOG_LEVEL", "LOG_FORMAT", "API_KEY_CACHE_TTL")


# --- scratch PostgreSQL database (same as tests/conftest.py create_scratch_database / drop_database) ---

def _admin_engine(admin_url: str) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")


def create_scratch_database(admin_url: str, prefix: str = "openify_bench") -> str:
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url_to_drop: str) -> None:
    import sqlalchemy as sa

    name = sa.make_url(url_to_drop).database
    engine = _admin_engine(admin_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


# --- processes -------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _request(port: int, method: str, path: str, body: Any = None, token: str | None = None,
             timeout: float = 30) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode(errors="replace")
        return response.status, data
    finally:
        conn.close()


def _body_size(port: int, path: str, token: str | None) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        return len(conn.getresponse().read())
    finally:
        conn.close()


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGQUIT)  # gunicorn: quick shutdown of master and workers
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    if proc.poll() is None or _group_alive(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this script created for this server only
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of a process and its direct children (gunicorn master + workers)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid ... utime(11) stime(12)
        if int(entry.name) == root_pid or int(fields[1]) == root_pid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


@contextmanager
def gunicorn(name: str, target: str, env: dict[str, str], log_dir: Path, health_path: str) -> Iterator[Server]:
    port = free_port()
    log_path = log_dir / f"{name}.log"
    full_env = {**env, "BIND": f"{HOST}:{port}"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", GUNICORN_CONF, target], cwd=ROOT, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    server = Server(name=name, port=port, proc=proc, log_path=log_path)
    try:
        _wait_ready(server, health_path)
        yield server
    finally:
        _stop(proc)


def _wait_ready(server: Server, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            status, _ = _request(server.port, "GET", path, timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout}s:\n{server.log_tail()}")


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _APP_VARS}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- seeding ----------------------------------------------------------------------------------------------

@dataclass
class Seed:
    jwt: str
    app_key: str


def seed(port: int, n_apps: int) -> Seed:
    def ok(status: int, data: Any, what: str, expected: tuple[int, ...] = (200, 201)) -> Any:
        if status not in expected:
            raise RuntimeError(f"{what}: HTTP {status}: {data}")
        return data

    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    ok(*_request(port, "POST", "/console/api/setup", {"email": email, "name": "Bench", "password": PASSWORD}),
       "setup")
    data = ok(*_request(port, "POST", "/console/api/login", {"email": email, "password": PASSWORD}), "login")
    jwt = data["data"]["access_token"]
    app_ids = [ok(*_request(port, "POST", "/console/api/apps", {"name": f"bench app {i:02d}", "mode": "chat"},
                            token=jwt), f"create app {i}")["id"] for i in range(n_apps)]
    key = ok(*_request(port, "POST", f"/console/api/apps/{app_ids[0]}/api-keys", {}, token=jwt), "create key")
    return Seed(jwt=jwt, app_key=key["token"])


# --- measuring --------------------------------------------------------------------------------------------

@dataclass
class Row:
    label: str
    concurrency: int
    result: LoadResult
    body_bytes: int


@dataclass
class ModeResult:
    mode: str
    workers: int
    threads: int
    rows: list[Row]

    def get(self, label: str, concurrency: int) -> LoadResult | None:
        return next((r.result for r in self.rows if r.label == label and r.concurrency == concurrency), None)


BARE, PARAMS, APPS = "bare GET /bare", "GET /v1/parameters", "GET /console/api/apps"


def run_mode(mode: str, args: argparse.Namespace) -> ModeResult:
    distributed = mode == "distributed"
    workers = args.workers if distributed else 1  # the config forces one process in embedded mode
    threads = int(os.environ.get("GUNICORN_THREADS", "256"))
    print(f"\n== {mode}: starting servers (gunicorn -c {GUNICORN_CONF}, {workers} worker(s) x {threads} threads)",
          flush=True)
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix=f"openify-bench-{mode}-"))
        if not args.keep_logs:
            stack.callback(shutil.rmtree, tmp, True)
        env = _base_env()
        env.update(STORAGE_DIR=str(tmp / "storage"), GUNICORN_WORKERS=str(workers), GUNICORN_THREADS=str(threads),
                   LOG_LEVEL=args.log_level)
        if distributed:
            # What the config file would do itself for workers > 1, but inside our temp dir.
            (tmp / "prometheus").mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "prometheus")
            db_url = create_scratch_database(args.database_url)
            stack.callback(drop_database, args.database_url, db_url)
            _flush_redis(args.redis_url)
            stack.callback(_flush_redis, args.redis_url)
            alphabet = string.ascii_letters + string.digits
            env.update(DATABASE_URL=db_url, REDIS_URL=args.redis_url,
                       SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(40)))
        else:
            env.update(DATABASE_URL="", REDIS_URL="", CELERY_BROKER_URL="")
        upgrade = subprocess.run([str(VENV_BIN / "flask"), "--app", "api.wsgi", "db", "upgrade"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=300)
        if upgrade.returncode != 0:
            raise RuntimeError(f"flask db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}")
        # The bare app gets the same environment, so the config file picks the same workers/threads
        # (in distributed mode it keys "more than one worker" off REDIS_URL being set).
        real = stack.enter_context(gunicorn(f"{mode}-real", "api.wsgi:app", env, tmp, "/health"))
        bare = stack.enter_context(gunicorn(f"{mode}-bare", "bench.bare_app:app", env, tmp, "/bare"))
        started = time.monotonic()
        seeded = seed(real.port, args.apps)
        print(f"   seeded in {time.monotonic() - started:.1f}s: 1 workspace, {args.apps} chat apps, 1 app key"
              + (f"; server logs kept in {tmp}" if args.keep_logs else ""), flush=True)
        targets = [
            (BARE, bare, "/bare", None),
            (PARAMS, real, "/v1/parameters", seeded.app_key),
            (APPS, real, "/console/api/apps?page=1&limit=20", seeded.jwt),
        ]
        sizes = {}
        for label, server, path, token in targets:
            port = server.port
            status, data = _request(port, "GET", path, token=token)
            if status != 200:
                raise RuntimeError(f"{label}: HTTP {status}: {data}")
            sizes[label] = _body_size(port, path, token)
        rows: list[Row] = []
        for concurrency in args.concurrency:
            # Rounds interleave the targets, so noise from other work on the machine hits all of them alike.
            parts: dict[str, list[LoadResult]] = {label: [] for label, *_ in targets}
            for _ in range(args.rounds):
                for label, server, path, token in targets:
                    headers = {"Authorization": f"Bearer {token}"} if token else None
                    pid = server.proc.pid
                    parts[label].append(run_load(HOST, server.port, path, headers=headers, concurrency=concurrency,
                                                 duration=args.duration / args.rounds, warmup=args.warmup,
                                                 processes=args.client_procs,
                                                 probe=lambda pid=pid: tree_cpu_seconds(pid)))
            for label, *_ in targets:
                result = LoadResult.merge(parts[label])
                rows.append(Row(label, concurrency, result, sizes[label]))
                print(f"   {label:<24} c={concurrency:<3} {result.rps:9.1f} req/s  p50 {result.p50:7.2f} ms  "
                      f"p99 {result.p99:7.2f} ms  errors {result.errors}  server CPU "
                      f"{result.probe_per_request_ms:.3f} ms/req", flush=True)
        for server in (real, bare):
            if server.proc.poll() is not None:
                print(f"   WARNING: {server.name} died during the run:\n{server.log_tail()}")
        return ModeResult(mode=mode, workers=workers, threads=threads, rows=rows)


# --- report -----------------------------------------------------------------------------------------------

def _ratio(a: LoadResult | None, b: LoadResult | None) -> float:
    return a.rps / b.rps if a and b and b.rps else float("nan")


def _cpu_ratio(a: LoadResult | None, b: LoadResult | None) -> float:
    return a.probe_per_request_ms / b.probe_per_request_ms if a and b and b.probe_per_request_ms else float("nan")


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


_LOAD_BEFORE = _loadavg()


def report(results: list[ModeResult], args: argparse.Namespace) -> None:
    line = "-" * 98
    print(f"\nResults: {args.duration:g}s measured per row in {args.rounds} interleaved round(s), each after "
          f"{args.warmup:g}s warm-up; client: {args.client_procs} process(es), epoll keep-alive loop; "
          f"{os.cpu_count()} CPU(s) shared by client and servers")
    print(f"load average before/after: {_LOAD_BEFORE} / {_loadavg()}  (other work on the machine skews all rows)")
    for res in results:
        print(f"\n{line}\nmode: {res.mode}   gunicorn gthread: {res.workers} worker(s) x {res.threads} threads"
              f"   (real and bare app, same settings)\n{line}")
        print(f"{'endpoint':<26}{'conc':>5}{'req/s':>11}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
              f"{'body B':>8}{'x bare':>8}{'CPU ms/req':>12}")
        for concurrency in args.concurrency:
            bare = res.get(BARE, concurrency)
            for row in (r for r in res.rows if r.concurrency == concurrency):
                r = row.result
                print(f"{row.label:<26}{concurrency:>5}{r.rps:>11.1f}{r.p50:>10.2f}{r.p99:>10.2f}{r.errors:>8}"
                      f"{row.body_bytes:>8}{_ratio(r, bare):>8.2f}{r.probe_per_request_ms:>12.3f}")
            print(f"  ratio @c={concurrency}: parameters/bare = {_ratio(res.get(PARAMS, concurrency), bare):.2f}   "
                  f"apps/bare = {_ratio(res.get(APPS, concurrency), bare):.2f}   (server CPU per request: "
                  f"parameters {_cpu_ratio(res.get(PARAMS, concurrency), bare):.1f}x bare, "
                  f"apps {_cpu_ratio(res.get(APPS, concurrency), bare):.1f}x bare)")
        high, low = max(args.concurrency), min(args.concurrency)
        ratio = _ratio(res.get(PARAMS, high), res.get(BARE, high))
        params_low = res.get(PARAMS, low)
        p50 = params_low.p50 if params_low else float("nan")
        print(f"TARGET [{res.mode}] /v1/parameters throughput >= 0.50 x bare at c={high}: {ratio:.2f}  "
              f"{'MET' if ratio >= 0.5 else 'NOT MET'}")
        print(f"TARGET [{res.mode}] /v1/parameters p50 <= 3 ms at c={low}: {p50:.2f} ms  "
              f"{'MET' if p50 <= 3.0 else 'NOT MET'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per row (default 8)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per round (default 1)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved rounds the duration is split into (default 2)")
    parser.add_argument("--mode", choices=("distributed", "embedded", "both"), default="both")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 50],
                        help="comma-separated concurrencies (default 1,50)")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count(),
                        help="GUNICORN_WORKERS for both apps in distributed mode (default: CPU count)")
    parser.add_argument("--client-procs", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--apps", type=int, default=20, help="chat apps to create (default 20)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                        help="LOG_LEVEL of the real app (default info, the app's own default)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the server logs")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
                        help="admin URL of the PostgreSQL server for the scratch database")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (background)
    modes = ["distributed", "embedded"] if args.mode == "both" else [args.mode]
    results: list[ModeResult] = []
    started = time.monotonic()
    try:
        for mode in modes:
            results.append(run_mode(mode, args))
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, scratch database dropped", file=sys.stderr)
        return 130
    report(results, args)
    print(f"\ntotal wall time {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
