"""Migrations: one head; upgrade → downgrade → upgrade on PostgreSQL and SQLite; models match the schema."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from api.app import create_app
from api.extensions.database import db
from api.extensions.migrate import MIGRATIONS_DIR
from api.models.base import Base
from tests.conftest import create_scratch_database, distributed_settings, drop_database, embedded_settings


def test_migrations_have_a_single_head():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)

    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def _roundtrip(app):
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        tables = set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()
    return diff, tables


@pytest.mark.integration
def test_upgrade_downgrade_upgrade_on_postgresql_matches_models(pg_services, tmp_path):
    url = create_scratch_database(pg_services[0], prefix="openify_mig")
    try:
        diff, tables = _roundtrip(create_app(distributed_settings(tmp_path, url, pg_services[1])))
    finally:
        drop_database(pg_services[0], url)

    assert diff == []
    assert {"accounts", "tenants", "tenant_account_joins", "apps", "app_model_configs", "api_tokens", "end_users",
            "upload_files", "sites", "dify_setups"} <= tables


def test_upgrade_downgrade_upgrade_on_sqlite_matches_models(tmp_path):
    diff, tables = _roundtrip(create_app(embedded_settings(tmp_path)))

    assert diff == []
    assert "apps" in tables
