"""WSGI entry point: `gunicorn api.wsgi:app`, `flask --app api.wsgi ...`."""

import sys

from api.app import create_app, freeze_startup_heap, start_background, startup_checks
from api.config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as exc:
    sys.stderr.write(f"configuration error: {exc}\n")
    raise SystemExit(2) from None

app = create_app(_settings)
startup_checks(app)
start_background(app)
freeze_startup_heap()
