"""Every model module, imported so Alembic autogenerate sees the whole schema. No logic here."""

from api.models import account, app, conversation, dataset, file, provider, tag  # noqa: F401
from api.models.base import Base  # noqa: F401
