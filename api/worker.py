"""Celery entry point: `celery -A api.worker:celery worker` (consumes every queue the app defines)."""

import sys

from celery.signals import worker_ready

from api.app import create_app, freeze_startup_heap, startup_checks
from api.config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as exc:
    sys.stderr.write(f"configuration error: {exc}\n")
    raise SystemExit(2) from None

app = create_app(_settings)
startup_checks(app)
celery = app.extensions["celery"]


@worker_ready.connect
def _freeze_heap(**_kwargs: object) -> None:
    freeze_startup_heap()  # once the worker has imported its tasks and connected
