"""The on-chain publisher against a real JSON-RPC node: anvil from npm, on loopback."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from escrowgrid.onchain.client import ChainClient
from tests.conftest import ROOT_KEY
from tests.support.anvil import ANVIL_KEY, CHAIN_ID, Anvil, free_port
from tests.support.api import Api
from tests.support.server import ServerProcess

CLI = [sys.executable, "-m", "escrowgrid.cli"]


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Anvil]:
    node = Anvil(tmp_path / "anvil.log").start()
    yield node
    node.stop()


def _chain_env(anvil: Anvil, address: str | None = None) -> dict[str, str]:
    env = {
        "ONCHAIN_RPC_URL": anvil.url,
        "ONCHAIN_PRIVATE_KEY": ANVIL_KEY,
        "ONCHAIN_CHAIN_ID": str(CHAIN_ID),
        "ONCHAIN_RETRY_DELAY_MS": "100",
        "ONCHAIN_MAX_RETRIES": "100",
        "ONCHAIN_RETRY_BATCH_SIZE": "4",
        "ONCHAIN_ANCHOR_INTERVAL": "7",
        "ONCHAIN_METRICS_PORT": "0",  # tests beside each other must not share the default port
    }
    if address:
        env["ONCHAIN_CONTRACT_ADDRESS"] = address
    return env


def _deploy(anvil: Anvil) -> str:
    done = subprocess.run(
        [*CLI, "onchain", "deploy"],
        env={**os.environ, **_chain_env(anvil)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert ANVIL_KEY.removeprefix("0x") not in done.stdout + done.stderr
    return done.stdout.strip()


def test_deploy_prints_the_address_of_a_working_contract(anvil: Anvil) -> None:
    address = _deploy(anvil)
    assert address.startswith("0x") and len(address) == 42
    assert ChainClient.connect(anvil.url, ANVIL_KEY, address).record_count() == 0


def _server(database_url: str, tmp_path: Path, extra: dict[str, str]) -> ServerProcess:
    env = {
        "DATABASE_URL": database_url,
        "ROOT_API_KEY": ROOT_KEY,
        "ESCROWGRID_DATA_DIR": str(tmp_path / "data"),
        "RATE_LIMIT_ENABLED": "false",
        **extra,
    }
    return ServerProcess(env, tmp_path / "server.log").start()


def _onchain_world(api: Api) -> tuple[Api, str]:
    inst = api.institution()
    admin = api.as_key(api.key(inst["id"])["apiKey"])
    body: dict[str, Any] = {
        "code": "CONSTR_ESCROW",
        "name": "On chain",
        "vertical": "CONSTRUCTION",
        "region": "US",
        "config": {
            "currency": "USD",
            "region": "US",
            "onchain": {"enabled": True, "chainId": CHAIN_ID},
        },
    }
    template = admin.ok(admin.post("/asset-templates", body), 201)
    return admin, admin.asset(template["id"])["id"]


def _positions(admin: Api, asset: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        pid = admin.position(asset)["id"]
        assert admin.move(pid, "FUNDED").status_code == 200
        ids.append(pid)
    return ids


def _log(database_url: str, ids: list[str]) -> dict[int, str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT position, stream_id::text FROM events WHERE stream_id = ANY(%s::uuid[])", (ids,)
        ).fetchall()
    return dict(rows)


def _published(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM onchain_outbox WHERE status = 'published'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _until_published(database_url: str, count: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while _published(database_url) < count:
        assert time.monotonic() < deadline, f"{_published(database_url)} of {count} published"
        time.sleep(0.2)


def _assert_mirrored(client: ChainClient, log: dict[int, str]) -> None:
    on_chain = client.recorded_positions()
    assert sorted(on_chain) == sorted(log)  # each eligible event exactly once
    for pid in set(log.values()):  # per-position log order
        mine = [p for p in on_chain if log[p] == pid]
        assert mine == sorted(mine)
    for position in random.sample(sorted(log), min(3, len(log))):
        record = client.record(position)
        assert record is not None and record.position_id == log[position]


def test_commands_over_http_reach_the_chain_once_through_a_node_outage(
    database_url: str, anvil: Anvil, tmp_path: Path
) -> None:
    address = _deploy(anvil)
    env = {**_chain_env(anvil, address), "ONCHAIN_LEDGER_ENABLED": "true"}
    server = _server(database_url, tmp_path, env)
    try:
        admin, asset = _onchain_world(Api(server.url, ROOT_KEY))
        ids = _positions(admin, asset, 6)
        anvil.stop()  # the node goes away mid-run; commands keep succeeding (queue mode)
        ids += _positions(admin, asset, 6)
        time.sleep(1)
        anvil.start()
        log = _log(database_url, ids)
        _until_published(database_url, len(log))
        shown = admin.ok(admin.get(f"/positions/{ids[0]}/onchain"))
        assert [r["status"] for r in shown["records"]] == ["published", "published"]
        assert all(r["txHash"].startswith("0x") and r["blockNumber"] for r in shown["records"])
        api = Api(server.url, ROOT_KEY)
        stranger = api.as_key(api.key(api.institution("Other Bank")["id"])["apiKey"])
        assert stranger.get(f"/positions/{ids[0]}/onchain").status_code == 403
        unknown = "00000000-0000-4000-8000-000000000000"
        assert admin.get(f"/positions/{unknown}/onchain").status_code == 404
        metrics = api.get("/metrics").text
        assert "escrowgrid_onchain_published_total" in metrics
        assert ANVIL_KEY.removeprefix("0x") not in server.output() + metrics
    finally:
        server.stop()
    _assert_mirrored(ChainClient.connect(anvil.url, ANVIL_KEY, address), log)


def test_a_publisher_killed_mid_batch_again_and_again_still_mirrors_each_event_once(
    database_url: str, anvil: Anvil, tmp_path: Path
) -> None:
    address = _deploy(anvil)
    server = _server(database_url, tmp_path, {})  # no publisher inside: it runs alone below
    try:
        admin, asset = _onchain_world(Api(server.url, ROOT_KEY))
        ids = _positions(admin, asset, 20)
    finally:
        server.stop()
    log = _log(database_url, ids)
    env = {**os.environ, "DATABASE_URL": database_url, **_chain_env(anvil, address)}
    out = (tmp_path / "publisher.log").open("ab")
    rng = random.Random(7)
    for _ in range(6):
        proc = subprocess.Popen([*CLI, "onchain", "run"], env=env, stdout=out, stderr=out)
        time.sleep(rng.uniform(1.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = subprocess.Popen([*CLI, "onchain", "run"], env=env, stdout=out, stderr=out)
    try:
        _until_published(database_url, len(log))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        out.close()
    _assert_mirrored(ChainClient.connect(anvil.url, ANVIL_KEY, address), log)
    status = subprocess.run(
        [*CLI, "onchain", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"pending": 0' in status.stdout and '"failed": 0' in status.stdout
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    anchors = row[0] // 7
    deadline = time.monotonic() + 60
    client = ChainClient.connect(anvil.url, ANVIL_KEY, address)
    proc = subprocess.Popen([*CLI, "onchain", "run"], env=env)
    try:
        while len(client.anchors()) < anchors:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    verified = subprocess.run(
        [*CLI, "verify", "--chain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"chain: {anchors} anchor(s) on chain match the log" in verified.stdout


def test_fail_mode_refuses_on_chain_commands_with_503_while_the_node_is_away(
    database_url: str, tmp_path: Path
) -> None:
    node = Anvil(tmp_path / "anvil.log")  # not started yet: the chain is away
    # anvil's first account deploys its first contract at a fixed address
    address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    env = {
        **_chain_env(node, address),
        "ONCHAIN_LEDGER_ENABLED": "true",
        "ONCHAIN_FAILURE_MODE": "fail",
    }
    server = _server(database_url, tmp_path, env)
    try:
        api = Api(server.url, ROOT_KEY)
        admin, asset = _onchain_world(api)
        plain = admin.asset(admin.template()["id"])["id"]
        head = api.log_head()
        body = {"assetId": asset, "holderReference": "h", "currency": "USD", "amount": "5.00"}
        refused = admin.post("/positions", body)
        assert refused.status_code == 503, refused.text
        assert "cannot reach the chain" in refused.json()["error"]
        assert api.log_head() == head  # nothing half-done
        admin.position(plain)  # a template that is not on chain is not held back
        node.start()
        try:
            assert _deploy(node) == address
            deadline = time.monotonic() + 60
            while (answer := admin.post("/positions", body)).status_code == 503:
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.3)
            assert answer.status_code == 201, answer.text
            pid = answer.json()["id"]
            log = _log(database_url, [pid])
            _until_published(database_url, len(log))
            _assert_mirrored(ChainClient.connect(node.url, ANVIL_KEY, address), log)
        finally:
            node.stop()
    finally:
        server.stop()


def _scrape(url: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as refused:
        return int(refused.code), refused.read().decode()


def _until_listening(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, "the publisher exited"
        try:
            _scrape(url)
            return
        except OSError:
            assert time.monotonic() < deadline, "the publisher's /metrics never answered"
            time.sleep(0.2)


def test_onchain_run_serves_its_metrics_to_the_root_key_only(
    database_url: str, anvil: Anvil, tmp_path: Path
) -> None:
    address = _deploy(anvil)
    server = _server(database_url, tmp_path, {})
    try:
        admin, asset = _onchain_world(Api(server.url, ROOT_KEY))
        log = _log(database_url, _positions(admin, asset, 2))
    finally:
        server.stop()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ROOT_API_KEY": ROOT_KEY,
        "HOST": "127.0.0.1",
        **_chain_env(anvil, address),
        "ONCHAIN_METRICS_PORT": str(port),
    }
    out = (tmp_path / "publisher.log").open("ab")
    proc = subprocess.Popen([*CLI, "onchain", "run"], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        _until_listening(url, proc)
        _until_published(database_url, len(log))
        assert _scrape(url) == (401, '{"error": "Missing API key"}')
        assert _scrape(url, **{"X-API-KEY": "not-the-root-key"})[0] == 401
        assert (
            _scrape(f"http://127.0.0.1:{port}/other", Authorization=f"Bearer {ROOT_KEY}")[0] == 404
        )
        deadline = time.monotonic() + 30
        while True:  # the counter moves once the sender has seen the confirmations
            status, text = _scrape(url, Authorization=f"Bearer {ROOT_KEY}")
            assert status == 200
            if f"escrowgrid_onchain_published_total {float(len(log))}" in text:
                break
            assert time.monotonic() < deadline, text
            time.sleep(0.3)
        assert "escrowgrid_onchain_pending_events 0.0" in text
        status, same = _scrape(
            f"http://127.0.0.1:{port}/metrics/prometheus", **{"X-API-KEY": ROOT_KEY}
        )
        assert status == 200 and "escrowgrid_onchain_failed_total" in same
        assert ANVIL_KEY.removeprefix("0x") not in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        out.close()
    assert ANVIL_KEY.removeprefix("0x") not in (tmp_path / "publisher.log").read_text()
