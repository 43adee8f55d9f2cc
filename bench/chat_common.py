"""Shared pieces of the chat benchmark: servers per mode, targets, paired measurements (see bench_chat.py)."""

from __future__ import annotations

import argparse
import bisect
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
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


def machine_speed() -> str:
    """How fast this machine runs Python (best of 5 runs of an empty 2-million-step loop), printed beside the figures:
    machines of the same kind have differed by half in speed between sessions."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _step in range(2_000_000):
            pass
        best = min(best, time.perf_counter() - started)
    return f"Python loop {best / 2_000_000 * 1e9:.0f} ns/step"


def _fmt(value: float, width: int = 8, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value == value else f"{'-':>{width}}"


def _checked(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """tests/e2e helpers report start-up problems with pytest.fail; turn that into a RuntimeError here."""
    try:
        return fn(*args)
    except pytest.fail.Exception as exc:
        raise RuntimeError(f"{what}: {exc}") from None


def _redis_db(base_url: str) -> AbstractContextManager[str]:
    """A Redis db of our own, locked against concurrent runs (same lock files as tests/e2e), flushed around."""
    return e2e.hold_redis_db(base_url, REDIS_DBS)


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
            # The image's worker role: one thread-pool Celery worker per CPU (CELERY_WORKER_PROCESSES).
            worker_env = {**env, "MODE": "worker", "PATH": f"{VENV_BIN}:{env.get('PATH', '')}"}
            worker = e2e.start("celery", [str(ROOT / "docker" / "entrypoint.sh")], worker_env, tmp)
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


def _print_unhandled(server: Any, bursts: list[Any]) -> None:  # list[chat_overload.Burst]
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
