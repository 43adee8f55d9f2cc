"""Run bookkeeping that no stream watches: stale runs expire; limits count exactly."""

from datetime import timedelta

import pytest

from api.extensions.counters import RedisCounterStore
from api.libs.clock import utcnow
from api.models.conversation import Conversation, Message
from api.services import rate_limit_service, run_execution_service
from api.services.errors import TooManyRequestsError
from api.services.service_auth_service import load_snapshot
from tests.conftest import distributed_settings
from tests.helpers import Console


def _message(db_session, app_id, status, age_seconds):
    conversation = Conversation(app_id=app_id, mode="chat", from_source="api")
    db_session.add(conversation)
    db_session.flush()
    message = Message(app_id=app_id, conversation_id=conversation.id, status=status, from_source="api",
                      created_at=utcnow() - timedelta(seconds=age_seconds))
    db_session.add(message)
    db_session.commit()
    return message


def test_expire_stale_runs_fails_only_old_unfinished_messages(client, db_session):
    console = Console(client)
    app_id = console.create_app(console.setup_owner())["id"]
    old_pending = _message(db_session, app_id, "pending", 3600)
    old_running = _message(db_session, app_id, "running", 3600)
    fresh = _message(db_session, app_id, "running", 5)
    done = _message(db_session, app_id, "normal", 3600)

    expired = run_execution_service.expire_stale_runs(db_session)

    statuses = {m.id: db_session.get(Message, m.id).status for m in (old_pending, old_running, fresh, done)}
    assert expired == 2
    assert statuses == {old_pending.id: "error", old_running.id: "error", fresh.id: "running", done.id: "normal"}


@pytest.fixture
def limited_snapshot(client, db_session):
    console = Console(client)
    owner = console.setup_owner()
    app_id = console.create_app(owner)["id"]
    client.put(f"/console/api/apps/{app_id}", headers=owner.headers,
               json={"name": "Limited", "api_rpm": 3, "max_active_requests": 2})
    return load_snapshot(db_session, app_id)


def test_rpm_limit_allows_exactly_the_configured_count(limited_snapshot, redis_client, tmp_path, pg_services):
    settings = distributed_settings(tmp_path, pg_services[0], pg_services[1])
    counters = RedisCounterStore(redis_client)
    slots = [rate_limit_service.acquire(counters, settings, limited_snapshot) for _ in range(2)]
    rate_limit_service.release(counters, slots[0])
    rate_limit_service.acquire(counters, settings, limited_snapshot)

    with pytest.raises(TooManyRequestsError) as info:
        rate_limit_service.acquire(counters, settings, limited_snapshot)

    assert info.value.limit == 3
    assert 0 < info.value.retry_after <= 60


def test_active_slots_are_limited_and_given_back(limited_snapshot, redis_client, tmp_path, pg_services):
    settings = distributed_settings(tmp_path, pg_services[0], pg_services[1])
    counters = RedisCounterStore(redis_client)
    snapshot = limited_snapshot.__class__(**{**limited_snapshot.__dict__, "api_rpm": 0})
    first, second = (rate_limit_service.acquire(counters, settings, snapshot) for _ in range(2))

    with pytest.raises(TooManyRequestsError):
        rate_limit_service.acquire(counters, settings, snapshot)
    rate_limit_service.release(counters, first)

    assert rate_limit_service.acquire(counters, settings, snapshot) is not None
    assert second is not None


def test_global_ceiling_caps_every_apps_limit(limited_snapshot, tmp_path, pg_services):
    settings = distributed_settings(tmp_path, pg_services[0], pg_services[1], APP_MAX_ACTIVE_REQUESTS="1")

    assert rate_limit_service.effective_active_limit(limited_snapshot, settings) == 1
