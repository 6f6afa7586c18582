"""Typed settings read once from the environment at start-up."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import msgspec

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


class ConfigError(Exception):
    """A bad configuration value; its message is one line naming the variable."""


class StoreBackend(StrEnum):
    EMBEDDED = "embedded"  # unset: private cluster in the data folder, or DATABASE_URL when given
    POSTGRES = "postgres"
    MEMORY = "memory"


class OnchainFailureMode(StrEnum):
    QUEUE = "queue"
    FAIL = "fail"


class OnchainSettings(msgspec.Struct, frozen=True):
    enabled: bool = False
    rpc_url: str | None = None
    private_key: str | None = None
    contract_address: str | None = None
    chain_id: int | None = None
    failure_mode: OnchainFailureMode = OnchainFailureMode.QUEUE
    max_retries: int = 3
    retry_delay_ms: int = 5000
    retry_worker_enabled: bool = True  # revive failed events after retry_cooldown_ms
    retry_cooldown_ms: int = 300_000
    retry_batch_size: int = 10
    confirmations: int = 1  # blocks, counting the one holding the record
    max_lag_events: int = 1000  # failure mode `fail`: refuse on-chain commands beyond this
    anchor_interval: int = 1000  # events between ledger digests anchored on chain; 0: none
    # Also anchor once the oldest event not yet under an anchor is this old; 0: by count only.
    anchor_interval_seconds: int = 0
    metrics_port: int = 4001  # `escrowgrid onchain run` serves /metrics here; 0: none


class ReplicaSettings(msgspec.Struct, frozen=True):
    """An optional streaming replica for the read side (docs/architecture.md, "Read replicas")."""

    # DATABASE_REPLICA_URL: queries (GET routes) go there; commands, auth and followers never.
    url: str | None = None
    # DATABASE_REPLICA_MAX_LAG_MS: the most a command waits for the replica to replay its
    # effects, and the oldest proof of freshness a read may rely on; beyond: the primary.
    max_lag_ms: int = 500

    @property
    def max_lag(self) -> float:
        return self.max_lag_ms / 1000


class RateLimitSettings(msgspec.Struct, frozen=True):
    enabled: bool = True
    window_ms: int = 60_000
    max_requests: int = 1000


class Settings(msgspec.Struct, frozen=True):
    port: int = 4000
    host: str = "0.0.0.0"  # noqa: S104 - a server binds all interfaces by default, like the old service
    store_backend: StoreBackend = StoreBackend.EMBEDDED
    database_url: str | None = None
    replica: ReplicaSettings = ReplicaSettings()
    root_api_key: str | None = None
    root_api_key_allowed_ips: tuple[str, ...] = ()
    cors_allowed_origins: tuple[str, ...] | None = None
    public_docs_enabled: bool = False
    rate_limit: RateLimitSettings = RateLimitSettings()
    metrics_enabled: bool = True
    production: bool = False
    data_dir: Path = Path(".data")
    workers: int = 1
    # A request head (Granian) and a request body (the app) must arrive within this.
    request_read_timeout_ms: int = 15_000
    log_level: str = "info"
    projections_inline: bool = True
    onchain: OnchainSettings = OnchainSettings()

    @property
    def store_label(self) -> str:
        """What /health reports as storeBackend."""
        return "memory" if self.store_backend is StoreBackend.MEMORY else "postgres"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; accepted: true, false, 1, 0, yes, no")


def _int_parser(lo: int, hi: int | None = None) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip(), 10)
        except ValueError:
            value = None
        upper = "" if hi is None else f" and <= {hi}"
        if value is None or value < lo or (hi is not None and value > hi):
            raise ConfigError(f"{name}={raw!r} is not valid; accepted: an integer >= {lo}{upper}")
        return value

    return parse


def _choice(choices: type[E]) -> Callable[[str, str], E]:
    def parse(name: str, raw: str) -> E:
        value = raw.strip().lower()
        for member in choices:
            if member.value == value:
                return member
        accepted = ", ".join(m.value for m in choices)
        raise ConfigError(f"{name}={raw!r} is not valid; accepted: {accepted}")

    return parse


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _ips(name: str, raw: str) -> tuple[str, ...]:
    items = _csv(raw)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"{name} holds {item!r}; accepted: a comma-separated list of IP addresses or CIDRs"
            ) from None
    return items


def _database_url(name: str, raw: str) -> str:
    value = raw.strip()
    if not value.startswith(("postgresql://", "postgres://")) and "=" not in value:
        raise ConfigError(
            f"{name} is not a PostgreSQL URL; accepted: postgresql://user:pass@host:port/db"
        )
    return value


class _Reader:
    """Reads typed values from an environment mapping with one-line errors."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, parse: Callable[[str, str], T], default: T) -> T:
        raw = self.env.get(name)
        if raw is None or (raw.strip() == "" and parse is not _bool):
            return default
        return parse(name, raw)


def _str(name: str, raw: str) -> str:
    return raw.strip()


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (os.environ by default); raise ConfigError if bad."""
    r = _Reader(os.environ if env is None else env)
    backend_raw = r.get("STORE_BACKEND", _str, "")
    backend = (
        StoreBackend.EMBEDDED
        if backend_raw == ""
        else _choice_backend("STORE_BACKEND", backend_raw)
    )
    database_url = r.get("DATABASE_URL", _database_url, None)
    if backend is StoreBackend.POSTGRES and database_url is None:
        raise ConfigError(
            "STORE_BACKEND=postgres needs DATABASE_URL; accepted: set DATABASE_URL, "
            "or leave STORE_BACKEND unset for the embedded PostgreSQL, or use memory"
        )
    env_name = r.get("ESCROWGRID_ENV", _str, "") or r.get("NODE_ENV", _str, "development")
    production = env_name.lower() == "production"
    cors_raw = r.get("CORS_ALLOWED_ORIGINS", _str, None)
    root_key = r.get("ROOT_API_KEY", _str, None)
    if root_key is not None and len(root_key) < 16:
        raise ConfigError("ROOT_API_KEY is too short; accepted: a secret of at least 16 characters")
    if production and root_key is None:
        raise ConfigError("ROOT_API_KEY is required when ESCROWGRID_ENV=production")
    log_level = r.get("LOG_LEVEL", _str, "info").lower()
    if log_level not in {"debug", "info", "warning", "error"}:
        raise ConfigError(
            f"LOG_LEVEL={log_level!r} is not valid; accepted: debug, info, warning, error"
        )
    onchain = OnchainSettings(
        enabled=r.get("ONCHAIN_LEDGER_ENABLED", _bool, False),
        rpc_url=r.get("ONCHAIN_RPC_URL", _str, None),
        private_key=r.get("ONCHAIN_PRIVATE_KEY", _str, None),
        contract_address=r.get("ONCHAIN_CONTRACT_ADDRESS", _str, None),
        chain_id=r.get("ONCHAIN_CHAIN_ID", _int_parser(1), None),
        failure_mode=OnchainFailureMode(
            r.get("ONCHAIN_FAILURE_MODE", _choice(OnchainFailureMode), OnchainFailureMode.QUEUE)
        ),
        max_retries=r.get("ONCHAIN_MAX_RETRIES", _int_parser(0, 100), 3),
        retry_delay_ms=r.get("ONCHAIN_RETRY_DELAY_MS", _int_parser(0), 5000),
        retry_worker_enabled=r.get("ONCHAIN_RETRY_WORKER_ENABLED", _bool, True),
        retry_cooldown_ms=r.get("ONCHAIN_RETRY_COOLDOWN_MS", _int_parser(0), 300_000),
        retry_batch_size=r.get("ONCHAIN_RETRY_BATCH_SIZE", _int_parser(1, 10_000), 10),
        confirmations=r.get("ONCHAIN_CONFIRMATIONS", _int_parser(1, 1000), 1),
        max_lag_events=r.get("ONCHAIN_MAX_LAG_EVENTS", _int_parser(0), 1000),
        anchor_interval=r.get("ONCHAIN_ANCHOR_INTERVAL", _int_parser(0), 1000),
        anchor_interval_seconds=r.get("ONCHAIN_ANCHOR_INTERVAL_SECONDS", _int_parser(0), 0),
        metrics_port=r.get("ONCHAIN_METRICS_PORT", _int_parser(0, 65535), 4001),
    )
    if onchain.enabled:
        for name, value in (
            ("ONCHAIN_RPC_URL", onchain.rpc_url),
            ("ONCHAIN_PRIVATE_KEY", onchain.private_key),
            ("ONCHAIN_CONTRACT_ADDRESS", onchain.contract_address),
        ):
            if not value:
                raise ConfigError(f"{name} is required when ONCHAIN_LEDGER_ENABLED=true")
    return Settings(
        port=r.get("PORT", _int_parser(1, 65535), 4000),
        host=r.get("HOST", _str, "0.0.0.0"),  # noqa: S104
        store_backend=backend,
        database_url=database_url,
        replica=ReplicaSettings(
            url=r.get("DATABASE_REPLICA_URL", _database_url, None),
            max_lag_ms=r.get("DATABASE_REPLICA_MAX_LAG_MS", _int_parser(1, 60_000), 500),
        ),
        root_api_key=root_key,
        root_api_key_allowed_ips=r.get("ROOT_API_KEY_ALLOWED_IPS", _ips, ()),
        cors_allowed_origins=None if cors_raw is None else _csv(cors_raw),
        public_docs_enabled=r.get("PUBLIC_DOCS_ENABLED", _bool, False),
        rate_limit=RateLimitSettings(
            enabled=r.get("RATE_LIMIT_ENABLED", _bool, True),
            window_ms=r.get("RATE_LIMIT_WINDOW_MS", _int_parser(1), 60_000),
            max_requests=r.get("RATE_LIMIT_MAX_REQUESTS", _int_parser(1), 1000),
        ),
        metrics_enabled=r.get("METRICS_ENABLED", _bool, True),
        production=production,
        data_dir=Path(r.get("ESCROWGRID_DATA_DIR", _str, ".data")),
        workers=r.get("WEB_CONCURRENCY", _int_parser(1, 64), 1),
        request_read_timeout_ms=r.get(
            "REQUEST_READ_TIMEOUT_MS", _int_parser(100, 3_600_000), 15_000
        ),
        log_level=log_level,
        projections_inline=r.get("PROJECTIONS_INLINE", _bool, True),
        onchain=onchain,
    )


def _choice_backend(name: str, raw: str) -> StoreBackend:
    value = raw.strip().lower()
    if value in {StoreBackend.POSTGRES.value, StoreBackend.MEMORY.value}:
        return StoreBackend(value)
    raise ConfigError(f"{name}={raw!r} is not valid; accepted: postgres, memory (or unset)")
