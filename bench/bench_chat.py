"""Chat-path benchmark: POST /v1/chat-messages beside a direct call of the same mock model, same run, same client.

    .venv/bin/python bench/bench_chat.py [--quick] [--soak-minutes 5] [--mode both|distributed|embedded]

A mock OpenAI-compatible model (bench/mock_llm.py, its own asyncio process on 127.0.0.1) answers with fixed
timing: `timed` = first token after 50 ms, then tokens 20 ms apart (10 tokens); `zero` = the same 10 tokens
without delays. For each server mode (embedded: one gunicorn process, SQLite; distributed: gunicorn + a real
`celery -A api.worker:celery worker` with the default settings, PostgreSQL scratch database, Redis) it measures
(a) the mock called directly (an OpenAI request) and (b) the same model through /v1/chat-messages (the Dify
request), with one client (bench/stream_load.py, raw sockets + epoll), and PRINTS p50/p95 of both and of the
difference (b) - (a) at matching percentiles:

  * blocking at concurrency 1 and 20 (latency of the whole answer);
  * streaming time to first token at concurrency 1 and 50; every stream's `message` events are counted and
    compared with the number of upstream chunks (no coalescing), and the time to the last byte is shown too
    (no added per-chunk delay);
  * a soak (distributed by default, `--soak-modes`): 200 concurrent 5-second streams (the timed mock, 248
    tokens), re-issued for --soak-minutes (default 5; --quick: 1): TTFT p50/p95/p99, errors, event mismatches;
  * overload: max_active_requests = N on an app and 2N concurrent requests (429 latencies, no 500, no hang);
    distributed only: a second gunicorn with a one-connection database pool (SQLALCHEMY_POOL_SIZE=1,
    MAX_OVERFLOW=0, POOL_TIMEOUT=--pool-timeout) while a table lock keeps that connection busy, and one whose
    Redis goes away (a TCP proxy in front of Redis, then closed): status codes and latencies (503 expected).

c=1 rows alternate (a) and (b) request by request; rows with concurrency > 1 alternate (a) and (b) windows over
--rounds rounds, so background noise hits both alike. It never asserts: every target line is printed as
MET / NOT MET in a final table (exit code 0 unless the setup itself breaks). Every process, the scratch
database and the Redis db (locked, flushed before and after) are cleaned up at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import fcntl
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import pytest  # noqa: E402

from bench.bench_foundation import (  # noqa: E402
    HOST,
    VENV_BIN,
    _base_env,
    _flush_redis,
    create_scratch_database,
    drop_database,
    gunicorn,
    tree_cpu_seconds,
)
from bench.stream_load import (  # noqa: E402
    ERR_BROKEN,
    ERR_EVENT,
    ERR_HANG,
    ERR_INCOMPLETE,
    ERR_STATUS,
    OK,
    Sample,
    StreamResult,
    Target,
    pct,
    post_request,
    run_streams,
)
from tests.e2e import servers as e2e  # noqa: E402
from tests.e2e.chat_support import ChatApp, Stack, Stacks  # noqa: E402

TIMED_FIRST_MS, TIMED_INTER_MS, TOKENS = 50, 20, 10
SOAK_STREAM_MS = 5000
SOAK_TOKENS = 1 + (SOAK_STREAM_MS - TIMED_FIRST_MS) // TIMED_INTER_MS  # 248 tokens: 50 + 247 * 20 = 4990 ms
LIMITED_TOKENS = 48  # ~1 s streams hold the active-request slots during the 429 burst
VARIANTS = {"timed": f"mock-f{TIMED_FIRST_MS}-i{TIMED_INTER_MS}-n{TOKENS}", "zero": f"mock-f0-i0-n{TOKENS}"}
SOAK_MODEL = f"mock-f{TIMED_FIRST_MS}-i{TIMED_INTER_MS}-n{SOAK_TOKENS}"
LIMITED_MODEL = f"mock-f{TIMED_FIRST_MS}-i{TIMED_INTER_MS}-n{LIMITED_TOKENS}"
QUERY = "Hello, how are you?"
SYSTEM = "You are a helpful assistant."
# Markers in the raw bytes. Direct: the OpenAI token chunks (the role chunk has "role" first, so it never
# matches). Via the API: the `message` events (one per upstream chunk), message_end, error.
OPENAI_TOKEN, OPENAI_DONE = b'"delta":{"content":"', b"data: [DONE]"
DIFY_MESSAGE, DIFY_END, DIFY_ERROR = b'data: {"event":"message",', b'{"event":"message_end"', b'{"event":"error"'
REDIS_DBS = (10, 9, 8, 7)  # tried in order, locked like tests/e2e (other runs use other dbs)


# --- small helpers ---------------------------------------------------------------------------------------------

def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _fmt(value: float, width: int = 8, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value == value else f"{'-':>{width}}"


def _checked(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """tests/e2e helpers report start-up problems with pytest.fail; turn that into a RuntimeError here."""
    try:
        return fn(*args)
    except pytest.fail.Exception as exc:
        raise RuntimeError(f"{what}: {exc}") from None


@contextmanager
def _redis_db(base_url: str) -> Iterator[str]:
    """A Redis db of our own, locked against concurrent runs (same lock files as tests/e2e), flushed around."""
    handle = None
    for db in REDIS_DBS:
        handle = open(f"/tmp/openify-e2e-redis-{db}.lock", "w")  # noqa: SIM115 - held for the block's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            handle.close()
            handle = None
    if handle is None:
        db = REDIS_DBS[0]
        handle = open(f"/tmp/openify-e2e-redis-{db}.lock", "w")  # noqa: SIM115
        fcntl.flock(handle, fcntl.LOCK_EX)
    url = base_url.rsplit("/", 1)[0] + f"/{db}"
    _flush_redis(url)
    try:
        yield url
    finally:
        try:
            _flush_redis(url)
        finally:
            handle.close()


@contextmanager
def mock_server(logs: Path) -> Iterator[tuple[int, int]]:
    """(port, pid) of bench/mock_llm.py in its own process group."""
    env = _base_env()
    proc = e2e.start("mock-llm", [str(VENV_BIN / "python"), str(ROOT / "bench" / "mock_llm.py"), "--port", "0"],
                     env, logs)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = proc.log.read_text(errors="replace")
            if "READY " in text:
                yield int(text.split("READY ", 1)[1].split()[0]), proc.popen.pid
                return
            if proc.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"mock model server did not start:\n{proc.tail()}")
    finally:
        e2e.stop(proc)


class RedisProxy:
    """A TCP proxy to Redis that can be cut: `kill()` closes the listener and every forwarded connection, so
    the server behind it sees Redis go away (refused connections) without touching the real Redis."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._dead = False
        threading.Thread(target=self._accept, daemon=True, name="redis-proxy").start()

    def _accept(self) -> None:
        while not self._dead:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._dead:
                    client.close()
                    server.close()
                    return
                self._socks += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def kill(self) -> None:
        with self._lock:
            self._dead = True
            socks = list(self._socks)
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


# --- the servers of one mode -----------------------------------------------------------------------------------

@dataclass
class ModeStack:
    mode: str
    port: int
    cpu_pids: list[int]
    env: dict[str, str]
    tmp: Path
    stack: Stack
    apps: dict[str, ChatApp] = field(default_factory=dict)
    database_url: str = ""
    redis_url: str = ""

    def cpu(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.cpu_pids)


class _MockRef:
    """What tests/e2e/chat_support.Stack needs of a model server: its base URL."""

    def __init__(self, port: int) -> None:
        self.url = f"http://{HOST}:{port}"


@contextmanager
def mode_servers(mode: str, args: argparse.Namespace, mock_port: int) -> Iterator[ModeStack]:
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix=f"openify-bench-chat-{mode}-"))
        if not args.keep_logs:
            stack.callback(shutil.rmtree, tmp, True)
        env = _base_env()
        env.update(STORAGE_DIR=str(tmp / "storage"), LOG_LEVEL="info")
        database_url = redis_url = ""
        if mode == "distributed":
            (tmp / "prometheus").mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "prometheus")
            database_url = create_scratch_database(args.database_url, prefix="openify_bench_chat")
            stack.callback(drop_database, args.database_url, database_url)
            redis_url = stack.enter_context(_redis_db(args.redis_url))
            env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY=secrets.token_urlsafe(40)[:48])
        else:
            env.update(DATABASE_URL="", REDIS_URL="", CELERY_BROKER_URL="")
        upgrade = subprocess.run([str(VENV_BIN / "flask"), "--app", "api.wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=300)
        if upgrade.returncode != 0:
            raise RuntimeError(f"flask db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}")
        server = stack.enter_context(gunicorn(f"{mode}-api", "api.wsgi:app", env, tmp, "/health"))
        cpu_pids = [server.proc.pid]
        if mode == "distributed":
            # The default worker command (docker/entrypoint.sh MODE=worker): pool and concurrency from the config.
            worker = e2e.start("celery", [str(VENV_BIN / "celery"), "-A", "api.worker:celery", "worker",
                                          "--loglevel=INFO", "-n", f"bench-{secrets.token_hex(4)}@%h"], env, tmp)
            stack.callback(e2e.stop, worker)
            _checked("celery worker", e2e.wait_worker_ready, worker)
            cpu_pids.append(worker.popen.pid)
        base_url = f"http://{HOST}:{server.port}"
        stacks = Stacks()
        stack.callback(stacks.close)
        e2e_server = e2e.Server(mode, base_url, workers=1, access_log=tmp / "access.log")
        chat_stack = stacks.get(e2e_server)
        chat_stack.http.timeout = httpx.Timeout(60.0)
        ms = ModeStack(mode=mode, port=server.port, cpu_pids=cpu_pids, env=env, tmp=tmp, stack=chat_stack,
                       database_url=database_url, redis_url=redis_url)
        mock = _MockRef(mock_port)
        for name, model in (*VARIANTS.items(), ("soak", SOAK_MODEL), ("limited", LIMITED_MODEL)):
            ms.apps[name] = chat_stack.create_app(mock, model=model)  # type: ignore[arg-type]
        chat_stack.set_limits(ms.apps["limited"], max_active_requests=args.limit_n)
        yield ms
        if server.proc.poll() is not None:
            print(f"   WARNING: the {mode} gunicorn died during the run:\n{server.log_tail()}")


# --- requests --------------------------------------------------------------------------------------------------

def direct_target(mock_port: int, model: str, streaming: bool) -> Target:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "system", "content": SYSTEM},
                                                         {"role": "user", "content": QUERY}], "stream": streaming}
    if streaming:
        body["stream_options"] = {"include_usage": True}
        return Target("direct", mock_port, post_request(mock_port, "/v1/chat/completions", body),
                      first=OPENAI_TOKEN, count=OPENAI_TOKEN, terminal=OPENAI_DONE)
    return Target("direct", mock_port, post_request(mock_port, "/v1/chat/completions", body))


def chat_target(ms: ModeStack, app: str, streaming: bool, port: int | None = None, user: str = "bench-user") -> Target:
    port = port or ms.port
    body = {"inputs": {}, "query": QUERY, "response_mode": "streaming" if streaming else "blocking", "user": user,
            "auto_generate_name": False}
    request = post_request(port, "/v1/chat-messages", body, {"Authorization": f"Bearer {ms.apps[app].key}"})
    if streaming:
        return Target("chat", port, request, first=DIFY_MESSAGE, count=DIFY_MESSAGE, terminal=DIFY_END,
                      error=DIFY_ERROR)
    return Target("chat", port, request)


# --- measurements ----------------------------------------------------------------------------------------------

@dataclass
class Side:
    samples: list[Sample]  # every kept sample, errors included
    cpu_ms_per_req: float = float("nan")
    rps: float = float("nan")

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.error == OK]

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if s.error != OK)

    def values(self, what: str) -> list[float]:
        return [s.first_ms if what == "first" else s.total_ms for s in self.ok]

    def p(self, q: float, what: str) -> float:
        values = self.values(what)
        return pct(values, q) if values else float("nan")

    def mismatches(self, expected: int) -> int:
        return sum(1 for s in self.ok if s.events != expected)

    def error_kinds(self) -> str:
        kinds = Counter(_error_label(s) for s in self.samples if s.error != OK)
        return ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())) or "none"


def _error_label(sample: Sample) -> str:
    names = {ERR_STATUS: f"HTTP {sample.status}", ERR_BROKEN: "broken connection", ERR_HANG: "hang",
             ERR_INCOMPLETE: "no message_end", ERR_EVENT: "error event"}
    return names.get(sample.error, "?")


@dataclass
class Row:
    mode: str
    variant: str
    kind: str  # "blocking" | "streaming"
    concurrency: int
    a: Side
    b: Side
    expected_events: int = TOKENS
    split: dict[str, tuple[float, float]] = field(default_factory=dict)  # side -> (before model, after answer)

    @property
    def what(self) -> str:
        return "first" if self.kind == "streaming" else "total"

    def diff(self, q: float) -> float:
        return self.b.p(q, self.what) - self.a.p(q, self.what)

    def diff_total(self, q: float) -> float:
        return self.b.p(q, "total") - self.a.p(q, "total")


def measure_pair(ms: ModeStack, mock_pid: int, variant: str, streaming: bool, concurrency: int,
                 args: argparse.Namespace) -> Row:
    model = VARIANTS[variant]
    direct = direct_target(args.mock_port, model, streaming)
    chat = chat_target(ms, variant, streaming)
    kind = "streaming" if streaming else "blocking"
    split: dict[str, tuple[float, float]] = {}
    if concurrency == 1:
        cpu0, mock0 = ms.cpu(), tree_cpu_seconds(mock_pid)
        mock_arrivals(args.mock_port)
        result = run_streams([direct, chat], concurrency=1, cycle=[0, 1], per_slot=2 * args.samples, processes=1,
                             hang_timeout=args.hang_timeout, drain=args.hang_timeout)
        arrivals = mock_arrivals(args.mock_port)
        cpu, mock_cpu = ms.cpu() - cpu0, tree_cpu_seconds(mock_pid) - mock0
        a, b = Side(result.of(0)), Side(result.of(1))
        split = {"direct": overhead_split(a, arrivals, model, streaming),
                 "chat": overhead_split(b, arrivals, model, streaming)}
        b.cpu_ms_per_req = cpu / max(1, len(b.samples)) * 1e3
        a.cpu_ms_per_req = mock_cpu / max(1, len(a.samples)) * 1e3
        _print_errors(result)
    else:
        parts: dict[int, list[Sample]] = {0: [], 1: []}
        cpu = {0: 0.0, 1: 0.0}
        seconds = {0: 0.0, 1: 0.0}
        for _ in range(args.rounds):
            for index, target in ((0, direct), (1, chat)):
                pid_cpu = (lambda: tree_cpu_seconds(mock_pid)) if index == 0 else ms.cpu
                before = pid_cpu()
                result = run_streams([target], concurrency=concurrency, duration=args.window, warmup=args.warmup,
                                     processes=args.client_procs, hang_timeout=args.hang_timeout,
                                     drain=args.hang_timeout)
                cpu[index] += pid_cpu() - before
                seconds[index] += args.window
                parts[index] += result.samples
                _print_errors(result)
        a, b = Side(parts[0]), Side(parts[1])
        for index, side in ((0, a), (1, b)):
            side.rps = len(side.samples) / seconds[index]
            side.cpu_ms_per_req = cpu[index] / max(1, len(side.samples)) * 1e3  # warm-up included: an upper bound
    row = Row(ms.mode, variant, kind, concurrency, a, b, split=split)
    _print_row(row)
    return row


def mock_arrivals(port: int) -> list[float]:
    """The mock's arrival times of generation requests since the last call (and forget them)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", "/_arrivals")
        return sorted(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def overhead_split(side: Side, arrivals: list[float], model: str, streaming: bool) -> tuple[float, float]:
    """p50 of (request sent -> the mock received the model call) and (the mock's first token, or blocking answer,
    -> the client had it), in ms. Only for sequential requests: each gets the first arrival after its send."""
    first_ms, inter_ms, tokens = (int(x) for x in re.findall(r"\d+", model))
    first_s, inter_s = first_ms / 1000.0, inter_ms / 1000.0
    answer_after = first_s if streaming else first_s + (tokens - 1) * inter_s
    before, after = [], []
    for sample in side.ok:
        index = bisect.bisect_left(arrivals, sample.sent_at)
        if index >= len(arrivals) or arrivals[index] > sample.sent_at + sample.total_ms / 1e3:
            continue
        arrived = arrivals[index]
        got = sample.sent_at + (sample.first_ms if streaming else sample.total_ms) / 1e3
        before.append((arrived - sample.sent_at) * 1e3)
        after.append((got - arrived - answer_after) * 1e3)
    return (pct(before, 0.5) if before else float("nan"), pct(after, 0.5) if after else float("nan"))


def _print_errors(result: StreamResult) -> None:
    for body in result.error_bodies[:4]:
        print(f"      error sample: {body[:400]}")


def _print_unhandled(server: Any, bursts: list[Burst]) -> None:
    """When a burst saw a 5xx other than 503, show the server's logged tracebacks (the cause of the 500)."""
    if not any(burst.five_hundreds for burst in bursts):
        return
    lines = server.log_path.read_text(errors="replace").splitlines()
    shown = 0
    for index, line in enumerate(lines):
        if "unhandled error" in line and shown < 2:
            shown += 1
            print("\n".join(f"      {text[:300]}" for text in lines[index:index + 25]))


def _print_row(row: Row) -> None:
    what = row.what
    mismatch = f"  events!=chunks {row.b.mismatches(row.expected_events)}" if row.kind == "streaming" else ""
    print(f"   {row.variant:<6}{row.kind:<10} c={row.concurrency:<3} direct p50/p95 {row.a.p(0.5, what):7.1f}/"
          f"{row.a.p(0.95, what):7.1f}  chat p50/p95 {row.b.p(0.5, what):7.1f}/{row.b.p(0.95, what):7.1f}  "
          f"diff {row.diff(0.5):+7.1f}/{row.diff(0.95):+7.1f} ms  n={len(row.a.samples)}/{len(row.b.samples)}  "
          f"errors {row.a.errors}/{row.b.errors}{mismatch}", flush=True)
    if row.split:
        (a_before, a_after), (b_before, b_after) = row.split["direct"], row.split["chat"]
        print(f"{'':<22}split p50: send -> model called {a_before:6.1f} / {b_before:6.1f} ms,  model "
              f"{'first token' if row.kind == 'streaming' else 'answer'} -> client {a_after:6.1f} / {b_after:6.1f} ms"
              "  (direct / chat)", flush=True)


def warm_up(ms: ModeStack, args: argparse.Namespace) -> None:
    """A few requests of every kind first (imports, pools, caches, every gunicorn worker)."""
    targets = [chat_target(ms, variant, streaming) for variant in VARIANTS for streaming in (False, True)]
    targets += [direct_target(args.mock_port, VARIANTS["zero"], True)]
    run_streams(targets, concurrency=4, cycle=list(range(len(targets))), per_slot=3 * len(targets), processes=1,
                hang_timeout=args.hang_timeout, drain=args.hang_timeout)


# --- soak ------------------------------------------------------------------------------------------------------

@dataclass
class SoakResult:
    mode: str
    minutes: float
    direct: Side
    chat: Side
    wall: float
    cpu_percent: float


def soak(ms: ModeStack, mock_pid: int, args: argparse.Namespace) -> SoakResult:
    streams = args.soak_streams
    stagger = SOAK_STREAM_MS / 1000.0
    print(f"   soak: {streams} concurrent {SOAK_STREAM_MS / 1000:.0f}-second streams ({SOAK_TOKENS} tokens), direct "
          f"baseline for {args.soak_baseline:g}s, then through /v1/chat-messages for {args.soak_minutes:g} min "
          f"(starts staggered over {stagger:g}s, first {stagger:g}s excluded)", flush=True)
    direct = run_streams([direct_target(args.mock_port, SOAK_MODEL, True)], concurrency=streams,
                         duration=args.soak_baseline, warmup=stagger, stagger=stagger, processes=args.client_procs,
                         hang_timeout=args.hang_timeout, drain=args.hang_timeout + stagger)
    _print_errors(direct)
    cpu0, started = ms.cpu(), time.monotonic()
    chat = run_streams([chat_target(ms, "soak", True)], concurrency=streams, duration=args.soak_minutes * 60,
                       warmup=stagger, stagger=stagger, processes=args.client_procs, hang_timeout=args.hang_timeout,
                       drain=args.hang_timeout + stagger)
    wall = time.monotonic() - started
    cpu_percent = (ms.cpu() - cpu0) / wall * 100
    _print_errors(chat)
    result = SoakResult(ms.mode, args.soak_minutes, Side(direct.samples), Side(chat.samples), wall, cpu_percent)
    for label, side in (("direct", result.direct), ("chat", result.chat)):
        print(f"   soak {label:<6} streams {len(side.samples):>6}  TTFT p50/p95/p99 {side.p(0.5, 'first'):7.1f}/"
              f"{side.p(0.95, 'first'):7.1f}/{side.p(0.99, 'first'):7.1f} ms  stream p50/p95 "
              f"{side.p(0.5, 'total'):7.0f}/{side.p(0.95, 'total'):7.0f} ms  errors {side.errors} "
              f"({side.error_kinds()})  events!=chunks {side.mismatches(SOAK_TOKENS)}", flush=True)
    return result


# --- overload --------------------------------------------------------------------------------------------------

@dataclass
class Burst:
    mode: str
    label: str
    expect: str  # the status the refused requests should get
    side: Side
    note: str = ""

    def statuses(self) -> Counter:
        return Counter("hang" if s.error == ERR_HANG else ("broken" if s.error == ERR_BROKEN else s.status)
                       for s in self.side.samples)

    def refused(self) -> list[Sample]:
        return [s for s in self.side.samples if s.status in (429, 503)]

    def refused_ms(self, q: float) -> float:
        values = [s.total_ms for s in self.refused()]
        return pct(values, q) if values else float("nan")

    @property
    def refused_max(self) -> float:
        return max((s.total_ms for s in self.refused()), default=float("nan"))

    @property
    def five_hundreds(self) -> int:
        return sum(1 for s in self.side.samples if s.status >= 500 and s.status != 503)

    @property
    def hangs(self) -> int:
        return sum(1 for s in self.side.samples if s.error in (ERR_HANG, ERR_BROKEN))

    def met(self) -> bool:
        return bool(self.refused()) and self.refused_max < 100.0 and not self.five_hundreds and not self.hangs


def _burst(target: Target, n: int, timeout: float) -> Side:
    result = run_streams([target], concurrency=n, per_slot=1, processes=1, hang_timeout=timeout, drain=timeout)
    if any(s.status not in (200, 429, 503) for s in result.samples):
        _print_errors(result)
    return Side(result.samples)


def _print_burst(burst: Burst) -> None:
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(burst.statuses().items(), key=str))
    print(f"   {burst.label:<44} statuses {{{statuses}}}  {burst.expect} latency p50/p95/max "
          f"{burst.refused_ms(0.5):6.1f}/{burst.refused_ms(0.95):6.1f}/{burst.refused_max:6.1f} ms"
          f"{'  ' + burst.note if burst.note else ''}", flush=True)


def overload_limit(ms: ModeStack, args: argparse.Namespace) -> list[Burst]:
    n = args.limit_n
    bursts = []
    for streaming in (True, False):
        side = _burst(chat_target(ms, "limited", streaming), 2 * n, args.hang_timeout)
        kind = "streaming" if streaming else "blocking"
        burst = Burst(ms.mode, f"max_active_requests={n}, {2 * n} concurrent {kind}", "429", side)
        _print_burst(burst)
        bursts.append(burst)
    return bursts


def overload_db_pool(ms: ModeStack, args: argparse.Namespace) -> list[Burst]:
    """A second gunicorn (1 worker) with a one-connection pool; a table lock keeps that connection busy."""
    import sqlalchemy as sa

    env = {**ms.env, "SQLALCHEMY_POOL_SIZE": "1", "SQLALCHEMY_MAX_OVERFLOW": "0",
           "SQLALCHEMY_POOL_TIMEOUT": args.pool_timeout, "GUNICORN_WORKERS": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    bursts = []
    try:
        with gunicorn(f"{ms.mode}-tiny-pool", "api.wsgi:app", env, ms.tmp, "/health") as server:
            engine = sa.create_engine(ms.database_url, poolclass=sa.pool.NullPool)
            try:
                for streaming in (False, True):
                    target = chat_target(ms, "zero", streaming, port=server.port)
                    warm = _burst(target, 1, args.hang_timeout)  # key and app snapshot cached, end user exists
                    with engine.connect() as conn:
                        conn.execute(sa.text("LOCK TABLE end_users IN ACCESS EXCLUSIVE MODE"))
                        timer = threading.Timer(args.lock_seconds, conn.rollback)
                        timer.start()
                        try:
                            side = _burst(target, args.burst_n, args.hang_timeout)
                        finally:
                            timer.cancel()
                            timer.join()
                    holders = [s for s in side.samples if s.status == 200]
                    note = (f"warm-up {warm.samples[0].status if warm.samples else '-'}; lock held "
                            f"{args.lock_seconds:g}s: {len(holders)} request(s) holding the connection answered "
                            f"200 in {', '.join(f'{s.total_ms:.0f}' for s in holders) or '-'} ms")
                    burst = Burst(ms.mode, f"DB pool 1+0, POOL_TIMEOUT={args.pool_timeout}, {args.burst_n} "
                                  f"{'streaming' if streaming else 'blocking'}", "503",
                                  Side([s for s in side.samples if s.status != 200]), note)
                    _print_burst(burst)
                    bursts.append(burst)
                _print_unhandled(server, bursts)
            finally:
                engine.dispose()
    except RuntimeError as exc:  # e.g. the config refuses the pool timeout: report, do not abort the run
        print(f"   DB pool test could not start: {str(exc).splitlines()[0]}")
        print("\n".join("      " + line for line in str(exc).splitlines()[1:][-6:]))
        bursts.append(Burst(ms.mode, f"DB pool 1+0, POOL_TIMEOUT={args.pool_timeout}", "503", Side([]),
                            "server did not start"))
    return bursts


def overload_redis_down(ms: ModeStack, args: argparse.Namespace) -> list[Burst]:
    """A second gunicorn (1 worker) reaching Redis through a proxy, which is then cut."""
    base = ms.redis_url.split("//", 1)[1]
    host, _, rest = base.partition(":")
    port, _, db = rest.partition("/")
    proxy = RedisProxy((host, int(port)))
    url = f"redis://{HOST}:{proxy.port}/{db}"
    env = {**ms.env, "REDIS_URL": url, "CELERY_BROKER_URL": url, "GUNICORN_WORKERS": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    bursts = []
    try:
        with gunicorn(f"{ms.mode}-redis-proxy", "api.wsgi:app", env, ms.tmp, "/health") as server:
            warm = [_burst(chat_target(ms, "zero", streaming, port=server.port), 1, args.hang_timeout)
                    for streaming in (False, True)]
            proxy.kill()
            time.sleep(0.2)
            for streaming in (False, True):
                side = _burst(chat_target(ms, "zero", streaming, port=server.port), args.burst_n, args.hang_timeout)
                burst = Burst(ms.mode, f"Redis down (proxy cut), {args.burst_n} "
                              f"{'streaming' if streaming else 'blocking'}", "503", side,
                              f"warm-up before the cut: {[w.samples[0].status if w.samples else '-' for w in warm]}")
                _print_burst(burst)
                bursts.append(burst)
            _print_unhandled(server, bursts)
    finally:
        proxy.kill()
    return bursts


# --- one mode --------------------------------------------------------------------------------------------------

@dataclass
class ModeResult:
    mode: str
    rows: list[Row] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)
    soak: SoakResult | None = None


def run_mode(mode: str, args: argparse.Namespace, mock_pid: int) -> ModeResult:
    print(f"\n== {mode}: starting servers", flush=True)
    result = ModeResult(mode)
    with mode_servers(mode, args, args.mock_port) as ms:
        print(f"   api on :{ms.port}; apps ready; load average {_load()}", flush=True)
        warm_up(ms, args)
        if "latency" in args.parts:
            for variant in VARIANTS:
                for streaming, concurrencies in ((False, (1, 20)), (True, (1, 50))):
                    for concurrency in concurrencies:
                        result.rows.append(measure_pair(ms, mock_pid, variant, streaming, concurrency, args))
        if "overload" in args.parts:
            result.bursts += overload_limit(ms, args)
            if mode == "distributed":
                result.bursts += overload_db_pool(ms, args)
                result.bursts += overload_redis_down(ms, args)
        if "soak" in args.parts and mode in args.soak_modes and args.soak_minutes > 0:
            result.soak = soak(ms, mock_pid, args)
    return result


# --- report ----------------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    mode: str
    requirement: str
    measured: str
    met: bool | None


def _mark(met: bool | None) -> str:
    return "n/a" if met is None else ("MET" if met else "NOT MET")


def report(results: list[ModeResult], args: argparse.Namespace, load_before: str, started: float) -> None:
    line = "-" * 132
    print(f"\n{line}\nRESULTS  (ms; diff = chat - direct at the same percentile; CPU = server CPU ms per request "
          f"(api+worker), mock CPU for direct)\n{line}")
    print(f"{'mode':<12}{'variant':<8}{'kind':<10}{'conc':>5}{'direct p50':>11}{'p95':>8}{'chat p50':>10}{'p95':>8}"
          f"{'diff p50':>10}{'p95':>8}{'last-byte diff p50':>19}{'n a/b':>11}{'err a/b':>9}{'ev!=ch':>7}"
          f"{'CPU a/b':>12}")
    verdicts: list[Verdict] = []
    for res in results:
        for row in res.rows:
            mismatch = str(row.b.mismatches(row.expected_events)) if row.kind == "streaming" else "-"
            print(f"{row.mode:<12}{row.variant:<8}{row.kind:<10}{row.concurrency:>5}{_fmt(row.a.p(0.5, row.what), 11)}"
                  f"{_fmt(row.a.p(0.95, row.what))}{_fmt(row.b.p(0.5, row.what), 10)}{_fmt(row.b.p(0.95, row.what))}"
                  f"{_fmt(row.diff(0.5), 10)}{_fmt(row.diff(0.95))}{_fmt(row.diff_total(0.5), 19)}"
                  f"{f'{len(row.a.samples)}/{len(row.b.samples)}':>11}{f'{row.a.errors}/{row.b.errors}':>9}"
                  f"{mismatch:>7}{_fmt(row.a.cpu_ms_per_req, 6, 2)}/{_fmt(row.b.cpu_ms_per_req, 5, 1).strip():<5}")
            verdicts += _row_verdicts(row)
        splits = [row for row in res.rows if row.split]
        for row in splits:
            (a_before, a_after), (b_before, b_after) = row.split["direct"], row.split["chat"]
            answer = "first token" if row.kind == "streaming" else "answer"
            print(f"{'':<12}{row.variant:<8}{row.kind:<10}{1:>5}  split of the c=1 difference (p50): request -> model "
                  f"called {b_before - a_before:+.1f} ms, model {answer} -> client {b_after - a_after:+.1f} ms")
        for burst in res.bursts:
            verdicts.append(Verdict(res.mode, f"{burst.label}: {burst.expect} < 100 ms, no 500, no hang",
                                    f"{dict(sorted(burst.statuses().items(), key=str))} max {burst.refused_max:.1f} ms",
                                    burst.met()))
        if res.soak is not None:
            s = res.soak
            print(f"{res.mode:<12}soak {args.soak_streams} x {SOAK_STREAM_MS / 1000:.0f}s streams, {s.minutes:g} min: "
                  f"TTFT p50/p95/p99 direct {s.direct.p(0.5, 'first'):.1f}/{s.direct.p(0.95, 'first'):.1f}/"
                  f"{s.direct.p(0.99, 'first'):.1f}  chat {s.chat.p(0.5, 'first'):.1f}/{s.chat.p(0.95, 'first'):.1f}/"
                  f"{s.chat.p(0.99, 'first'):.1f} ms; streams {len(s.chat.samples)}, errors {s.chat.errors} "
                  f"({s.chat.error_kinds()}), events!=chunks {s.chat.mismatches(SOAK_TOKENS)}, stream p50 "
                  f"{s.chat.p(0.5, 'total'):.0f} ms, server CPU {s.cpu_percent:.0f}% of one core")
            verdicts.append(Verdict(res.mode, f"soak {args.soak_streams} x 5 s streams for {s.minutes:g} min: 0 errors",
                                    f"{s.chat.errors} errors of {len(s.chat.samples)} ({s.chat.error_kinds()})",
                                    s.chat.errors == 0 and len(s.chat.samples) > 0))
            p95 = s.chat.p(0.95, "first")
            verdicts.append(Verdict(res.mode, "soak: TTFT p95 <= 500 ms", f"{p95:.1f} ms (p50 "
                                    f"{s.chat.p(0.5, 'first'):.1f}, p99 {s.chat.p(0.99, 'first'):.1f})",
                                    p95 <= 500.0))
            verdicts.append(Verdict(res.mode, "soak: one event per upstream chunk",
                                    f"{s.chat.mismatches(SOAK_TOKENS)} of {len(s.chat.ok)} streams differ",
                                    s.chat.mismatches(SOAK_TOKENS) == 0 and bool(s.chat.ok)))
        elif args.soak_minutes > 0 and "soak" in args.parts:
            verdicts.append(Verdict(res.mode, "soak 200 x 5 s streams",
                                    f"not run (--soak-modes {','.join(args.soak_modes)})", None))
        if res.mode == "embedded" and "overload" in args.parts:
            verdicts.append(Verdict(res.mode, "DB pool / Redis exhausted: 503 < 100 ms",
                                    "not applicable (SQLite, no Redis)", None))
    print(f"\n{line}\nSUMMARY  (load average before {load_before}, now {_load()}; {os.cpu_count()} CPUs shared by "
          f"client, mock and servers; total {time.monotonic() - started:.0f}s)\n{line}")
    req_width = max([len("requirement"), *(len(v.requirement) for v in verdicts)]) + 2
    measured_width = max([len("measured"), *(len(v.measured) for v in verdicts)]) + 2
    print(f"{'mode':<12}{'requirement':<{req_width}}{'measured':<{measured_width}}verdict")
    for v in verdicts:
        print(f"{v.mode:<12}{v.requirement:<{req_width}}{v.measured:<{measured_width}}{_mark(v.met)}")
    met = sum(1 for v in verdicts if v.met)
    judged = sum(1 for v in verdicts if v.met is not None)
    print(f"\n{met} of {judged} target lines MET")


def _row_verdicts(row: Row) -> list[Verdict]:
    where = f"{row.variant} {row.kind} c={row.concurrency}"
    out = []
    limits: list[tuple[float, float]] = []
    if row.kind == "blocking":
        limits = [(0.5, 15.0), (0.95, 30.0)] if row.concurrency == 1 else [(0.5, 30.0)]
    else:
        limits = [(0.5, 10.0)] if row.concurrency == 1 else [(0.5, 40.0), (0.95, 100.0)]
    label = "latency" if row.kind == "blocking" else "TTFT"
    for q, limit in limits:
        value = row.diff(q)
        out.append(Verdict(row.mode, f"{where}: {label} p{int(q * 100)} diff <= +{limit:g} ms",
                           f"{value:+.1f} ms ({row.a.p(q, row.what):.1f} -> {row.b.p(q, row.what):.1f})",
                           value <= limit if value == value else False))
    errors = row.b.errors
    if errors:
        out.append(Verdict(row.mode, f"{where}: no errors", f"{errors} of {len(row.b.samples)} "
                           f"({row.b.error_kinds()})", False))
    if row.kind == "streaming":
        mismatches = row.b.mismatches(row.expected_events)
        out.append(Verdict(row.mode, f"{where}: one event per upstream chunk, no added delay",
                           f"{mismatches} of {len(row.b.ok)} differ; last-byte diff p50 {row.diff_total(0.5):+.1f} "
                           f"ms vs TTFT {row.diff(0.5):+.1f}", mismatches == 0 and bool(row.b.ok)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and a 1-minute soak (about 6 minutes)")
    parser.add_argument("--mode", choices=("distributed", "embedded", "both"), default="both")
    parser.add_argument("--soak-minutes", type=float, default=None, help="minutes (default 5; quick 1; 0 skips)")
    parser.add_argument("--soak-modes", default="distributed",
                        help="comma-separated modes that run the soak (default distributed: the compose setup)")
    parser.add_argument("--parts", default="latency,overload,soak",
                        help="comma-separated parts to run (default latency,overload,soak)")
    parser.add_argument("--soak-streams", type=int, default=200)
    parser.add_argument("--soak-baseline", type=float, default=None, help="seconds of direct soak baseline")
    parser.add_argument("--samples", type=int, default=None, help="per side, c=1 rows (default 40; quick 20)")
    parser.add_argument("--window", type=float, default=None, help="s per side per round (default 4; quick 2)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds excluded at the start of each window")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds for c>1 rows (default 2)")
    parser.add_argument("--limit-n", type=int, default=10, help="max_active_requests N of the overload app")
    parser.add_argument("--burst-n", type=int, default=20, help="concurrent requests in the DB/Redis bursts")
    parser.add_argument("--pool-timeout", default="0.05", help="SQLALCHEMY_POOL_TIMEOUT of the tiny-pool server")
    parser.add_argument("--lock-seconds", type=float, default=1.5, help="how long the table lock holds the pool")
    parser.add_argument("--hang-timeout", type=float, default=30.0, help="silence counted as a hang (seconds)")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dirs with the server logs")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.soak_minutes = args.soak_minutes if args.soak_minutes is not None else (1.0 if args.quick else 5.0)
    args.samples = args.samples or (20 if args.quick else 40)
    args.window = args.window or (2.0 if args.quick else 4.0)
    args.soak_baseline = args.soak_baseline or (5.0 if args.quick else 10.0)
    args.soak_modes = [m.strip() for m in args.soak_modes.split(",") if m.strip()]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if "both" in args.soak_modes:
        args.soak_modes = ["distributed", "embedded"]

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    modes = ["distributed", "embedded"] if args.mode == "both" else [args.mode]
    load_before, started = _load(), time.monotonic()
    print(f"bench_chat: modes {', '.join(modes)}; load average {load_before}; {os.cpu_count()} CPUs; "
          f"mock models {VARIANTS['timed']} (timed), {VARIANTS['zero']} (zero), {SOAK_MODEL} (soak)", flush=True)
    results: list[ModeResult] = []
    logs = Path(tempfile.mkdtemp(prefix="openify-bench-chat-mock-"))
    try:
        with mock_server(logs) as (mock_port, mock_pid):
            args.mock_port = mock_port
            for mode in modes:
                results.append(run_mode(mode, args, mock_pid))
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped, scratch database dropped", file=sys.stderr)
        return 130
    finally:
        if not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    report(results, args, load_before, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
