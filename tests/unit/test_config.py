import pytest

from api.config import ConfigError, load_settings

STRONG = "k" * 48


def test_load_settings_defaults_to_embedded_sqlite_under_storage_dir(tmp_path):
    settings = load_settings({"STORAGE_DIR": str(tmp_path)})

    assert settings.database_url == f"sqlite:///{tmp_path}/app.db"
    assert not settings.distributed
    assert settings.vector_store == "embedded"


def test_load_settings_generates_secret_once_in_embedded_mode(tmp_path):
    first = load_settings({"STORAGE_DIR": str(tmp_path)}).secret_key
    second = load_settings({"STORAGE_DIR": str(tmp_path)}).secret_key

    assert first == second
    assert len(first) >= 32
    assert (tmp_path / ".secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("name", "value"), [
    ("UPLOAD_FILE_SIZE_LIMIT", "abc"), ("UPLOAD_FILE_SIZE_LIMIT", "0"), ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
    ("LOG_LEVEL", "loud"), ("VECTOR_STORE", "milvus"), ("REDIS_URL", "http://x"), ("DATABASE_URL", "mysql://x"),
    ("STORAGE_TYPE", "ftp"), ("API_KEY_CACHE_TTL", "9999"),
])
def test_load_settings_rejects_bad_value_naming_the_variable(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({"STORAGE_DIR": str(tmp_path), "SECRET_KEY": STRONG, name: value})


@pytest.mark.parametrize("secret", ["", "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U", "changeme", "short-key"])
def test_load_settings_refuses_missing_or_well_known_secret_in_distributed_mode(tmp_path, secret):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({"STORAGE_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": secret})


def test_load_settings_uses_psycopg2_and_pgvector_for_postgres_urls(tmp_path):
    settings = load_settings({"STORAGE_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@h/db",
                              "REDIS_URL": "redis://h:6379/0", "SECRET_KEY": STRONG})

    assert settings.database_url == "postgresql+psycopg2://u@h/db"
    assert settings.vector_store == "pgvector"
    assert settings.celery_broker_url == "redis://h:6379/0"
    assert settings.distributed


def test_config_error_message_does_not_echo_url_password(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings({"STORAGE_DIR": str(tmp_path), "DATABASE_URL": "mysql://user:hunter2@host/db"})

    assert "hunter2" not in str(info.value)
