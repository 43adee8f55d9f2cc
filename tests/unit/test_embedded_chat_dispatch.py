"""A chat turn whose task cannot be queued: 503 before any stream starts, the message ends `error`, the slot is free.

Embedded app (SQLite) over Flask's test client; the runtime's dispatcher is swapped for one whose broker refuses
every publish. The model is the fake OpenAI-compatible server (the console validates it with a real call).
"""

import dataclasses
import types

import pytest

from api.models.conversation import Message
from api.services.dispatch import TaskName
from tests.conftest import embedded_app
from tests.e2e.chat_support import Stack
from tests.helpers import Console, body


class _BrokerDown:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, task_name: str, *args: object) -> None:
        self.sent.append(str(task_name))
        raise ConnectionRefusedError("broker unreachable")


@pytest.fixture
def app(tmp_path):
    return embedded_app(tmp_path)


@pytest.mark.parametrize("response_mode", ["streaming", "blocking"])
def test_a_turn_that_cannot_be_queued_is_a_503_and_leaves_nothing_pending(app, llm, response_mode):
    client = app.test_client()
    console = Console(client)
    stack = Stack(types.SimpleNamespace(mode="embedded", base_url=""), client, console, console.setup_owner())
    chat_app = stack.create_app(llm, model="queue-down")
    stack.set_limits(chat_app, max_active_requests=1)
    broker = _BrokerDown()
    app.extensions["runtime"] = dataclasses.replace(app.extensions["runtime"], dispatcher=broker)
    headers = {"Authorization": f"Bearer {chat_app.key}"}

    answers = [client.post("/v1/chat-messages", headers=headers, json={
        "query": "hello", "inputs": {}, "user": "u1", "response_mode": response_mode}) for _ in range(2)]

    assert [a.status_code for a in answers] == [503, 503]  # the first one gave its active-request slot back
    assert body(answers[0]) == {"code": "service_unavailable", "message": "The request could not be queued.",
                                "status": 503}
    assert answers[0].headers["Retry-After"] == "1"
    # both turns were offered to the broker; so was the key's last-used update, whose failure is not the request's
    assert broker.sent.count(TaskName.EXECUTE_CHAT_RUN) == 2
    assert TaskName.TOUCH_API_KEY in broker.sent
    with app.app_context():
        from api.extensions.database import db

        rows = db.session.query(Message.status, Message.error).all()
    assert rows == [("error", "The request could not be queued.")] * 2


def test_a_run_whose_claim_fails_tells_the_waiting_stream_at_once(app, tmp_path):
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from api.extensions import redis_keys
    from api.libs.sse import RawEvent
    from api.services import run_claim, run_execution_service

    runtime = app.extensions["runtime"]
    subscription = runtime.broadcaster.topic(redis_keys.run_topic("task-1")).subscribe()
    unreachable = Session(sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'app.db'}"))  # no such directory

    with app.app_context(), pytest.raises(run_claim.ClaimFailedError) as failed:
        run_execution_service.execute_chat_run(unreachable, runtime=runtime, message_id="m-1", task_id="task-1")

    assert isinstance(failed.value.__cause__, sa.exc.OperationalError)

    assert RawEvent.of(subscription.receive(timeout=2)).name == "_failed"  # the relay ends the stream with an error
    subscription.close()
