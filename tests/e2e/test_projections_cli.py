"""The read side as processes: `escrowgrid projections run` killed with SIGKILL again and again,
a second runner taking over, and the status, rebuild and verify commands."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from escrowgrid import bootstrap
from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.institution import Institution
from escrowgrid.domain.position import Position
from escrowgrid.eventlog.codec import EventCodec
from escrowgrid.eventlog.records import AppendRequest
from escrowgrid.verify import compare_models
from projections.registry import FOLLOWED_NAMES, NAMES
from projections.runner import locks
from tests.support.ledger import ROOT_CTX, fill_funded, open_ledger, open_position, seed

REPO = Path(__file__).resolve().parents[2]


def env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}


def cli(database_url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "escrowgrid.cli", *args],
        env=env(database_url), cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start_runner(database_url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "escrowgrid.cli", "projections", "run", *args],
        env=env(database_url), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def head_and_positions(database_url: str) -> tuple[int, dict[str, int]]:
    with psycopg.connect(database_url) as conn:
        head = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
        rows = conn.execute("SELECT name, position FROM projection_tracking").fetchall()
    assert head is not None
    return int(head[0]), {str(n): int(p) for n, p in rows}


def wait_caught_up(database_url: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head, positions = head_and_positions(database_url)
        if len(positions) == len(NAMES) and all(p == head for p in positions.values()):
            return head
        time.sleep(0.1)
    raise AssertionError(f"projections did not catch up: {head_and_positions(database_url)}")


def holders(database_url: str) -> dict[str, str]:
    async def ask() -> dict[str, str]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await locks.holders(conn, FOLLOWED_NAMES)

    return asyncio.run(ask())


async def backlog(database_url: str, positions: int) -> None:
    """Many positions through their whole lifecycle, appended as fast as the appender takes them."""
    codec = EventCodec()
    wired = bootstrap.build(database_url, pool_size=bootstrap.PoolSize(min_size=1, max_size=4))
    await wired.start()
    appender = wired.appender
    institution = Institution.register("Backlog", ["US"])
    template = AssetTemplate.define(
        institution.id, code="CONSTR_ESCROW", name="E", vertical="CONSTRUCTION", region="US",
        config={"currency": "USD", "region": "US"},
    )  # fmt: skip
    asset = Asset.register(institution.id, template, "A", {"n": Decimal("1.5")})
    meta: dict[str, object] = {"action": "backlog", "requestId": "b"}

    def request(*aggregates: Any) -> AppendRequest:
        return AppendRequest(codec.pending(*aggregates), institution.id, meta)

    await appender.append(request(institution, template, asset))
    requests = []
    for i in range(positions):
        position = Position.open(
            institution.id, asset=asset, template=template, holder_reference=f"h{i % 7}",
            currency="USD", amount=Decimal("100.5"),
        )  # fmt: skip
        requests.append(request(position))
        position.move("FUNDED", metadata={"i": i})
        requests.append(request(position))
        position.move("PARTIALLY_RELEASED", amount=Decimal("0.5"))
        requests.append(request(position))
    await asyncio.gather(*(appender.append(r) for r in requests))
    await wired.stop()


class Writer(threading.Thread):
    """Commands through the command layer, from another thread, until stopped."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.stopping = threading.Event()
        self.commands = 0

    def run(self) -> None:
        async def main() -> None:
            async with open_ledger(self.database_url) as r:
                fx = await seed(r.ledger)

                async def task() -> None:
                    while not self.stopping.is_set():
                        pid = await open_position(r.ledger, fx)
                        await r.ledger.move_position(ROOT_CTX, pid, to_state="FUNDED")
                        await r.ledger.move_position(ROOT_CTX, pid, to_state="CANCELLED")
                        self.commands += 3

                await asyncio.gather(*(task() for _ in range(12)))

        asyncio.run(main())


def test_a_runner_killed_at_random_moments_resumes_exactly(database_url: str) -> None:
    """SIGKILL the standalone runner a dozen times mid-batch while commands keep arriving;
    after the last restart the read tables equal a fresh rebuild from the log."""
    # Each runner gets fresh work behind the head and is killed at a random moment after it has
    # been seen working, so the kills land mid-backlog however fast or loaded the machine is
    # (a fixed sleep once let a fast runner catch up before most kills).
    asyncio.run(backlog(database_url, 300))
    writer = Writer(database_url)
    writer.start()
    rnd = random.Random(4)
    caught_behind = 0
    progress = []

    def followed() -> tuple[int, int]:
        head, positions = head_and_positions(database_url)
        return head, min((positions.get(n, 0) for n in FOLLOWED_NAMES), default=0)

    try:
        for _ in range(12):
            asyncio.run(backlog(database_url, 40))
            _, before = followed()
            runner = start_runner(database_url, "--batch-size", "1")
            deadline = time.monotonic() + 30
            while followed()[1] <= before:
                assert time.monotonic() < deadline, "the runner never made progress"
                time.sleep(0.02)
            time.sleep(rnd.uniform(0.0, 0.3))
            runner.send_signal(signal.SIGKILL)
            runner.wait(10)
            head, lowest = followed()
            progress.append(lowest)
            caught_behind += lowest < head
        final = start_runner(database_url)
        try:
            time.sleep(0.5)
        finally:
            writer.stopping.set()
            writer.join(30)
        wait_caught_up(database_url)
        final.send_signal(signal.SIGTERM)
        assert final.wait(30) == 0
    finally:
        writer.stopping.set()
    assert writer.commands > 0
    assert caught_behind >= 10, progress  # the kills landed while events were waiting
    assert len(set(progress)) >= 10, progress  # and the runner made progress between kills
    assert asyncio.run(compare_models(database_url)) is None
    verified = cli(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "read models equal a rebuild from the log" in verified.stdout


def test_a_second_runner_takes_over_within_seconds(database_url: str) -> None:
    first = start_runner(database_url)
    second = None
    try:
        deadline = time.monotonic() + 30
        while set(holders(database_url)) != set(FOLLOWED_NAMES):
            assert time.monotonic() < deadline, "the first runner never took its locks"
            time.sleep(0.1)
        assert {h.split(" ")[0] for h in holders(database_url).values()} == {
            f"escrowgrid-projections:{first.pid}"
        }
        second = start_runner(database_url)
        time.sleep(2.0)  # the second one is up, trying the locks every second
        assert all(str(first.pid) in h for h in holders(database_url).values())
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = time.monotonic()

        async def append() -> None:
            async with open_ledger(database_url) as r:
                await seed(r.ledger)

        asyncio.run(append())
        wait_caught_up(database_url, timeout=15)
        took = time.monotonic() - killed
        assert took < 5.0, took
        status = cli(database_url, "projections", "status", "--json")
        assert status.returncode == 0, status.stderr
        rows = json.loads(status.stdout)
        assert [r["projection"] for r in rows] == list(NAMES)
        followed = [r for r in rows if r["projection"] in FOLLOWED_NAMES]
        assert all(f"escrowgrid-projections:{second.pid}" in r["runner"] for r in followed)
        assert all(r["runner"].startswith("inline") for r in rows if r not in followed)
        assert all(r["lagEvents"] == 0 and r["position"] == r["head"] > 0 for r in rows)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)


def test_status_rebuild_and_verify_commands(database_url: str) -> None:
    asyncio.run(fill_funded(database_url, 5))
    status = cli(database_url, "projections", "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split() == ["projection", "position", "head", "lag", "events", "lag", "s",
                                "runner"]  # fmt: skip
    assert lines[1].split()[:4] == ["institutions", "0", "13", "13"] and "none" in lines[1]

    rebuilt = cli(database_url, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "escrowgrid: rebuilt institutions, api_keys" in rebuilt.stdout
    assert "up to position 13: 13 events" in rebuilt.stdout
    assert "events/s" in rebuilt.stdout and "rebuild [" in rebuilt.stderr
    status = cli(database_url, "projections", "status", "positions", "--json")
    assert json.loads(status.stdout)[0] | {"lagSeconds": 0} == {
        "projection": "positions", "position": 13, "head": 13, "lagEvents": 0,
        "lagSeconds": 0, "runner": "inline (in the appends)",
    }  # fmt: skip

    verified = cli(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    digest = verified.stdout.split("ledger digest at 13: ")[1].split()[0]
    assert cli(database_url, "verify", "--digest", f"13:{digest}").returncode == 0
    wrong = cli(database_url, "verify", "--digest", f"12:{digest}")
    assert wrong.returncode == 1 and "FAIL published digest 12:" in wrong.stdout

    unknown = cli(database_url, "projections", "rebuild", "nosuch")
    assert unknown.returncode == 2 and "unknown projection(s): nosuch" in unknown.stderr


@pytest.mark.parametrize("command", [["projections", "run", "nosuch"]])
def test_unknown_projection_names_are_refused(database_url: str, command: list[str]) -> None:
    done = cli(database_url, *command, timeout=60)
    assert done.returncode == 2 and "known: institutions" in done.stderr
