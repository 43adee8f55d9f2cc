"""A database that cannot be reached, or refuses more connections, is a 503 to retry, never a 500."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from api.app import create_app
from tests.conftest import distributed_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def full_role(pg_services):
    """A login role allowed no connections at all: connecting fails as when max_connections is reached."""
    admin = sa.create_engine(pg_services[0], isolation_level="AUTOCOMMIT")
    name = f"openify_full_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT 0'))
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP ROLE "{name}"'))
    admin.dispose()


def _answer(database_url: str, redis_url: str, tmp_path):
    app = create_app(distributed_settings(tmp_path, database_url, redis_url))
    return app.test_client().get("/console/api/setup")


def test_a_database_nobody_listens_on_is_a_503(pg_services, tmp_path):
    answer = _answer("postgresql+psycopg2://postgres@127.0.0.1:1/nothing", pg_services[1], tmp_path)

    assert answer.status_code == 503
    assert answer.get_json()["code"] == "service_unavailable"
    assert answer.headers["Retry-After"] == "1"


def test_a_database_refusing_more_connections_is_a_503(pg_services, full_role, tmp_path):
    url = sa.make_url(pg_services[0]).set(username=full_role).render_as_string(hide_password=False)

    answer = _answer(url, pg_services[1], tmp_path)

    assert answer.status_code == 503
    assert answer.get_json()["code"] == "service_unavailable"
