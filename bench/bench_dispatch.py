"""What queuing one chat run costs the API: `Celery.send_task` (baseline) against the direct TaskPublisher.

    .venv/bin/python bench/bench_dispatch.py [--calls 2000] [--rounds 5]

Both send the same run task (message ids, hints, a short turn) to the same Redis broker (a db of its own, flushed
around the run), in interleaved rounds of `--calls` each, on one thread of one process; the queue list is emptied
between rounds so both push onto a short list. It prints wall and CPU time per call (median of the rounds'
means) and asserts nothing. The worker side is unchanged: both messages are the same (tests/integration/
test_task_publisher.py compares them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from api.app import create_app  # noqa: E402
from api.extensions.celery_redis import TaskPublisher  # noqa: E402
from api.services.dispatch import TaskName  # noqa: E402
from bench.chat_common import _redis_db  # noqa: E402
from tests.conftest import distributed_settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    with _redis_db(args.redis_url) as redis_url:
        app = create_app(distributed_settings(Path(tempfile.mkdtemp(prefix="openify-bench-dispatch-")),
                                              args.database_url, redis_url))
        celery = app.extensions["celery"]
        publisher = TaskPublisher.for_broker(celery, redis_url)
        assert publisher is not None
        turn = {"query": "What is the capital of France?", "inputs": {}, "conversation_id": str(uuid.uuid4()),
                "created_at": "2026-12-01T10:00:00.000000"}

        def arguments() -> list[object]:
            return [str(uuid.uuid4()), str(uuid.uuid4()), {"history": False, "files": False}, turn]

        shown = "['…', '…', {'history': False, 'files': False}, '…']"
        ways = {
            "send_task (baseline)": lambda: celery.send_task(TaskName.EXECUTE_CHAT_RUN, args=arguments(),
                                                             argsrepr=shown, kwargsrepr="{}"),
            "TaskPublisher": lambda: publisher.publish(TaskName.EXECUTE_CHAT_RUN, arguments(), shown),
        }
        client = redis.Redis.from_url(redis_url)
        for send in ways.values():  # warm-up: connections, caches
            for _ in range(200):
                send()
        client.delete("run")
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, send in ways.items():
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.calls):
                    send()
                figures[name].append(((time.perf_counter() - wall) / args.calls * 1e6,
                                      (time.process_time() - cpu) / args.calls * 1e6))
                queued = client.llen("run")
                client.delete("run")
                if queued != args.calls:
                    print(f"  {name}: {queued} messages queued, expected {args.calls}")
                    return 1
    print(f"queuing one chat run on Redis ({args.rounds} rounds x {args.calls} calls; median of round means):")
    for name, rows in figures.items():
        print(f"  {name:22} wall {statistics.median(w for w, _ in rows):7.1f} µs   "
              f"CPU {statistics.median(c for _, c in rows):7.1f} µs per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
