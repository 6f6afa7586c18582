"""`escrowgrid bench onchain`: the on-chain publisher's throughput on anvil, and its lag under load.

1. Throughput: a private PostgreSQL holds `--events` eligible events (positions opened and
   funded on an on-chain template, queued by the outbox projection); for each batch size a fresh
   EscrowLedger is deployed on anvil (automine), the queue is reset and the sender publishes it
   all. Events/s from the sender's start to the last confirmation, one sender as in production.
2. Lag under load: `escrowgrid serve` and `escrowgrid onchain run` (its own process, as in the
   compose stack) on another private PostgreSQL and anvil, while the phases of `escrowgrid bench
   http` (creates, moves, reads) run against an on-chain template. Per event, the time from its
   commit to its confirmation on chain; the queue's largest backlog; how long it drains after.
"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from eth_account import Account
from hexbytes import HexBytes

from escrowgrid import bootstrap
from escrowgrid.application.context import ROOT, CommandContext
from escrowgrid.bench import http
from escrowgrid.bench.stats import Sample
from escrowgrid.config import OnchainSettings
from escrowgrid.embedded_pg import EmbeddedPostgres
from escrowgrid.migrations import migrate
from escrowgrid.onchain.client import ChainClient
from escrowgrid.onchain.devnode import ANVIL_KEY, CHAIN_ID, Anvil
from escrowgrid.onchain.publisher import Publisher
from escrowgrid.onchain.sender import Sender

# In automine every transaction is a block of its own: a batch of 50 events (about 23M gas) is
# above the 15M target of anvil's default 30M block, so each one raises the EIP-1559 base fee by
# an eighth, and a long run makes the fee unpayable ("Insufficient funds"). The bench measures
# the publisher, not a fee market: blocks ten times larger keep every batch under the target.
GAS_LIMIT = 300_000_000
ONCHAIN_TEMPLATE: dict[str, Any] = {
    "currency": "USD",
    "region": "US",
    "onchain": {"enabled": True, "chainId": CHAIN_ID},
}
_RESET = """
UPDATE onchain_outbox SET status = 'pending', attempts = 0, last_error = NULL,
    next_attempt_at = now(), tx_hash = NULL, sent_at = NULL, block_number = NULL,
    block_hash = NULL, published_at = NULL
"""
_OPEN = "SELECT count(*) FROM onchain_outbox WHERE status <> 'published'"
_QUEUED = "SELECT count(*) FROM onchain_outbox"
_READY = "SELECT coalesce((SELECT reachable FROM onchain_health), false)"
_TRACKED = "SELECT position FROM projection_tracking WHERE name = 'onchain_outbox'"
_BACKLOG = f"""
SELECT ({_OPEN}) + greatest(0, (SELECT coalesce(max(position), 0) FROM events)
    - coalesce(({_TRACKED}), 0))
"""  # noqa: S608 - our own constants
# Commit to confirmation, per event (recorded_at is the commit's clock, published_at the sender's
# on the same database server).
_LAGS = """
SELECT extract(epoch FROM o.published_at - e.recorded_at)
FROM onchain_outbox AS o JOIN events AS e ON e.position = o.log_position
WHERE o.status = 'published'
"""


@dataclass(frozen=True)
class OnchainBenchConfig:
    events: int = 300  # eligible events for each throughput row
    batches: tuple[int, ...] = (1, 10, 50)
    load_seconds: float = 10.0  # each phase of the HTTP load (bench http's default)
    load_concurrency: int = 16
    load_batch: int = 50  # ONCHAIN_RETRY_BATCH_SIZE of the publisher under load
    workers: int = 2


@dataclass(frozen=True)
class Throughput:
    batch: int
    events: int
    seconds: float
    transactions: int
    gas: int  # used by all the batch size's transactions

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


def run(config: OnchainBenchConfig, data_root: Path) -> str:
    data_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-onchain-", dir=data_root))
    try:
        rows = _throughput(config, folder / "throughput")
        load = _under_load(config, folder / "load")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the chains' state files, the service's folder
    return _report(config, rows, load)


# -- 1. throughput ----------------------------------------------------------------------------


def _throughput(config: OnchainBenchConfig, folder: Path) -> list[Throughput]:
    folder.mkdir(parents=True)
    pg = EmbeddedPostgres(folder / "pg")
    pg.start()
    anvil = Anvil(folder / "anvil.log", gas_limit=GAS_LIMIT).start()
    try:
        migrate(pg.dsn)
        asyncio.run(_seed(pg.dsn, config.events))
        asyncio.run(_queue_all(pg.dsn))
        return [asyncio.run(_publish_all(pg.dsn, anvil, batch)) for batch in config.batches]
    finally:
        anvil.stop()
        pg.destroy()


async def _seed(dsn: str, events: int) -> None:
    """Positions opened and funded under an on-chain template: `events` eligible events."""
    ctx = CommandContext(ROOT)
    async with bootstrap.running(dsn) as wired:
        ledger = wired.ledger
        inst = await ledger.register_institution(ctx, name="Bench Bank", regions=["US"])
        assert inst.value is not None
        tmpl = await ledger.define_template(
            ctx, inst.value.id, code="CONSTR_ESCROW", name="On chain", vertical="CONSTRUCTION",
            region="US", config=ONCHAIN_TEMPLATE,
        )  # fmt: skip
        assert tmpl.value is not None
        asset = await ledger.register_asset(
            ctx, inst.value.id, template_id=tmpl.value.id, label="A"
        )
        assert asset.value is not None

        async def one() -> None:
            assert inst.value is not None and asset.value is not None
            opened = await ledger.open_position(
                ctx, inst.value.id, asset_id=asset.value.id, holder_reference="h",
                currency="USD", amount=Decimal("100.00"),
            )  # fmt: skip
            assert opened.value is not None
            await ledger.move_position(ctx, opened.value.id, to_state="FUNDED")

        for start in range(0, (events + 1) // 2, 16):
            await asyncio.gather(*(one() for _ in range(min(16, (events + 1) // 2 - start))))


async def _queue_all(dsn: str) -> None:
    """Run the outbox projection until every eligible event is queued."""
    settings = OnchainSettings(enabled=True, chain_id=CHAIN_ID, anchor_interval=0)
    publisher = Publisher(dsn, settings, client=_no_chain, poll_interval=0.05, lock_interval=0.1)
    await publisher.outbox.start()
    try:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            cur = await conn.execute("SELECT max(position) FROM events")
            head = (await cur.fetchone() or (0,))[0]
            await _until(conn, _TRACKED, lambda v: v is not None and v >= head)
    finally:
        await publisher.outbox.stop()


def _no_chain() -> ChainClient:
    raise RuntimeError("the outbox projection alone: no sender")


async def _publish_all(dsn: str, anvil: Anvil, batch: int) -> Throughput:
    address = await asyncio.to_thread(ChainClient.connect(anvil.url, ANVIL_KEY).deploy)
    settings = OnchainSettings(
        enabled=True, rpc_url=anvil.url, private_key=ANVIL_KEY, contract_address=address,
        chain_id=CHAIN_ID, retry_batch_size=batch, anchor_interval=0, retry_delay_ms=100,
    )  # fmt: skip
    before = await asyncio.to_thread(_sent, anvil)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(_RESET)
        cur = await conn.execute(_QUEUED)
        events = int((await cur.fetchone() or (0,))[0])
        sender = Sender(dsn, settings, lambda: ChainClient.connect(anvil.url, ANVIL_KEY, address))
        started = time.perf_counter()
        task = asyncio.create_task(sender.run())
        try:
            await _until(conn, _OPEN, lambda v: v == 0, poll=0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        seconds = time.perf_counter() - started
        cur = await conn.execute("SELECT DISTINCT tx_hash FROM onchain_outbox")
        hashes = [bytes(r[0]) for r in await cur.fetchall()]
    after = await asyncio.to_thread(_sent, anvil)
    gas = await asyncio.to_thread(_gas_used, anvil, hashes)
    return Throughput(batch, events, seconds, after - before, gas)


def _gas_used(anvil: Anvil, hashes: list[bytes]) -> int:
    w3 = ChainClient.connect(anvil.url, ANVIL_KEY).w3
    return sum(int(w3.eth.get_transaction_receipt(HexBytes(h))["gasUsed"]) for h in hashes)


def _sent(anvil: Anvil) -> int:
    """Transactions the sender account has had mined (its nonce)."""
    sender = Account.from_key(ANVIL_KEY).address
    return int(str(anvil.rpc("eth_getTransactionCount", sender, "latest")), 16)


async def _until(
    conn: psycopg.AsyncConnection[Any],
    query: str,
    done: Callable[[Any], bool],
    *,
    poll: float = 0.1,
    seconds: float = 900,
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        cur = await conn.execute(query)
        row = await cur.fetchone()
        if done(None if row is None else row[0]):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for: {query.strip()}")
        await asyncio.sleep(poll)


# -- 2. lag under the HTTP benchmark's load --------------------------------------------------


@dataclass
class Load:
    phases: list[http.Phase]
    events: int
    backlog_max: int
    backlog_at_end: int
    drain_seconds: float
    lags: list[float]


def _under_load(config: OnchainBenchConfig, folder: Path) -> Load:
    folder.mkdir(parents=True)
    pg = EmbeddedPostgres(folder / "pg")
    pg.start()
    anvil = Anvil(folder / "anvil.log", gas_limit=GAS_LIMIT).start()
    processes = []
    try:
        address = ChainClient.connect(anvil.url, ANVIL_KEY).deploy()
        port, root = http._free_port(), secrets.token_urlsafe(24)
        env = {
            **http._service_env(pg.dsn, root, port, config.workers, folder / "service"),
            "ONCHAIN_RPC_URL": anvil.url,
            "ONCHAIN_PRIVATE_KEY": ANVIL_KEY,
            "ONCHAIN_CONTRACT_ADDRESS": address,
            "ONCHAIN_CHAIN_ID": str(CHAIN_ID),
            "ONCHAIN_RETRY_BATCH_SIZE": str(config.load_batch),
            "ONCHAIN_METRICS_PORT": "0",
        }
        processes.append(http._spawn(["serve"], env))
        http._wait_healthy(port)
        processes.append(http._spawn(["onchain", "run"], env))
        asyncio.run(_until_sender_ready(pg.dsn))
        meter = http._Meter([p.pid for p in processes], http._postmaster(pg))
        load_config = http.HttpBenchConfig(
            config.load_seconds, config.load_concurrency, config.workers
        )
        return asyncio.run(_drive_and_watch(load_config, port, root, meter, pg.dsn))
    finally:
        for process in processes:
            http._stop(process)
        anvil.stop()
        pg.destroy()


async def _until_sender_ready(dsn: str) -> None:
    """The load starts once the publisher's sender has reached the node."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await _until(conn, _READY, bool, seconds=120)


async def _drive_and_watch(
    config: http.HttpBenchConfig, port: int, root: str, meter: http._Meter, dsn: str
) -> Load:
    backlog: list[int] = [0]
    stop = asyncio.Event()

    async def watch() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                backlog.append(await _backlog(conn))
                await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch())
    phases = await http._drive(config, port, root, meter, ONCHAIN_TEMPLATE)
    stop.set()
    await watcher
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        at_end = await _backlog(conn)
        started = time.perf_counter()
        while await _backlog(conn) > 0:
            await asyncio.sleep(0.1)
            if time.perf_counter() - started > 900:
                raise RuntimeError("the publisher did not drain within 15 minutes")
        drained = time.perf_counter() - started
        cur = await conn.execute(_LAGS)
        lags = [float(r[0]) for r in await cur.fetchall()]
    return Load(phases, len(lags), max(backlog), at_end, drained, lags)


async def _backlog(conn: psycopg.AsyncConnection[Any]) -> int:
    """Eligible events not yet confirmed: open outbox rows, plus events the outbox has not read
    (an upper bound: it counts every event the projection is behind, eligible or not)."""
    cur = await conn.execute(_BACKLOG)
    return int((await cur.fetchone() or (0,))[0])


# -- report -----------------------------------------------------------------------------------


def _seconds(lags: list[float], pct: float) -> float:
    return Sample("lag", 1, lags).percentile_ms(pct) / 1000


def _report(config: OnchainBenchConfig, rows: list[Throughput], load: Load) -> str:
    lines = [
        "| events per transaction | events | transactions | seconds | events/s | gas per event |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.batch} | {r.events} | {r.transactions} | {r.seconds:.1f} | {r.per_second:.1f}"
            f" | {r.gas // max(1, r.events):,} |"
        )
    lines += ["", http._report(load.phases, http.HttpBenchConfig(
        config.load_seconds, config.load_concurrency, config.workers))]  # fmt: skip
    lines += [
        "",
        "| publisher under that load | value |",
        "|---|---:|",
        f"| events batched per transaction | {config.load_batch} |",
        f"| eligible events published | {load.events} |",
        f"| largest backlog during the load (events) | {load.backlog_max} |",
        f"| backlog when the load stopped (events) | {load.backlog_at_end} |",
        f"| drained after the load stopped in (s) | {load.drain_seconds:.1f} |",
        f"| commit to confirmed on chain p50 (s) | {_seconds(load.lags, 50):.2f} |",
        f"| commit to confirmed on chain p99 (s) | {_seconds(load.lags, 99):.2f} |",
        f"| commit to confirmed on chain max (s) | {max(load.lags, default=0.0):.2f} |",
        "",
        f"machine: {platform.machine()}, {os.cpu_count()} cores; anvil automine (one block per"
        f" transaction, block gas limit {GAS_LIMIT:,}), ONCHAIN_CONFIRMATIONS=1; throughput: one"
        " sender in this process;"
        " under load: `escrowgrid onchain run` beside `escrowgrid serve`",
    ]
    return "\n".join(lines)
