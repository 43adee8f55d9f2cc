"""String enums persisted in columns; values are Dify's wire values."""

from enum import StrEnum


class AccountStatus(StrEnum):
    PENDING = "pending"
    UNINITIALIZED = "uninitialized"
    ACTIVE = "active"
    BANNED = "banned"
    CLOSED = "closed"


class TenantStatus(StrEnum):
    NORMAL = "normal"
    ARCHIVE = "archive"


class TenantRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    NORMAL = "normal"
    DATASET_OPERATOR = "dataset_operator"


class AppMode(StrEnum):
    COMPLETION = "completion"
    WORKFLOW = "workflow"
    CHAT = "chat"
    ADVANCED_CHAT = "advanced-chat"
    AGENT_CHAT = "agent-chat"


CHAT_MODES = (AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.ADVANCED_CHAT)
MODEL_CONFIG_MODES = (AppMode.CHAT, AppMode.AGENT_CHAT, AppMode.COMPLETION)


class IconType(StrEnum):
    IMAGE = "image"
    EMOJI = "emoji"
    LINK = "link"


class ApiTokenType(StrEnum):
    APP = "app"
    DATASET = "dataset"


class CreatorRole(StrEnum):
    ACCOUNT = "account"
    END_USER = "end_user"
