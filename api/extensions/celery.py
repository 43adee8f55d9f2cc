"""The Celery app (distributed mode) and the dispatcher port for both modes.

Tasks are ordinary Celery tasks with stable names. In distributed mode the dispatcher
sends them to the broker by name; in embedded mode it runs the very same task object
(`task.apply`) on a local thread pool, so retries, app context and error handling are
shared by both modes.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, Task
from flask import Flask
from kombu import Queue

from api.config import Settings
from api.extensions import celery_redis
from api.extensions.database import db

logger = logging.getLogger(__name__)

TASK_MODULES = ("api.tasks.api_key_tasks", "api.tasks.run_tasks", "api.tasks.indexing_tasks")
# Periodic housekeeping: task name → seconds. Celery beat runs them in distributed mode
# (`celery -A api.worker:celery beat`); the embedded dispatcher runs them on a timer thread.
# The indexing reaper's period comes from INDEXING_REAPER_INTERVAL (see `periodic_tasks`).
PERIODIC_TASKS = {"run.expire_stale_runs": 300.0, "indexing.reap_expired_leases": 60.0}
QUEUES = ("default", "dataset", "run")
# By name, as the dispatcher sends: housekeeping stays off the latency-critical `run` queue (an exact name is matched
# before the patterns).
ROUTES = {"indexing.*": {"queue": "dataset"}, "run.expire_stale_runs": {"queue": "default"}, "run.*": {"queue": "run"}}


class _QuietTaskFilter(logging.Filter):
    """Drops Celery's INFO lines ("received", "succeeded in") of the tasks named in `names`."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        data = getattr(record, "data", None)
        return not (isinstance(data, dict) and data.get("name") in self.names)


_QUIET_TASK_FILTER = _QuietTaskFilter()


def quiet_task_logs(name: str) -> None:
    """Celery logs two INFO lines for every task it runs ("received", "succeeded in"); drop them for task `name`
    (its failures are still logged). For a task that runs per request, where the two lines cost ~0.15 ms of CPU each
    time (bench/bench_task_logs.py) and the request is recorded elsewhere."""
    _QUIET_TASK_FILTER.names.add(name)
    for logger_name in ("celery.worker.strategy", "celery.app.trace"):  # where "received" and "succeeded in" go
        if _QUIET_TASK_FILTER not in logging.getLogger(logger_name).filters:
            logging.getLogger(logger_name).addFilter(_QUIET_TASK_FILTER)


def init_app(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery = Celery(app.name, task_cls=FlaskTask)
    broker_url = settings.celery_broker_url or "memory://"
    celery.conf.update(
        broker_url=broker_url,
        # redis:// brokers: kombu's transport with one client per channel, not one per command (celery_redis)
        broker_transport=celery_redis.TRANSPORT if broker_url.startswith("redis://") else None,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue="default",
        task_queues=[Queue(name) for name in QUEUES],
        task_routes=ROUTES,
        worker_prefetch_multiplier=1,
        # Generation is I/O-bound streaming: one worker process runs many runs on threads, so the
        # default `celery -A api.worker:celery worker` serves hundreds of concurrent streams.
        worker_pool=settings.celery_worker_pool,
        worker_concurrency=settings.celery_worker_concurrency,
        worker_hijack_root_logger=False,
        imports=TASK_MODULES,
        beat_schedule={name: {"task": name, "schedule": seconds} for name, seconds in periodic_tasks(settings).items()},
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def periodic_tasks(settings: Settings) -> dict[str, float]:
    """PERIODIC_TASKS with the periods that settings control."""
    return {**PERIODIC_TASKS, "indexing.reap_expired_leases": float(settings.indexing_reaper_interval)}


class CeleryDispatcher:
    def __init__(self, celery: Celery, broker_url: str) -> None:
        self._celery = celery
        self._publisher = celery_redis.TaskPublisher.for_broker(celery, broker_url)

    def send(self, task_name: str, *args: object) -> None:
        arguments = list(args)
        # What Celery shows of the arguments (worker logs, `celery inspect`): ids and flags; a run's turn (a user's
        # query and inputs) as "…". Passed explicitly, Celery skips building a length-bounded `saferepr` of them
        # (about 15% of a publish).
        shown = [arg if not isinstance(arg, dict) or all(isinstance(v, bool) for v in arg.values()) else "…"
                 for arg in arguments]
        if self._publisher is not None and self._publisher.applies():  # the same message, without kombu's path
            self._publisher.publish(task_name, arguments, repr(shown))
        else:
            self._celery.send_task(task_name, args=arguments, argsrepr=repr(shown), kwargsrepr="{}")


class ThreadDispatcher:
    """Embedded mode: run the named task on a local pool through the same task object.

    Generation (queue `run`) gets its own large pool, as a Celery worker would give it its
    threads; everything else shares a small one.
    """

    def __init__(self, celery: Celery, threads: int, run_threads: int) -> None:
        self._celery = celery
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="task")
        self._run_pool = ThreadPoolExecutor(max_workers=run_threads, thread_name_prefix="run")
        self._loaded = False
        self._periodic_started = False

    def send(self, task_name: str, *args: object) -> None:
        if not self._loaded:
            self._celery.loader.import_default_modules()
            self._loaded = True
        task = self._celery.tasks[task_name]
        pool = self._run_pool if getattr(task, "queue", None) == "run" else self._pool
        pool.submit(self._run, task, args)

    def start_periodic(self) -> None:
        """Run PERIODIC_TASKS on a daemon timer thread (the embedded stand-in for celery beat)."""
        if self._periodic_started:
            return
        self._periodic_started = True
        periods = {name: float(entry["schedule"]) for name, entry in self._celery.conf.beat_schedule.items()}
        due = {name: time.monotonic() + seconds for name, seconds in periods.items()}

        def loop() -> None:
            while True:
                time.sleep(5)
                now = time.monotonic()
                for name, at in due.items():
                    if now >= at:
                        due[name] = now + periods[name]
                        self.send(name)

        threading.Thread(target=loop, name="periodic", daemon=True).start()

    @staticmethod
    def _run(task: Task, args: tuple[object, ...]) -> None:
        result = task.apply(args=list(args))
        if result.failed():
            logger.error("embedded task failed task=%s error=%s", task.name, result.result)
