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


def run_stop_flag(task_id: str) -> str:
    return f"run:stop:{task_id}"


def app_rpm(app_id: str, window: int) -> str:
    return f"rate_limit:rpm:{app_id}:{window}"


def app_rph(app_id: str, window: int) -> str:
    return f"rate_limit:rph:{app_id}:{window}"


def app_active_requests(app_id: str) -> str:
    return f"rate_limit:active:{app_id}"


def cache_model_config(config_id: str) -> str:
    return f"cache:model_config:{config_id}"


def cache_credentials(tenant_id: str, provider: str) -> str:
    return f"cache:credentials:{tenant_id}:{provider}"
