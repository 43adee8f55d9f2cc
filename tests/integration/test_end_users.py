import pytest

from api.services import service_auth_service
from api.services.errors import InvalidInputError
from tests.helpers import Console, bearer, body


def _snapshot(db_session, app_id):
    return service_auth_service.load_snapshot(db_session, app_id)


def test_end_user_is_created_once_per_app_and_user(client, db_session):
    console = Console(client)
    owner = console.setup_owner()
    app = console.create_app(owner)
    snapshot = _snapshot(db_session, app["id"])

    first = service_auth_service.get_or_create_end_user(db_session, snapshot=snapshot, user="alice", required=True)
    again = service_auth_service.get_or_create_end_user(db_session, snapshot=snapshot, user="alice", required=True)
    default = service_auth_service.get_or_create_end_user(db_session, snapshot=snapshot, user=None, required=False)

    assert first.id == again.id
    assert first.session_id == "alice"
    assert first.is_anonymous is False
    assert first.type == "service-api"
    assert first.tenant_id == owner.tenant_id
    assert default.session_id == "DEFAULT-USER"
    assert default.is_anonymous is True


def test_end_user_is_required_where_dify_requires_it(client, db_session):
    console = Console(client)
    owner = console.setup_owner()
    snapshot = _snapshot(db_session, console.create_app(owner)["id"])

    with pytest.raises(InvalidInputError, match="Arg user must be provided."):
        service_auth_service.get_or_create_end_user(db_session, snapshot=snapshot, user="", required=True)


def test_end_user_detail_is_visible_only_to_its_app(client, db_session):
    console = Console(client)
    owner = console.setup_owner()
    app_a, app_b = console.create_app(owner, name="A"), console.create_app(owner, name="B")
    key_a, key_b = console.create_key(owner, app_a["id"]), console.create_key(owner, app_b["id"])
    end_user = service_auth_service.get_or_create_end_user(
        db_session, snapshot=_snapshot(db_session, app_a["id"]), user="alice", required=True)

    mine = client.get(f"/v1/end-users/{end_user.id}", headers=bearer(key_a))
    theirs = client.get(f"/v1/end-users/{end_user.id}", headers=bearer(key_b))

    assert mine.status_code == 200
    assert body(mine)["session_id"] == "alice"
    assert theirs.status_code == 404
    assert body(theirs)["code"] == "end_user_not_found"
