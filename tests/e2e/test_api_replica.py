"""Queries on a real streaming standby (DATABASE_REPLICA_URL), commands on the primary.

The standby is made with `pg_basebackup -R` from a private primary (tests/support/standby.py).
Pausing its replay (`pg_wal_replay_pause()`) makes it visibly behind; stopping it makes it
down. Read-your-writes and revocation must hold through both, and reads must keep answering.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.conftest import ROOT_KEY
from tests.support.api import Api
from tests.support.forgetful_relay import ForgetfulRelay
from tests.support.server import ServerProcess
from tests.support.standby import StreamingPair

MAX_LAG_MS = 1000
OUTAGE_S = 5.0


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    running = StreamingPair.start()
    yield running
    running.stop()


def _server(pair: StreamingPair, folder: Path, replica_url: str | None = None) -> ServerProcess:
    return ServerProcess(
        {
            "DATABASE_URL": pair.primary.dsn,
            "DATABASE_REPLICA_URL": replica_url or pair.standby.dsn,
            "DATABASE_REPLICA_MAX_LAG_MS": str(MAX_LAG_MS),
            "ROOT_API_KEY": ROOT_KEY,
            "ESCROWGRID_DATA_DIR": str(folder / "data"),
            "RATE_LIMIT_ENABLED": "false",
        },
        folder / "server.log",
    ).start()


@pytest.fixture(scope="module")
def server(
    pair: StreamingPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    proc = _server(pair, tmp_path_factory.mktemp("replica-a"))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def other_server(
    pair: StreamingPair, tmp_path_factory: pytest.TempPathFactory, server: ServerProcess
) -> Iterator[ServerProcess]:
    """A second API process on the same primary and replica, as behind a load balancer."""
    proc = _server(pair, tmp_path_factory.mktemp("replica-b"))
    yield proc
    proc.stop()


@pytest.fixture
def api(server: ServerProcess, pair: StreamingPair) -> Iterator[Api]:
    """Root's client, each test starting and ending with the replica serving queries."""
    _wait_until(lambda: _replica(server)["servingReads"], "the replica serves queries")
    yield Api(server.url, ROOT_KEY)
    if not pair.standby_running():
        pair.start_standby()
    if pair.replay_paused():
        pair.resume_replay()


def _wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


def _ready(server: ServerProcess) -> httpx.Response:
    return httpx.get(server.url + "/ready", timeout=10)


def _replica(server: ServerProcess) -> dict[str, Any]:
    body = _ready(server).json()
    replica: dict[str, Any] = body["replica"]
    return replica


def _counter(server: ServerProcess, name: str, **labels: str) -> float:
    """A counter's value in the service's Prometheus exposition (0 when not yet counted)."""
    text = httpx.get(
        server.url + "/metrics/prometheus", headers={"X-API-KEY": ROOT_KEY}, timeout=10
    ).text
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}_total(?:\{{(.*)\}})? (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def _replica_reads(server: ServerProcess) -> float:
    return _counter(server, "escrowgrid_replica_reads", served_by="replica")


def _primary_reads(server: ServerProcess) -> float:
    return _counter(server, "escrowgrid_replica_reads", served_by="primary")


def _every_command_then_its_read(api: Api, reader: Api | None = None) -> int:
    """Each command kind, each followed at once by a read that must show it; the reads made."""
    read = reader or api
    reads = 0

    def get(path: str, **kw: Any) -> Any:
        nonlocal reads
        reads += 1
        return read.ok(read.get(path, **kw))

    inst = api.institution("Replica Bank")
    assert get(f"/institutions/{inst['id']}")["name"] == "Replica Bank"
    key = api.key(inst["id"])
    assert key["id"] in [k["id"] for k in get(f"/institutions/{inst['id']}/api-keys")]
    policy = {"position": {"minAmount": 10, "maxAmount": 5000}}
    api.ok(api.put(f"/institutions/{inst['id']}/policies/US", policy))
    assert (
        get(f"/institutions/{inst['id']}/policies/US")["config"]["position"]["maxAmount"] == "5000"
    )
    template = api.template(inst["id"])
    assert get(f"/asset-templates/{template['id']}")["id"] == template["id"]
    asset = api.asset(template["id"], inst["id"])
    assert get(f"/assets/{asset['id']}")["label"] == "Tower A"
    position = api.position(asset["id"], "100.00", inst["id"])
    assert get(f"/positions/{position['id']}")["state"] == "CREATED"
    moved = api.post(f"/positions/{position['id']}/transition", {"toState": "FUNDED"})
    api.ok(moved)
    assert get(f"/positions/{position['id']}")["state"] == "FUNDED"
    kinds = [e["kind"] for e in get("/ledger-events", params={"positionId": position["id"]})]
    assert kinds == ["POSITION_CREATED", "POSITION_STATE_CHANGED"]
    # The audit trail and the digest follow every event; no position command waits for them
    # (inline projection), so they are read where the runner writes them, never stale.
    audit = read.ok(read.get("/audit-events", params={"limit": 500}))["data"]
    mine = [a["position"] for a in audit if UUID(position["id"]) in map(UUID, a["streamIds"])]
    assert len(mine) == 2, audit  # the creation and the move
    assert read.ok(read.get("/ledger/digest"))["position"] >= max(mine)
    revoked = api.post(f"/institutions/{inst['id']}/api-keys/{key['id']}/revoke")
    api.ok(revoked)
    assert key["id"] not in [k["id"] for k in get(f"/institutions/{inst['id']}/api-keys")]
    # Revocation: the very next request with the key is refused.
    assert read.as_key(key["apiKey"]).get("/institutions").status_code == 401
    return reads


def _served_by_the_replica(api: Api, pair: StreamingPair) -> None:
    """Proof that queries are answered by the standby: with its replay paused, a change made on
    the primary behind the service's back is not in the answer; once replay resumes, it is."""
    inst = api.institution("Seen On The Replica")
    pair.pause_replay()
    try:
        pair.on_primary(
            "UPDATE institutions SET name = 'primary only' WHERE id = %s", (inst["id"],)
        )
        assert api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == "Seen On The Replica"
    finally:
        pair.resume_replay()
    _wait_until(
        lambda: api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == "primary only",
        "the replica replays the change",
    )


def test_queries_are_served_by_the_replica(
    api: Api, server: ServerProcess, pair: StreamingPair
) -> None:
    ready = _ready(server)
    assert ready.status_code == 200
    assert ready.json()["replica"]["state"] == "streaming"
    before = _replica_reads(server)
    _served_by_the_replica(api, pair)
    assert _replica_reads(server) > before


def test_read_your_writes_after_every_command_with_queries_on_the_replica(
    api: Api, server: ServerProcess
) -> None:
    on_replica, on_primary = _replica_reads(server), _primary_reads(server)
    reads = _every_command_then_its_read(api)
    # Every read went to the replica: each command waited until the replica had replayed it.
    assert _replica_reads(server) - on_replica == reads
    assert _primary_reads(server) == on_primary


def test_read_your_writes_while_the_replica_replay_is_paused(
    api: Api, server: ServerProcess, pair: StreamingPair
) -> None:
    timeouts = _counter(server, "escrowgrid_replica_wait_timeouts")
    pair.pause_replay()
    started = time.monotonic()
    _every_command_then_its_read(api)
    # Commands waited for the replica, at most the bound each (9 commands), then fell back.
    assert time.monotonic() - started < 9 * (MAX_LAG_MS / 1000 + 2)
    assert _counter(server, "escrowgrid_replica_wait_timeouts") > timeouts
    assert _counter(server, "escrowgrid_replica_reads", served_by="primary") > 0
    replica = _replica(server)
    assert replica["servingReads"] is False and replica["state"] in {"stale", "behind"}
    assert _ready(server).status_code == 200  # the service is ready: the primary serves reads
    pair.resume_replay()
    _wait_until(lambda: _replica(server)["servingReads"], "the replica serves queries again")


def test_read_your_writes_across_two_api_processes_on_the_replica(
    api: Api, server: ServerProcess, other_server: ServerProcess
) -> None:
    """Commands through one process, each read at once through the other, from the replica."""
    _wait_until(lambda: _replica(other_server)["servingReads"], "the other process uses it")
    on_replica, on_primary = _replica_reads(other_server), _primary_reads(other_server)
    reads = _every_command_then_its_read(api, Api(other_server.url, ROOT_KEY))
    assert _replica_reads(other_server) - on_replica == reads
    assert _primary_reads(other_server) == on_primary


def test_read_your_writes_across_two_api_processes_while_replay_is_paused(
    api: Api, server: ServerProcess, other_server: ServerProcess, pair: StreamingPair
) -> None:
    _wait_until(lambda: _replica(other_server)["servingReads"], "the other process uses it")
    pair.pause_replay()
    # Commands through one process, each read at once through the other, which saw no wait
    # time out: its freshness proof of the replica has expired by the time it is asked.
    _every_command_then_its_read(api, Api(other_server.url, ROOT_KEY))


def test_replica_down_queries_use_the_primary_then_the_replica_again(
    api: Api, server: ServerProcess, pair: StreamingPair
) -> None:
    inst = api.institution("Through An Outage")
    pair.stop_standby()
    back_at = time.monotonic() + OUTAGE_S
    _wait_until(lambda: _replica(server)["state"] == "down", "/ready reports the replica down")
    ready = _ready(server)
    assert ready.status_code == 200 and ready.json()["ok"] is True
    assert ready.json()["replica"]["servingReads"] is False
    assert ready.json()["replica"]["error"]
    down_reads = _counter(server, "escrowgrid_replica_reads", served_by="primary", reason="down")
    assert api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == "Through An Outage"
    _every_command_then_its_read(api)
    after = _counter(server, "escrowgrid_replica_reads", served_by="primary", reason="down")
    assert after > down_reads
    # An outage of some seconds: the pool of queries is made anew at the reconnection.
    time.sleep(max(0.0, back_at - time.monotonic()))
    pair.start_standby()
    _wait_until(lambda: _replica(server)["servingReads"], "the replica serves queries again")
    _served_by_the_replica(api, pair)
    _every_command_then_its_read(api)


def test_a_replica_url_that_names_no_standby_is_never_read(
    pair: StreamingPair, tmp_path: Path
) -> None:
    """The primary's own URL as the replica: not in recovery, so reported down, never used."""
    proc = ServerProcess(
        {
            "DATABASE_URL": pair.primary.dsn,
            "DATABASE_REPLICA_URL": pair.primary.dsn,
            "ROOT_API_KEY": ROOT_KEY,
            "ESCROWGRID_DATA_DIR": str(tmp_path / "data"),
        },
        tmp_path / "server.log",
    ).start()
    try:
        _wait_until(lambda: "error" in _replica(proc), "/ready names the problem")
        replica = _replica(proc)
        assert replica["state"] == "down" and replica["servingReads"] is False
        assert "not a standby" in replica["error"]
        _every_command_then_its_read(Api(proc.url, ROOT_KEY))
        assert _replica_reads(proc) == 0
    finally:
        proc.stop()


def test_replica_connections_the_standby_closed_are_replaced_before_a_query_meets_them(
    api: Api, server: ServerProcess, pair: StreamingPair
) -> None:
    """Backends ended on the standby close their sockets: the pool sees it on checkout and
    connects again, so the replica itself answers, with no error and no retry."""
    inst = api.institution("Cut Connections")
    for _ in range(4):  # the replica pool holds open connections
        assert api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == "Cut Connections"
    retried = _primary_reads(server)
    before = _replica_reads(server)
    cut = pair.cut_standby_connections("escrowgrid", keep_application="escrowgrid-replica-monitor")
    assert cut >= 2
    time.sleep(0.2)  # the closes reach the service's sockets
    for _ in range(4):
        assert api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == "Cut Connections"
        assert api.ok(api.get("/positions", params={"limit": 1}))["pagination"]["limit"] == 1
    assert _replica_reads(server) >= before + 8
    assert _primary_reads(server) == retried


def test_a_query_whose_replica_connection_breaks_is_answered_from_the_primary(
    pair: StreamingPair, tmp_path: Path
) -> None:
    """Connections dropped without a word (a firewall forgetting idle ones) fail only when the
    query is sent: the request is run again on the primary, and the answer is still a 200."""
    relay = ForgetfulRelay(pair.standby.socket_dir, pair.standby.port, tmp_path / "relay")
    proc = _server(pair, tmp_path, relay.dsn("escrowgrid", "escrowgrid"))
    try:
        api = Api(proc.url, ROOT_KEY)
        _wait_until(lambda: _replica(proc)["servingReads"], "the replica serves queries")
        inst = api.institution("Forgotten Connections")
        for _ in range(4):  # the replica pool holds open connections
            assert api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == inst["name"]
        retried = _primary_reads(proc)
        assert relay.forget(keep_application="escrowgrid-replica-monitor") >= 2
        # The monitor's own connection still stands: the replica looks fresh, its pool is not.
        for _ in range(4):
            assert api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == inst["name"]
            assert api.ok(api.get("/positions", params={"limit": 1}))["pagination"]["limit"] == 1
        assert _primary_reads(proc) > retried
        _wait_until(lambda: _replica(proc)["servingReads"], "the replica serves queries again")
        before = _replica_reads(proc)
        assert api.ok(api.get(f"/institutions/{inst['id']}"))["name"] == inst["name"]
        assert _replica_reads(proc) > before
    finally:
        proc.stop()
        relay.close()
