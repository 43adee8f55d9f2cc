"""A run claims its message while its model call starts (run_claim): what the run publishes and writes around that.

Embedded app (SQLite) with the fake OpenAI-compatible server over real HTTP. The runtime's dispatcher only records
the run task's arguments, so each test runs the worker side itself, exactly as the task would, and can deliver a
task twice or let "another worker" hold the message.
"""

from __future__ import annotations

import dataclasses
import types

import pytest
import sqlalchemy as sa

from api.extensions.database import db
from api.libs.sse import RawEvent
from api.models.conversation import Message
from api.services import run_claim, run_execution_service, run_service, service_auth_service
from api.services.dispatch import TaskName
from tests.conftest import embedded_app
from tests.e2e.chat_support import Stack
from tests.helpers import Console


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[object, ...]]] = []

    def send(self, task_name: str, *args: object) -> None:
        self.sent.append((str(task_name), args))


@pytest.fixture
def env(tmp_path, llm):
    app = embedded_app(tmp_path)
    client = app.test_client()
    console = Console(client)
    stack = Stack(types.SimpleNamespace(mode="embedded", base_url=""), client, console, console.setup_owner())
    chat_app = stack.create_app(llm, model="claim-model")
    llm.script("claim-model", reply="Claimed and answered.")
    recorder = _Recorder()
    runtime = dataclasses.replace(app.extensions["runtime"], dispatcher=recorder)
    with app.app_context():
        yield types.SimpleNamespace(app=app, runtime=runtime, recorder=recorder, app_id=chat_app.id, llm=llm)


def _turn(env) -> tuple[run_service.RunHandle, dict]:
    """Persist a service-API turn; returns its handle (subscribed to its topic) and its run task's arguments."""
    snapshot = service_auth_service.load_snapshot(db.session, env.app_id)
    end_user = service_auth_service.get_or_create_end_user(db.session, snapshot=snapshot, user="u1", required=True)
    handle = run_service.start_chat_run(db.session, runtime=env.runtime, snapshot=snapshot,
                                        caller=run_service.Caller(end_user_id=end_user.id), route="chat",
                                        query="hello", inputs={}, conversation_id=None, files=None,
                                        invoke_from="service-api")
    name, (message_id, task_id, hints, turn) = env.recorder.sent[-1]
    assert name == TaskName.EXECUTE_CHAT_RUN
    assert (message_id, task_id) == (handle.message_id, handle.task_id)
    return handle, {"message_id": message_id, "task_id": task_id, "hints": hints, "turn": turn}


def _events(handle: run_service.RunHandle, wait: float = 0.3) -> list[RawEvent]:
    events = []
    while (raw := handle.subscription.receive(timeout=wait)) is not None:
        events.append(RawEvent.of(raw))
    return events


def _row(message_id: str) -> tuple:
    db.session.expire_all()
    return db.session.execute(sa.select(Message.status, Message.answer, Message.error, Message.updated_at)
                              .where(Message.id == message_id)).one()


def test_the_run_with_its_turn_publishes_claimed_first_then_the_answer(env):
    handle, task = _turn(env)

    status = run_execution_service.execute_chat_run(db.session, runtime=env.runtime, **task)

    assert status == "normal"
    events = _events(handle)
    assert [e.name for e in events][:2] == ["_claimed", "message"]
    assert events[-1].name == "message_end"
    answer = "".join(e.decode()["answer"] for e in events if e.name == "message")
    assert answer == "Claimed and answered."
    # the envelope comes from the turn the task carried: the ids and the time the API wrote
    envelopes = {(e.decode()["message_id"], e.decode()["conversation_id"], e.decode()["created_at"])
                 for e in events[1:]}
    assert envelopes == {(handle.message_id, handle.conversation_id, handle.created_at)}
    assert _row(handle.message_id)[:3] == ("normal", "Claimed and answered.", None)
    handle.subscription.close()


def test_a_second_delivery_of_the_task_publishes_nothing_and_changes_nothing(env):
    handle, task = _turn(env)
    assert run_execution_service.execute_chat_run(db.session, runtime=env.runtime, **task) == "normal"
    _events(handle)
    before = _row(handle.message_id)

    again = run_execution_service.execute_chat_run(db.session, runtime=env.runtime, **task)

    assert again == "skipped"
    assert _events(handle, wait=0.5) == []
    assert _row(handle.message_id) == before
    handle.subscription.close()


def test_a_model_failure_before_the_claim_is_decided_leaves_another_workers_run_alone(env):
    handle, task = _turn(env)
    db.session.execute(sa.update(Message).where(Message.id == handle.message_id).values(status="running"))
    db.session.commit()  # another worker holds it
    env.llm.script("claim-model", failures=[401])

    status = run_execution_service.execute_chat_run(db.session, runtime=env.runtime, **task)

    assert status == "skipped"
    assert _events(handle, wait=0.5) == []  # no error event on the other worker's stream
    assert _row(handle.message_id)[:3] == ("running", "", None)  # no error written over its row
    handle.subscription.close()


def test_a_claim_that_cannot_reach_the_database_ends_the_waiting_stream(env, tmp_path):
    from sqlalchemy.orm import Session

    handle, task = _turn(env)
    unreachable = Session(sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'app.db'}"))  # no such directory

    with pytest.raises(run_claim.ClaimFailedError) as failed:
        run_execution_service.execute_chat_run(unreachable, runtime=env.runtime, **task)

    assert isinstance(failed.value.__cause__, sa.exc.OperationalError)
    assert [e.name for e in _events(handle)] == ["_failed"]
    assert _row(handle.message_id)[0] == "pending"  # nothing was claimed; the relay marks it failed
    handle.subscription.close()


def test_the_turn_carries_what_the_run_reads_of_the_message(env):
    handle, task = _turn(env)
    stored = db.session.get(Message, handle.message_id)

    message = run_claim.message_of(task["message_id"], task["task_id"], task["turn"])

    for name in (*run_claim.TURN_FIELDS, "id", "task_id", "created_at"):
        assert getattr(message, name) == getattr(stored, name), name
    handle.subscription.close()


def test_what_celery_shows_of_a_run_task_leaves_the_users_turn_out():
    from api.extensions.celery import CeleryDispatcher

    published = {}
    celery = types.SimpleNamespace(send_task=lambda name, **options: published.update(options, name=name),
                                   conf=types.SimpleNamespace(broker_transport_options={}))
    turn = {"query": "my card number is 4111", "inputs": {"secret": "x"}, "created_at": "2026-12-01T00:00:00"}

    CeleryDispatcher(celery, "amqp://").send(TaskName.EXECUTE_CHAT_RUN, "m-1", "t-1", {"history": False}, turn)

    assert published["args"] == ["m-1", "t-1", {"history": False}, turn]  # the worker gets all of it
    assert published["argsrepr"] == "['m-1', 't-1', {'history': False}, '…']"
    assert "4111" not in published["argsrepr"] + published["kwargsrepr"]


def test_a_second_delivery_leaves_the_running_deliverys_watch_alone(env):
    handle, task = _turn(env)
    db.session.execute(sa.update(Message).where(Message.id == handle.message_id).values(status="running"))
    db.session.commit()  # the first delivery runs it, in this process
    monitor = run_execution_service._monitor
    monitor.watch(handle.task_id, counters=env.runtime.counters, beat=lambda: None, interval=60)
    try:
        assert run_execution_service.execute_chat_run(db.session, runtime=env.runtime, **task) == "skipped"

        assert handle.task_id in monitor._runs  # its heartbeats and stop flag still watched
    finally:
        monitor.unwatch(handle.task_id)
        handle.subscription.close()
