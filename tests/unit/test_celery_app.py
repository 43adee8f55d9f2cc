"""The Celery app's policies: per-task INFO lines dropped for quiet tasks (the chat run), routes by task name.
Real Celery tracing (`Task.apply`), loggers and router."""

import logging

import pytest
from celery import Celery
from celery.app import trace

import api.tasks.run_tasks  # noqa: F401  (marks the chat-run task quiet)
from api.extensions.celery import ROUTES, quiet_task_logs
from api.services.dispatch import TaskName

quiet_task_logs("tests.quiet")


@pytest.fixture(scope="module")
def tasks():
    celery = Celery("quiet-logs", broker="memory://")

    @celery.task(name="tests.quiet")
    def quiet(fail: bool = False) -> str:
        if fail:
            raise ValueError("model exploded")
        return "done"

    @celery.task(name="tests.loud")
    def loud() -> str:
        return "indexed"

    return celery.tasks


def _trace_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "celery.app.trace"]


def test_a_quiet_task_logs_no_success_line(tasks, caplog):
    caplog.set_level(logging.INFO)
    assert tasks["tests.quiet"].apply().get() == "done"
    assert _trace_records(caplog) == []


def test_other_tasks_keep_their_success_line(tasks, caplog):
    caplog.set_level(logging.INFO)
    assert tasks["tests.loud"].apply().get() == "indexed"
    messages = [record.getMessage() for record in _trace_records(caplog)]
    assert len(messages) == 1
    assert "tests.loud" in messages[0]
    assert "succeeded" in messages[0]


def test_a_quiet_task_still_logs_its_failure(tasks, caplog):
    caplog.set_level(logging.INFO)
    result = tasks["tests.quiet"].apply(kwargs={"fail": True})
    assert result.failed()
    records = _trace_records(caplog)
    assert [record.levelno for record in records] == [logging.ERROR]
    assert "model exploded" in records[0].getMessage()


@pytest.mark.parametrize(("name", "logged"), [(TaskName.EXECUTE_CHAT_RUN, False),
                                              (TaskName.INDEX_DOCUMENT, True)])
def test_the_chat_run_task_is_quiet(name, logged, caplog):
    caplog.set_level(logging.INFO)
    context = {"id": "1", "name": str(name), "return_value": None, "runtime": 0.1, "args": "", "kwargs": ""}
    trace.info(trace.LOG_SUCCESS, context)
    assert len(_trace_records(caplog)) == int(logged)


@pytest.mark.parametrize(("name", "queue"), [
    (TaskName.EXECUTE_CHAT_RUN, "run"),
    (TaskName.GENERATE_CONVERSATION_NAME, "run"),
    (TaskName.EXPIRE_STALE_RUNS, "default"),
    (TaskName.INDEX_DOCUMENT, "dataset"),
    (TaskName.TOUCH_API_KEY, "default"),
])
def test_tasks_sent_by_name_reach_their_queue(name, queue):
    celery = Celery("routes", broker="memory://")
    celery.conf.update(task_routes=ROUTES, task_default_queue="default")
    assert celery.amqp.router.route({}, str(name))["queue"].name == queue
