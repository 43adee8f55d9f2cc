"""CPU of Celery's two per-task INFO lines ("received", "succeeded in") through the app's logging, beside a quiet
task whose lines the worker drops (the chat run: one task per chat turn).

    .venv/bin/python bench/bench_task_logs.py [--turns 5000]

Both are logged through Celery's own loggers and the app's queue handler and writer thread (writing to /dev/null),
alternating in one process; the CPU figure includes the writer thread. It PRINTS figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    out, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115  (the log writer's stream)
    from celery.app import trace

    from api.config import load_settings
    from api.extensions.logging import configure_logging
    from api.tasks import run_tasks  # noqa: F401  (marks the chat-run task quiet)

    configure_logging(load_settings())
    received = logging.getLogger("celery.worker.strategy")

    def turns(name: str) -> float:
        started = time.process_time()
        for _ in range(args.turns):
            context = {"id": "b3d4f9a2-1c55-4b1e-9a7e-9d1c0e0c1a11", "name": name, "eta": None, "kwargs": "{}",
                       "args": "('0193a1b2-c3d4', 'task-1', {'history': False, 'files': False}, …)"}
            received.info(trace.LOG_RECEIVED, context, extra={"data": context})
            trace.info(trace.LOG_SUCCESS, {**context, "return_value": "'succeeded'", "runtime": 0.0123})
        time.sleep(0.5)  # the writer thread drains the queue (its CPU counts)
        return (time.process_time() - started) / args.turns * 1e6

    for _ in range(3):
        loud, quiet = turns("indexing.index_document"), turns("run.execute_chat")
        print(f"per task: both lines logged {loud:6.1f} µs CPU; quiet task (chat run) {quiet:6.1f} µs", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
