"""The Celery app (distributed mode) and the dispatcher port for both modes.

Tasks are ordinary Celery tasks with stable names. In distributed mode the dispatcher
sends them to the broker by name; in embedded mode it runs the very same task object
(`task.apply`) on a local thread pool, so retries, app context and error handling are
shared by both modes.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, Task
from flask import Flask
from kombu import Queue

from api.config import Settings
from api.extensions.database import db

logger = logging.getLogger(__name__)

TASK_MODULES = ("api.tasks.api_key_tasks",)
QUEUES = ("default", "dataset", "run")
ROUTES = {"indexing.*": {"queue": "dataset"}, "run.*": {"queue": "run"}}


def init_app(app: Flask, settings: Settings) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.celery_broker_url or "memory://",
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue="default",
        task_queues=[Queue(name) for name in QUEUES],
        task_routes=ROUTES,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        imports=TASK_MODULES,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


class CeleryDispatcher:
    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    def send(self, task_name: str, *args: object) -> None:
        self._celery.send_task(task_name, args=list(args))


class ThreadDispatcher:
    """Embedded mode: run the named task on a local pool through the same task object."""

    def __init__(self, celery: Celery, threads: int) -> None:
        self._celery = celery
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="task")
        self._loaded = False

    def send(self, task_name: str, *args: object) -> None:
        if not self._loaded:
            self._celery.loader.import_default_modules()
            self._loaded = True
        task = self._celery.tasks[task_name]
        self._pool.submit(self._run, task, args)

    @staticmethod
    def _run(task: Task, args: tuple[object, ...]) -> None:
        result = task.apply(args=list(args))
        if result.failed():
            logger.error("embedded task failed task=%s error=%s", task.name, result.result)
