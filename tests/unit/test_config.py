"""Settings parsing: defaults, every contract variable, and one-line errors for bad values."""

from __future__ import annotations

import pytest

from escrowgrid.config import ConfigError, OnchainFailureMode, StoreBackend, load_settings
from escrowgrid.database import redact


def test_defaults_follow_the_contract() -> None:
    s = load_settings({})
    assert s.port == 4000
    assert s.store_backend is StoreBackend.EMBEDDED
    assert s.store_label == "postgres"
    assert s.database_url is None
    assert s.rate_limit.enabled and s.rate_limit.window_ms == 60_000
    assert s.rate_limit.max_requests == 1000
    assert s.cors_allowed_origins is None
    assert not s.public_docs_enabled
    assert s.onchain.max_retries == 3 and s.onchain.retry_delay_ms == 5000
    assert s.onchain.retry_worker_enabled and s.onchain.retry_batch_size == 10
    assert s.onchain.failure_mode is OnchainFailureMode.QUEUE


def test_every_contract_variable_is_read() -> None:
    s = load_settings(
        {
            "PORT": "5001",
            "STORE_BACKEND": "postgres",
            "DATABASE_URL": "postgresql://u:secret@db:5432/x",
            "ROOT_API_KEY": "0123456789abcdef0123",
            "ROOT_API_KEY_ALLOWED_IPS": "127.0.0.1, 10.0.0.0/8",
            "CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "PUBLIC_DOCS_ENABLED": "true",
            "RATE_LIMIT_ENABLED": "false",
            "RATE_LIMIT_WINDOW_MS": "1000",
            "RATE_LIMIT_MAX_REQUESTS": "5",
            "METRICS_ENABLED": "0",
            "ONCHAIN_LEDGER_ENABLED": "true",
            "ONCHAIN_RPC_URL": "http://127.0.0.1:8545",
            "ONCHAIN_PRIVATE_KEY": "0x" + "11" * 32,
            "ONCHAIN_CONTRACT_ADDRESS": "0x" + "22" * 20,
            "ONCHAIN_CHAIN_ID": "1337",
            "ONCHAIN_FAILURE_MODE": "fail",
            "ONCHAIN_MAX_RETRIES": "7",
            "ONCHAIN_RETRY_DELAY_MS": "10",
            "ONCHAIN_RETRY_WORKER_ENABLED": "no",
            "ONCHAIN_RETRY_BATCH_SIZE": "50",
        }
    )
    assert s.port == 5001 and s.store_backend is StoreBackend.POSTGRES
    assert s.root_api_key_allowed_ips == ("127.0.0.1", "10.0.0.0/8")
    assert s.cors_allowed_origins == ("https://a.example", "https://b.example")
    assert s.public_docs_enabled and not s.metrics_enabled
    assert (s.rate_limit.enabled, s.rate_limit.window_ms, s.rate_limit.max_requests) == (
        False,
        1000,
        5,
    )
    assert s.onchain.enabled and s.onchain.chain_id == 1337
    assert s.onchain.failure_mode is OnchainFailureMode.FAIL
    assert (s.onchain.max_retries, s.onchain.retry_delay_ms, s.onchain.retry_batch_size) == (
        7,
        10,
        50,
    )
    assert not s.onchain.retry_worker_enabled


def test_the_request_read_timeout_is_15_s_unless_set() -> None:
    assert load_settings({}).request_read_timeout_ms == 15_000
    assert load_settings({"REQUEST_READ_TIMEOUT_MS": "2000"}).request_read_timeout_ms == 2000


def test_memory_backend_reports_memory() -> None:
    assert load_settings({"STORE_BACKEND": "memory"}).store_label == "memory"


@pytest.mark.parametrize(
    ("env", "variable", "accepted"),
    [
        ({"PORT": "abc"}, "PORT", "integer"),
        ({"PORT": "70000"}, "PORT", "65535"),
        ({"STORE_BACKEND": "mongo"}, "STORE_BACKEND", "postgres, memory"),
        ({"RATE_LIMIT_MAX_REQUESTS": "-1"}, "RATE_LIMIT_MAX_REQUESTS", ">= 1"),
        ({"RATE_LIMIT_WINDOW_MS": "1.5"}, "RATE_LIMIT_WINDOW_MS", "integer"),
        ({"STORE_BACKEND": "postgres"}, "DATABASE_URL", "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL", "postgresql://"),
        ({"PUBLIC_DOCS_ENABLED": "maybe"}, "PUBLIC_DOCS_ENABLED", "true, false"),
        ({"ROOT_API_KEY_ALLOWED_IPS": "1.2.3.4,nope"}, "ROOT_API_KEY_ALLOWED_IPS", "CIDR"),
        ({"ROOT_API_KEY": "short"}, "ROOT_API_KEY", "16 characters"),
        ({"ONCHAIN_FAILURE_MODE": "retry"}, "ONCHAIN_FAILURE_MODE", "queue, fail"),
        ({"ONCHAIN_LEDGER_ENABLED": "true"}, "ONCHAIN_RPC_URL", "required"),
        ({"NODE_ENV": "production"}, "ROOT_API_KEY", "required"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "debug, info"),
        ({"REQUEST_READ_TIMEOUT_MS": "10"}, "REQUEST_READ_TIMEOUT_MS", ">= 100"),
    ],
)
def test_bad_values_name_the_variable_and_what_is_accepted(
    env: dict[str, str], variable: str, accepted: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert variable in message
    assert accepted in message
    assert "\n" not in message


def test_redact_hides_the_password_only() -> None:
    shown = redact("postgresql://app:s3cr3t@db.internal:5432/ledger")
    assert "s3cr3t" not in shown
    assert "db.internal" in shown and "ledger" in shown


def test_replica_is_optional_and_validated() -> None:
    assert load_settings({}).replica.url is None
    s = load_settings(
        {
            "DATABASE_URL": "postgresql://u@primary/x",
            "DATABASE_REPLICA_URL": "postgresql://u@standby/x",
            "DATABASE_REPLICA_MAX_LAG_MS": "250",
        }
    )
    assert s.replica.url == "postgresql://u@standby/x"
    assert s.replica.max_lag_ms == 250 and s.replica.max_lag == 0.25
    assert load_settings({"DATABASE_REPLICA_URL": "postgresql://u@s/x"}).replica.max_lag_ms == 500
    with pytest.raises(ConfigError, match=r"^DATABASE_REPLICA_URL is not a PostgreSQL URL"):
        load_settings({"DATABASE_REPLICA_URL": "mysql://x"})
    with pytest.raises(ConfigError, match=r"^DATABASE_REPLICA_MAX_LAG_MS='0' is not valid"):
        load_settings({"DATABASE_REPLICA_MAX_LAG_MS": "0"})


def test_the_publishers_retry_worker_anchor_timer_and_metrics_port() -> None:
    s = load_settings({})
    assert s.onchain.retry_cooldown_ms == 300_000
    assert s.onchain.anchor_interval_seconds == 0
    assert s.onchain.metrics_port == 4001
    s = load_settings(
        {
            "ONCHAIN_RETRY_COOLDOWN_MS": "2500",
            "ONCHAIN_ANCHOR_INTERVAL_SECONDS": "60",
            "ONCHAIN_METRICS_PORT": "0",
        }
    )
    assert (s.onchain.retry_cooldown_ms, s.onchain.anchor_interval_seconds) == (2500, 60)
    assert s.onchain.metrics_port == 0
    with pytest.raises(ConfigError, match="ONCHAIN_METRICS_PORT"):
        load_settings({"ONCHAIN_METRICS_PORT": "70000"})
    with pytest.raises(ConfigError, match="ONCHAIN_ANCHOR_INTERVAL_SECONDS"):
        load_settings({"ONCHAIN_ANCHOR_INTERVAL_SECONDS": "-1"})
