"""Every Redis key and channel name, built only here: `<domain>:<purpose>:<id>`."""

CACHE_INVALIDATION_CHANNEL = "cache:invalidate:all"


def login_failures_account(email: str) -> str:
    return f"auth:login_failures:account:{email}"


def login_failures_ip(ip: str) -> str:
    return f"auth:login_failures:ip:{ip}"


def api_key_touch(token_id: str) -> str:
    return f"api_key:touched:{token_id}"


def run_topic(task_id: str) -> str:
    return f"run:events:{task_id}"


def cache_api_key(token_digest: str) -> str:
    return f"cache:api_key:{token_digest}"


def cache_app(app_id: str) -> str:
    return f"cache:app:{app_id}"
