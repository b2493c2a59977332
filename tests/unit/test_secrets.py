"""Which secrets each environment refuses (shared/tokens.py through Settings)."""

from __future__ import annotations

import secrets

import pytest

from shared.settings import DEV_TOKEN, Settings

STRONG = secrets.token_urlsafe(32)


@pytest.mark.parametrize(("field", "value", "variable"), [
    ("amqp_url", "amqp://prophoto:CHANGE-ME@rabbitmq:5672/", "PROPHOTO_AMQP_URL"),
    ("amqp_url", f"amqp://u:{STRONG}@a:5672/,amqp://u:change-me@b:5672/", "PROPHOTO_AMQP_URL"),
    ("database_url", "postgresql://prophoto:CHANGE-ME@postgres:5432/prophoto", "PROPHOTO_DATABASE_URL"),
    ("s3_secret_key", "CHANGE-ME", "PROPHOTO_S3_SECRET_KEY"),
    ("s3_secret_key", "minioadmin", "PROPHOTO_S3_SECRET_KEY"),
], ids=["amqp", "amqp-second-node", "database", "s3-change-me", "s3-minioadmin"])  # stable under xdist
def test_production_refuses_placeholder_passwords_for_broker_database_and_s3(
        field: str, value: str, variable: str) -> None:
    settings = Settings(env="production", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=variable):
        settings.refuse_placeholder_secrets()
    Settings(env="test", **{field: value}).refuse_placeholder_secrets()  # type: ignore[arg-type]


def test_production_takes_real_passwords() -> None:
    Settings(env="production", amqp_url=f"amqp://u:{STRONG}@a:5672/",
             database_url=f"postgresql://p:{STRONG}@db/prophoto",
             s3_secret_key=STRONG).refuse_placeholder_secrets()


@pytest.mark.parametrize("env", ["test", "production"])
def test_only_development_accepts_the_dev_token(env: str) -> None:
    settings = Settings(env=env, api_tokens=f"{DEV_TOKEN}=dev,{STRONG}=ann")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PROPHOTO_API_TOKENS"):
        settings.tokens()
    settings = Settings(env=env, api_tokens=f"{STRONG}=ann", admin_tokens=DEV_TOKEN)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PROPHOTO_ADMIN_TOKENS"):
        settings.operator_tokens()


def test_development_accepts_the_dev_token_only_while_listening_on_loopback() -> None:
    assert DEV_TOKEN in Settings(env="development").tokens()
    assert DEV_TOKEN in Settings(env="development", upload_host="::1").operator_tokens()
    for exposed in ({"upload_host": "0.0.0.0"}, {"tracing_host": "192.168.1.20"}):
        with pytest.raises(ValueError, match="loopback"):
            Settings(env="development", **exposed).tokens()  # type: ignore[arg-type]
    own = Settings(env="development", upload_host="0.0.0.0", api_tokens=f"{STRONG}=ann")
    assert own.tokens() == {STRONG: "ann"}  # real tokens may listen anywhere
