"""The chat benchmark's soak (200 concurrent 5-second streams) and overload bursts (429/503 latency)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from bench.bench_foundation import (  # noqa: E402
    HOST,
    gunicorn,
)
from bench.stream_load import (  # noqa: E402
    ERR_BROKEN,
    ERR_HANG,
    Sample,
    Target,
    pct,
    run_streams,
)

TIMED_FIRST_MS, TIMED_INTER_MS, TOKENS = 50, 20, 10

# --- soak ------------------------------------------------------------------------------------------------------

@dataclass
class SoakResult:
    mode: str
    minutes: float
    direct: Side
    chat: Side
    wall: float
    cpu_percent: float

    @property
    def cpu_us_per_event(self) -> float:
        """Server CPU (api + worker) per relayed event; the streams' per-request work is spread over their events."""
        events = sum(sample.events for sample in self.chat.samples)
        return self.cpu_percent / 100.0 * self.wall / events * 1e6 if events else float("nan")


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
from bench.chat_common import (  # noqa: E402
    SOAK_MODEL,
    SOAK_STREAM_MS,
    SOAK_TOKENS,
    ModeStack,
    RedisProxy,
    Side,
    _print_errors,
    _print_unhandled,
    chat_target,
    direct_target,
)

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
    # The app's first burst also fills each process's key, snapshot and end-user caches under load (6 queries per
    # process, with 20 threads contending for the GIL): shown, but the targets are measured on the warm app, as the
    # DB-pool and Redis bursts are.
    cold = Burst(ms.mode, f"max_active_requests={n}, {2 * n} concurrent streaming", "429",
                 _burst(chat_target(ms, "limited", True), 2 * n, args.hang_timeout),
                 "cold app (first requests; no target)")
    _print_burst(cold)
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
                        # Every turn writes `messages` (end users are cached after the warm-up): the first request
                        # blocks on this lock holding the pool's only connection, the others find the pool empty.
                        conn.execute(sa.text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))
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
