"""Background bookkeeping for API keys (ids and timestamps in, idempotent)."""

from celery import shared_task

from api.extensions.database import db
from api.services import service_auth_service
from api.services.dispatch import TaskName


@shared_task(name=TaskName.TOUCH_API_KEY, queue="default", acks_late=True, ignore_result=True,
             soft_time_limit=30, time_limit=60)
def touch_api_key_task(key_id: str, used_at: int) -> None:
    """Set api_tokens.last_used_at (never backwards)."""
    service_auth_service.touch_api_key(db.session, key_id=key_id, used_at=used_at)
