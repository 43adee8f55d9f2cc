import sqlalchemy as sa

from api.models.app import App
from api.services import api_key_service, app_service
from api.services.errors import AppNotFoundError
from api.services.workspace_service import EDITORS
from tests.integration import test_role_rules as rr
from tests.integration.test_role_rules import workspace  # noqa
from tests.integration.test_tenant_isolation import llm, console, tenant_a, stranger, walk_routes_with_ids  # noqa


def _leaky_get_app(session, *, tenant_id, app_id):
    app = session.scalar(sa.select(App).where(App.id == app_id))
    if app is None:
        raise AppNotFoundError()
    return app


def test_mutant_isolation(client, pg_app, tenant_a, stranger, monkeypatch):
    monkeypatch.setattr(app_service, "get_app", _leaky_get_app)
    violations = walk_routes_with_ids(client, pg_app, tenant_a, stranger)
    print("VIOLATIONS", len(violations), violations[:3])
    assert violations


def test_mutant_roles(workspace, monkeypatch):
    monkeypatch.setattr(api_key_service, "PRIVILEGED", EDITORS)
    key = "DELETE /console/api/apps/<uuid:app_id>/api-keys/<uuid:key_id>"
    observed, _ = rr._run(workspace, key, rr.ROLE_TABLE[key])
    print("OBSERVED", observed)
    assert observed != rr._expected(rr.ROLE_TABLE[key])
