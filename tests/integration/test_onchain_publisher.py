"""The publisher on PostgreSQL and an in-process EVM (anvil for block gas): once, in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eth_tester import EthereumTester  # type: ignore[import-untyped]
from web3 import EthereumTesterProvider, Web3

from escrowgrid.config import OnchainSettings
from escrowgrid.onchain.client import ChainClient
from escrowgrid.onchain.publisher import Publisher
from escrowgrid.onchain.sender import Sender
from tests.support.anvil import ANVIL_KEY, CHAIN_ID, Anvil
from tests.support.ledger import ROOT_CTX, Running, open_ledger

OTHER_CHAIN = 5


class Chain:
    def __init__(self) -> None:
        self.tester = EthereumTester()
        self.w3 = Web3(EthereumTesterProvider(self.tester))
        self.key = str(self.tester.backend.account_keys[0])
        self.address = ChainClient(self.w3, self.key).deploy()
        self.chain_id = int(self.w3.eth.chain_id)
        self.down = False

    def client(self) -> ChainClient:
        if self.down:
            raise ConnectionError("node unreachable")
        return ChainClient(self.w3, self.key, self.address)


@pytest.fixture
def chain() -> Chain:
    return Chain()


def _settings(chain: Chain, **kw: Any) -> OnchainSettings:
    base: dict[str, Any] = {
        "enabled": True,
        "chain_id": chain.chain_id,
        "retry_delay_ms": 0,
        "max_retries": 2,
        "retry_batch_size": 10,
    }
    return OnchainSettings(**(base | kw))


async def _world(r: Running, chain_id: int) -> dict[str, list[UUID]]:
    """Positions under an on-chain template, one of another chain, one with no chain config."""
    ledger = r.ledger
    inst = await ledger.register_institution(ROOT_CTX, name="Acme Bank", regions=["US"])
    assert inst.value is not None
    found: dict[str, list[UUID]] = {}
    for label, extra in (
        ("ours", {"onchain": {"enabled": True, "chainId": chain_id}}),
        ("other", {"onchain": {"enabled": True, "chainId": OTHER_CHAIN}}),
        ("off", {}),
    ):
        tmpl = await ledger.define_template(
            ROOT_CTX,
            inst.value.id,
            code="CONSTR_ESCROW",
            name=label,
            vertical="CONSTRUCTION",
            region="US",
            config={"currency": "USD", "region": "US", **extra},
        )
        assert tmpl.value is not None
        asset = await ledger.register_asset(
            ROOT_CTX, inst.value.id, template_id=tmpl.value.id, label=label
        )
        assert asset.value is not None
        found[label] = []
        for _ in range(3 if label == "ours" else 1):
            out = await ledger.open_position(
                ROOT_CTX,
                inst.value.id,
                asset_id=asset.value.id,
                holder_reference="h",
                currency="USD",
                amount=Decimal("10.00"),
            )
            assert out.value is not None
            found[label].append(out.value.id)
            await ledger.move_position(ROOT_CTX, out.value.id, to_state="FUNDED")
    return found


async def _eligible(dsn: str, ids: list[UUID]) -> list[int]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(
            "SELECT position FROM events WHERE stream_id = ANY(%s) ORDER BY position", (ids,)
        )
        return [row[0] for row in await cur.fetchall()]


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def _counts(dsn: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT status, count(*) FROM onchain_outbox GROUP BY status")
        return dict(await cur.fetchall())


def test_every_eligible_event_reaches_the_chain_once_in_log_order(
    database_url: str, chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="escrowgrid.onchain")

    async def body() -> None:
        async with open_ledger(database_url) as r:
            world = await _world(r, chain.chain_id)
        expected = await _eligible(database_url, world["ours"])
        publisher = Publisher(
            database_url,
            _settings(chain),
            client=chain.client,
            poll_interval=0.05,
            lock_interval=0.1,
        )
        await publisher.start()
        try:

            async def done() -> bool:
                return (await _counts(database_url)).get("published", 0) == len(expected)

            await _until(done)
        finally:
            await publisher.stop()
        assert await _counts(database_url) == {"published": len(expected)}
        client = chain.client()
        assert client.recorded_positions() == expected  # once each, in log order
        created = client.record(expected[0])
        assert created is not None and created.kind == "POSITION_CREATED"
        assert UUID(created.position_id) in world["ours"]

    asyncio.run(body())
    skips = [r for r in caplog.records if r.getMessage() == "onchain_ledger_skip"]
    assert len(skips) == 1
    assert skips[0].__dict__["templateChainId"] == OTHER_CHAIN
    assert chain.key.removeprefix("0x") not in caplog.text


async def _queue(dsn: str, chain_id: int) -> list[int]:
    """The world's events queued by the outbox projection, the sender not yet running."""
    async with open_ledger(dsn) as r:
        world = await _world(r, chain_id)
    expected = await _eligible(dsn, world["ours"])
    settings = OnchainSettings(enabled=True, chain_id=chain_id)
    publisher = Publisher(dsn, settings, client=lambda: None, lock_interval=0.1, poll_interval=0.05)  # type: ignore[arg-type,return-value]
    await publisher.outbox.start()
    try:

        async def queued() -> bool:
            return sum((await _counts(dsn)).values()) == len(expected)

        await _until(queued)
    finally:
        await publisher.outbox.stop()
    return expected


def test_retries_run_out_then_the_position_is_held_and_retry_resumes(
    database_url: str, chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def body() -> None:
        expected = await _queue(database_url, chain.chain_id)
        chain.down = True
        sender = Sender(database_url, _settings(chain, retry_batch_size=2), chain.client)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for _ in range(3):  # max_retries=2: the third failure marks the rows failed
                await sender.step(conn)
            counts = await _counts(database_url)
            assert counts.get("failed") == 2
            cur = await conn.execute(
                "SELECT attempts, last_error IS NOT NULL FROM onchain_outbox"
                " WHERE status = 'failed'"
            )
            assert set(await cur.fetchall()) == {(3, True)}
            chain.down = False
            for _ in range(10):
                await sender.step(conn)
            # the failed rows' position is held back; other positions went on
            cur = await conn.execute(
                "SELECT DISTINCT position_id FROM onchain_outbox WHERE status <> 'published'"
            )
            assert len(await cur.fetchall()) == 1
            from escrowgrid.onchain import queue

            assert await queue.retry_failed(conn) == 2
            for _ in range(10):
                await sender.step(conn)
        assert await _counts(database_url) == {"published": len(expected)}
        positions = chain.client().recorded_positions()
        assert sorted(positions) == expected and len(set(positions)) == len(positions)

    asyncio.run(body())
    assert any(r.getMessage() == "onchain_publish_failed" for r in caplog.records)


# Two events (about 490,000 gas each) fit in one of this node's blocks, three do not.
SMALL_BLOCK_GAS = 1_200_000


def test_a_batch_too_large_for_a_block_is_split_and_each_event_lands_once_in_order(
    database_url: str, tmp_path: Path
) -> None:
    node = Anvil(tmp_path / "anvil.log", gas_limit=SMALL_BLOCK_GAS).start()
    try:
        address = ChainClient.connect(node.url, ANVIL_KEY).deploy()

        def client() -> ChainClient:
            return ChainClient.connect(node.url, ANVIL_KEY, address)

        settings = OnchainSettings(
            enabled=True, chain_id=CHAIN_ID, retry_delay_ms=0, max_retries=2, retry_batch_size=10
        )

        async def body() -> None:
            expected = await _queue(database_url, CHAIN_ID)
            assert len(expected) > 2  # more than one block holds: the first batch cannot fit
            sender = Sender(database_url, settings, client)
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                for _ in range(len(expected) + 2):
                    await sender.step(conn)
                cur = await conn.execute(
                    "SELECT status, attempts, last_error FROM onchain_outbox ORDER BY log_position"
                )
                rows = await cur.fetchall()
            # every event sent once, and the refused batch never counted as a failed attempt
            assert rows == [("published", 1, None)] * len(expected)
            assert client().recorded_positions() == expected  # once each, in log order

        asyncio.run(body())
    finally:
        node.stop()


def test_confirmations_and_a_dropped_receipt_requeues(database_url: str, chain: Chain) -> None:
    async def body() -> None:
        expected = await _queue(database_url, chain.chain_id)
        sender = Sender(database_url, _settings(chain, confirmations=3), chain.client)
        snapshot = chain.tester.take_snapshot()
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await sender.step(conn)  # sends one batch: mined, 1 confirmation of 3
            await sender.step(conn)
            assert (await _counts(database_url)).get("published", 0) == 0
            chain.tester.revert_to_snapshot(snapshot)  # a reorg: the blocks are gone
            await sender.step(conn)  # the receipt is gone: queued again
            for _ in range(20):
                chain.tester.mine_blocks(1)
                await sender.step(conn)
        assert await _counts(database_url) == {"published": len(expected)}
        assert chain.client().recorded_positions() == expected

    asyncio.run(body())


def test_the_ledger_digest_is_anchored_every_interval_and_verifies(
    database_url: str, chain: Chain
) -> None:
    from escrowgrid.onchain.anchors import check_anchors

    async def body() -> None:
        async with open_ledger(database_url) as r:
            await _world(r, chain.chain_id)
        settings = _settings(chain, anchor_interval=4)
        publisher = Publisher(
            database_url, settings, client=chain.client, poll_interval=0.05, lock_interval=0.1
        )
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            cur = await conn.execute("SELECT count(*) FROM events")
            row = await cur.fetchone()
            assert row is not None
            expected = row[0] // 4

            async def anchored() -> bool:
                cur = await conn.execute(
                    "SELECT count(*) FROM onchain_anchors WHERE status = 'published'"
                )
                found = await cur.fetchone()
                return found is not None and found[0] == expected

            await publisher.start()
            try:
                await _until(anchored)
            finally:
                await publisher.stop()
            proved, problems = await check_anchors(conn, chain.client())
            assert (proved, problems) == (expected, [])
            # a changed digest on chain is named (the owner anchors a wrong one at a new position)
            cur = await conn.execute("SELECT max(position) FROM events")
            last = await cur.fetchone()
            assert last is not None
            client = chain.client()
            client.w3.eth.wait_for_transaction_receipt(client.anchor(last[0], b"\x07" * 32))  # type: ignore[arg-type]
            proved, problems = await check_anchors(conn, client)
            assert len(problems) == 1 and "differs" in problems[0]

    asyncio.run(body())


def test_fail_mode_refuses_when_the_publisher_is_behind_its_bound(
    database_url: str, chain: Chain
) -> None:
    from escrowgrid.config import OnchainFailureMode
    from escrowgrid.onchain import gate

    async def body() -> None:
        from projections.runner.runner import ProjectionRunner

        expected = await _queue(database_url, chain.chain_id)
        models = ProjectionRunner(database_url, lock_interval=0.1)  # the gate reads them
        await models.start()
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            cur = await conn.execute("SELECT position_id FROM onchain_positions LIMIT 1")
            row = await cur.fetchone()
            assert row is not None
            pid = row[0]

            async def projected() -> bool:
                # Positions are projected in the appends; the gate also reads the followed
                # asset and template models, which only the runner writes.
                cur = await conn.execute(
                    "SELECT 1 FROM positions AS p JOIN assets AS a ON a.id = p.asset_id"
                    " JOIN asset_templates AS t ON t.id = a.template_id WHERE p.id = %s",
                    (pid,),
                )
                return await cur.fetchone() is not None

            try:
                await _until(projected)
            finally:
                await models.stop()
            await conn.execute(gate.MARK, (True,))  # the sender reached the node just now
            fail = OnchainFailureMode.FAIL
            tight = _settings(chain, failure_mode=fail, max_lag_events=len(expected) - 1)
            with pytest.raises(gate.ChainBehind, match="events behind"):
                await gate.check(conn, tight, position_id=pid)
            roomy = _settings(chain, failure_mode=fail, max_lag_events=len(expected) + 100)
            await gate.check(conn, roomy, position_id=pid)
            await gate.check(conn, _settings(chain, max_lag_events=0), position_id=pid)  # queue
            await conn.execute(gate.MARK, (False,))
            with pytest.raises(gate.ChainBehind, match="cannot reach"):
                await gate.check(conn, roomy, position_id=pid)

    asyncio.run(body())


async def _fail_first_batch(dsn: str, chain: Chain, settings: OnchainSettings) -> Sender:
    """Queue the world, then fail its first batch for good (max_retries=0, the node away)."""
    await _queue(dsn, chain.chain_id)
    chain.down = True
    sender = Sender(dsn, settings, chain.client)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await sender.step(conn)
    assert (await _counts(dsn)).get("failed") == settings.retry_batch_size
    chain.down = False
    return sender


def test_the_retry_worker_revives_failed_events_after_the_cool_down_in_order(
    database_url: str, chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = _settings(chain, max_retries=0, retry_batch_size=2, retry_cooldown_ms=1500)

    async def body() -> None:
        sender = await _fail_first_batch(database_url, chain, settings)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for _ in range(10):  # the node is back, the cool-down is not over: still failed
                await sender.step(conn)
            assert (await _counts(database_url)).get("failed") == 2
            await asyncio.sleep(1.6)
            for _ in range(20):
                await sender.step(conn)
        counts = await _counts(database_url)
        assert set(counts) == {"published"}
        positions = chain.client().recorded_positions()
        assert len(positions) == counts["published"] == len(set(positions))
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            cur = await conn.execute("SELECT log_position, position_id FROM onchain_outbox")
            owner = dict(await cur.fetchall())
        for pid in set(owner.values()):  # per-position log order on chain
            mine = [p for p in positions if owner[p] == pid]
            assert mine == sorted(mine)

    asyncio.run(body())
    revived = [r for r in caplog.records if r.getMessage() == "onchain_retry_revived"]
    assert revived and revived[0].__dict__["count"] == 2


def test_without_the_retry_worker_failed_events_wait_for_onchain_retry(
    database_url: str, chain: Chain
) -> None:
    settings = _settings(
        chain, max_retries=0, retry_batch_size=2, retry_cooldown_ms=0, retry_worker_enabled=False
    )

    async def body() -> None:
        sender = await _fail_first_batch(database_url, chain, settings)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            for _ in range(10):
                await sender.step(conn)
            assert (await _counts(database_url)).get("failed") == 2
            from escrowgrid.onchain import queue

            assert await queue.retry_failed(conn) == 2
            for _ in range(20):
                await sender.step(conn)
        assert set(await _counts(database_url)) == {"published"}

    asyncio.run(body())


async def _anchor_rows(conn: psycopg.AsyncConnection[Any]) -> list[tuple[int, str]]:
    cur = await conn.execute("SELECT log_position, status FROM onchain_anchors ORDER BY 1")
    return list(await cur.fetchall())


async def _head(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT max(position) FROM events")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def _catch_up(dsn: str, settings: OnchainSettings) -> None:
    """Run the outbox projection (not the sender) until it has passed the head of the log."""
    publisher = Publisher(dsn, settings, client=lambda: None, lock_interval=0.1, poll_interval=0.05)  # type: ignore[arg-type,return-value]
    await publisher.outbox.start()
    try:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            head = await _head(conn)

            async def passed() -> bool:
                cur = await conn.execute(
                    "SELECT position FROM projection_tracking WHERE name = 'onchain_outbox'"
                )
                row = await cur.fetchone()
                return row is not None and row[0] >= head

            await _until(passed)
    finally:
        await publisher.outbox.stop()


def test_the_digest_is_anchored_by_time_when_events_arrived_since_the_last_anchor(
    database_url: str, chain: Chain
) -> None:
    from escrowgrid.onchain.anchors import check_anchors

    # Anchoring by count is off: only the time trigger anchors.
    by_time = _settings(chain, anchor_interval=0, anchor_interval_seconds=1)

    async def body() -> None:
        async with open_ledger(database_url) as r:
            world = await _world(r, chain.chain_id)
        await _catch_up(database_url, by_time)
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            later = _settings(chain, anchor_interval=0, anchor_interval_seconds=3600)
            patient = Sender(database_url, later, chain.client)
            await patient.step(conn)
            assert await _anchor_rows(conn) == []  # the oldest unanchored event is not that old
            sender = Sender(database_url, by_time, chain.client)
            await asyncio.sleep(1.1)
            first = await _head(conn)
            for _ in range(3):
                await sender.step(conn)
            assert await _anchor_rows(conn) == [(first, "published")]
            await asyncio.sleep(1.1)
            for _ in range(3):  # nothing arrived since: no new anchor
                await sender.step(conn)
            assert len(await _anchor_rows(conn)) == 1
            async with open_ledger(database_url) as r:
                await r.ledger.move_position(ROOT_CTX, world["off"][0], to_state="CANCELLED")
            await _catch_up(database_url, by_time)
            second = await _head(conn)
            await asyncio.sleep(1.1)
            for _ in range(3):
                await sender.step(conn)
            assert await _anchor_rows(conn) == [(first, "published"), (second, "published")]
            assert await check_anchors(conn, chain.client()) == (2, [])

    asyncio.run(body())
