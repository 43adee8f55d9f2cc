"""Generation tasks (queue `run`). LLM runs are not idempotent: no retries; the service claims the message
(pending → running), so a duplicate delivery is a no-op, and every failure ends in a terminal `error` event
and an `error` row instead of a retry. The run task is acked when it ends, not when it starts: the ack is a
broker round trip that would otherwise sit between the delivery and the model call (a redelivery after a
worker crash finds the message claimed and does nothing)."""

from typing import Any

from celery import shared_task

from api.extensions.celery import quiet_task_logs
from api.extensions.database import db
from api.extensions.runtime import get_runtime
from api.services import conversation_service, run_execution_service
from api.services.dispatch import TaskName

quiet_task_logs(TaskName.EXECUTE_CHAT_RUN)  # one per chat turn: the access log and the message row record it


@shared_task(name=TaskName.EXECUTE_CHAT_RUN, queue="run", acks_late=True, ignore_result=True,
             soft_time_limit=1200, time_limit=1260)
def execute_chat_run_task(message_id: str, task_id: str, hints: dict[str, bool] | None = None,
                          turn: dict[str, Any] | None = None) -> str:
    """Generate the answer of one pending message and stream it to the run's topic."""
    return run_execution_service.execute_chat_run(db.session, runtime=get_runtime(), message_id=message_id,
                                                  task_id=task_id, hints=hints, turn=turn)


@shared_task(name=TaskName.GENERATE_CONVERSATION_NAME, queue="run", ignore_result=True, soft_time_limit=60)
def generate_conversation_name_task(conversation_id: str) -> None:
    """Replace a new conversation's provisional name with a model-generated title."""
    conversation_service.generate_name_task(db.session, runtime=get_runtime(), conversation_id=conversation_id)


@shared_task(name=TaskName.EXPIRE_STALE_RUNS, queue="default", ignore_result=True, soft_time_limit=120)
def expire_stale_runs_task() -> None:
    """Periodic: turn runs orphaned by a dead worker (and no listening client) into errors."""
    run_execution_service.expire_stale_runs(db.session)
