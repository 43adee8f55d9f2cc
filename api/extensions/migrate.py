"""Flask-Migrate bound to the top-level `migrations/` directory."""

from pathlib import Path

from flask import Flask
from flask_migrate import Migrate

from api.extensions.database import db

MIGRATIONS_DIR = str(Path(__file__).resolve().parents[2] / "migrations")
migrate = Migrate(directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)


def init_app(app: Flask) -> None:
    migrate.init_app(app, db)
