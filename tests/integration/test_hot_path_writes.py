"""Round-trip-saving writes against a real PostgreSQL engine (not the rollback fixture's connection): statements
in autocommit, the chat turn's one-statement write, and kombu's Redis transport with one client per channel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from celery import Celery
from sqlalchemy.orm import Session

from api.extensions import celery_redis
from api.extensions.database import autocommit_statements
from api.libs.clock import utcnow
from api.libs.uuid7 import uuid7_str
from api.models.account import Tenant
from api.models.app import App
from api.models.conversation import Conversation, Message
from api.services import run_service

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(scratch_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(scratch_database, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def app_id(engine: sa.Engine) -> Iterator[str]:
    """An app row (conversations and messages reference apps)."""
    with Session(engine) as session:
        tenant = Tenant(name="hot-path")
        session.add(tenant)
        session.flush()
        app = App(tenant_id=tenant.id, name="hot-path", mode="chat")
        session.add(app)
        session.commit()
        tenant_id, app_id = tenant.id, app.id
    yield app_id
    with engine.begin() as conn:
        conn.execute(sa.delete(App).where(App.id == app_id))
        conn.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))


def _autocommit(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.connection.dbapi_connection.autocommit)


def test_statements_commit_on_their_own_and_the_pool_gets_a_transactional_connection_back(engine, app_id):
    marker = f"autocommit-{uuid.uuid4().hex}"
    session = Session(engine)
    assert autocommit_statements(session) is True
    assert autocommit_statements(session) is True  # asking again: still (no second connection)
    session.execute(sa.text("UPDATE apps SET description = :d WHERE id = :id"), {"d": marker, "id": app_id})
    outside = sa.create_engine(engine.url)
    with outside.connect() as conn:  # committed without session.commit()
        assert conn.scalar(sa.text("SELECT description FROM apps WHERE id = :id"), {"id": app_id}) == marker
    outside.dispose()
    session.close()
    assert _autocommit(engine) is False  # the same pooled connection, switched back on check-in

    session = Session(engine)
    session.execute(sa.text("UPDATE apps SET description = 'rolled back' WHERE id = :id"), {"id": app_id})
    session.rollback()  # an ordinary session is transactional again
    session.close()
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT description FROM apps WHERE id = :id"), {"id": app_id}) == marker


def test_autocommit_is_refused_inside_a_transaction_on_a_bound_connection_and_on_sqlite(engine, tmp_path):
    session = Session(engine)
    session.execute(sa.text("SELECT 1"))
    assert autocommit_statements(session) is False  # already in a transaction
    session.close()
    with engine.connect() as conn:
        assert autocommit_statements(Session(bind=conn)) is False  # joins the connection's transaction
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert autocommit_statements(Session(sqlite)) is False
    sqlite.dispose()


def _turn_params(app_id: str, conversation_id: str, *, message_app_id: str | None = None) -> dict:
    now = utcnow()
    params = run_service._params("c_", run_service._CONVERSATION_DEFAULTS, {
        "id": conversation_id, "app_id": app_id, "mode": "chat", "name": "hello", "inputs": {},
        "model_provider": "openai", "model_id": "gpt-4o-mini", "introduction": "", "status": "normal",
        "invoke_from": "service-api", "from_source": "api", "from_end_user_id": None, "from_account_id": None,
        "override_model_configs": None, "dialogue_count": 1, "created_at": now, "updated_at": now})
    params.update(run_service._params("m_", run_service._MESSAGE_DEFAULTS, {
        "id": uuid7_str(), "app_id": message_app_id or app_id, "conversation_id": conversation_id, "inputs": {},
        "query": "hello", "model_provider": "openai", "model_id": "gpt-4o-mini", "status": "pending",
        "invoke_from": "service-api", "from_source": "api", "from_end_user_id": None, "from_account_id": None,
        "app_mode": "chat", "task_id": str(uuid.uuid4()), "message_metadata": {"auto_generate_name": True},
        "override_model_configs": None, "app_model_config_id": None, "created_at": now, "updated_at": now}))
    return params


def test_a_turn_is_written_in_one_atomic_statement(engine, app_id):
    conversation_id = uuid7_str()
    with Session(engine) as session:
        assert autocommit_statements(session)
        session.execute(run_service._FIRST_TURN_AT_ONCE, _turn_params(app_id, conversation_id))
        session.commit()
    with Session(engine) as session:
        assert autocommit_statements(session)
        session.execute(run_service._NEXT_TURN_AT_ONCE, _turn_params(app_id, conversation_id))
        session.commit()
    with Session(engine) as session:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        assert (conversation.dialogue_count, conversation.name) == (2, "hello")
        messages = session.scalars(sa.select(Message).where(Message.conversation_id == conversation_id)).all()
        assert [m.status for m in messages] == ["pending", "pending"]
        assert (messages[0].answer, messages[0].currency) == ("", "USD")  # column defaults applied
        left_out = session.scalar(sa.select(sa.func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, sa.text("messages.message IS NULL")))
        assert left_out == 2  # a column the statement leaves out stays SQL NULL

    # The message part fails (its app does not exist): the conversation part is not written either.
    failed = uuid7_str()
    with Session(engine) as session:
        assert autocommit_statements(session)
        with pytest.raises(sa.exc.IntegrityError):
            session.execute(run_service._FIRST_TURN_AT_ONCE,
                            _turn_params(app_id, failed, message_app_id=str(uuid.uuid4())))
        session.rollback()
        assert session.get(Conversation, failed) is None


def test_the_broker_transport_keeps_one_client_per_channel_and_delivers(pg_services):
    redis_url = pg_services[1]
    queue = f"test-transport-{uuid.uuid4().hex}"
    celery = Celery("transport-test", broker=redis_url, set_as_current=False)  # leave the app's Celery current
    celery.conf.update(broker_transport=celery_redis.TRANSPORT, task_default_queue=queue)
    with celery.connection_for_write() as conn:
        channel = conn.default_channel
        assert isinstance(channel, celery_redis.Channel)
        assert channel._create_client() is channel._create_client()
        for number in range(3):
            celery.send_task("transport.test", args=[number], connection=conn)
        assert channel._create_client().llen(queue) == 3
        simple = conn.SimpleQueue(queue)
        received = []
        for _ in range(3):
            message = simple.get(timeout=5)
            received.append(message.headers["argsrepr"])
            message.ack()  # the delivery and ack bookkeeping go through the kept client
        simple.close()
        assert sorted(received) == ["[0]", "[1]", "[2]"]
        assert channel._create_client().llen(queue) == 0
        channel._create_client().delete(queue)


def test_the_worker_claim_waits_out_a_database_refusing_connections(engine, app_id, scratch_database):
    import threading

    from api.services import run_claim

    params = _turn_params(app_id, uuid7_str())
    with Session(engine) as session:
        session.execute(run_service._FIRST_TURN_AT_ONCE, params)
        session.commit()
    role = f"openify_busy_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(scratch_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # a login that is refused at first, as when max_connections is reached
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
        conn.execute(sa.text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
    busy = sa.create_engine(sa.make_url(scratch_database).set(username=role), poolclass=sa.pool.NullPool)

    def allow_connections() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER ROLE "{role}" CONNECTION LIMIT -1'))

    reopen = threading.Timer(0.15, allow_connections)
    reopen.start()
    try:
        with Session(busy) as session:
            message = run_claim.claim_retrying_connect(session, params["m_id"])
    finally:
        reopen.join()
        busy.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
            conn.execute(sa.text(f'DROP ROLE "{role}"'))
        admin.dispose()

    assert message is not None
    assert message.status == "running"
