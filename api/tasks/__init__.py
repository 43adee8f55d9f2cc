"""Celery task modules; the worker imports those listed in api.extensions.celery.TASK_MODULES."""
