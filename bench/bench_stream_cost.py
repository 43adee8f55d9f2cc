"""Server CPU per streamed token: long zero-delay streams through /v1/chat-messages, CPU split by process.

    .venv/bin/python bench/bench_stream_cost.py [--mode distributed|embedded] [--tokens 2000] [--concurrency 1]
        [--seconds 10] [--first-ms 0] [--interval-ms 0]

The servers are bench_chat's (distributed: gunicorn + Celery workers started as the image starts them, on a scratch
PostgreSQL database and a Redis db of their own; embedded: one gunicorn process). The model is bench/mock_llm.py
streaming `--tokens` tokens with no delay, so the run measures what the servers spend per relayed event: the
worker reading the model's chunk, building and publishing the event; the API receiving and writing it (with
`--tokens 3`, the per-stream figure is what one short chat turn costs each process). The baseline
beside it is the mock model's own CPU per token (what serving the same stream directly costs). It PRINTS figures
and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import chat_common as cc  # noqa: E402
from bench.bench_foundation import tree_cpu_seconds  # noqa: E402
from bench.stream_load import run_streams  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="distributed", choices=("distributed", "embedded"))
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--first-ms", type=int, default=0, help="the mock's delay before the first token")
    parser.add_argument("--interval-ms", type=int, default=0,
                        help="the mock's delay between tokens (20 with --concurrency 200: the soak's shape)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.keep_logs, args.limit_n = False, 5  # what bench_chat's server setup reads
    with cc.mock_server(Path(tempfile.mkdtemp(prefix="openify-bench-cost-"))) as (mock_port, mock_pid), \
            cc.mode_servers(args.mode, args, mock_port) as ms:
        model = f"mock-f{args.first_ms}-i{args.interval_ms}-n{args.tokens}"
        ms.apps["cost"] = ms.stack.create_app(cc._MockRef(mock_port), model=model)
        target = cc.chat_target(ms, "cost", True)
        run_streams([target], concurrency=1, duration=2.0)  # warm-up: connections, caches
        pids = {"api": ms.cpu_pids[0], **({"worker": ms.cpu_pids[1]} if len(ms.cpu_pids) > 1 else {})}
        before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
        mock_before, started = tree_cpu_seconds(mock_pid), time.monotonic()
        result = run_streams([target], concurrency=args.concurrency, duration=args.seconds)
        wall = time.monotonic() - started
        spent = {name: tree_cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        mock_spent = tree_cpu_seconds(mock_pid) - mock_before
    ok = [sample for sample in result.samples if not sample.error]
    tokens = sum(sample.events for sample in ok)
    print(f"{args.mode}, concurrency {args.concurrency}, first token {args.first_ms} ms, then every "
          f"{args.interval_ms} ms: {len(ok)} streams ({len(result.samples) - len(ok)} errors), "
          f"{tokens} token events in {wall:.1f}s = {tokens / wall:.0f} events/s")
    for body in result.error_bodies:
        print(f"  error: {body[:300]}")
    if not tokens:
        return 1
    for name, seconds in (*spent.items(), ("server", sum(spent.values()))):
        print(f"  {name:<7} CPU {seconds:6.2f} s = {seconds / tokens * 1e6:7.1f} µs per token, "
              f"{seconds / len(ok) * 1e3:6.2f} ms per stream")
    print(f"  baseline: the mock model serving them, CPU {mock_spent:6.2f} s = {mock_spent / tokens * 1e6:7.1f} µs "
          "per token")
    return 0


if __name__ == "__main__":
    sys.exit(main())
