"""Refused commands are in the audit trail (`outcome: refused`) and nowhere in the event log."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg

from tests.support.api import Api
from tests.support.log_rows import event_count
from tests.support.server import REPO, ServerProcess


def rid() -> str:
    return f"refusal-{uuid.uuid4()}"


def refused(client: Api, request_ids: set[str], timeout: float = 10.0) -> dict[str, Any]:
    """The refused records of these request ids, waiting for them to be written."""
    deadline = time.monotonic() + timeout
    while True:
        page = client.ok(client.get("/audit-events", params={"outcome": "refused", "limit": 1000}))
        found = {r["requestId"]: r for r in page["data"] if r["requestId"] in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_every_refused_command_is_audited_without_touching_the_log(
    api: Api, api_server: ServerProcess
) -> None:
    w = api.world()
    admin: Api = w["admin"]
    iid = w["institution"]["id"]
    other = api.world()
    reader = api.as_key(api.key(iid, role="read_only")["apiKey"])
    pos = admin.position(w["asset"]["id"])
    admin.ok(admin.move(pos["id"], "FUNDED"))
    admin.ok(admin.post("/positions", _position(w), headers={"Idempotency-Key": "audit-k"}), 201)

    expected: dict[str, tuple[int, str, str]] = {}  # request id -> status, method, route

    def send(status: int, route: str, call: Callable[[dict[str, str]], httpx.Response]) -> None:
        request_id = rid()
        r = call({"X-Request-Id": request_id})
        assert r.status_code == status, (route, r.status_code, r.text)
        expected[request_id] = (status, r.request.method, route)

    before = event_count(api_server)
    send(400, "/positions", lambda h: admin.post("/positions", _position(w, "-5"), headers=h))
    send(
        403,
        "/institutions/{id}/api-keys",
        lambda h: admin.post(
            f"/institutions/{other['institution']['id']}/api-keys",
            {"label": "x", "role": "admin"},
            headers=h,
        ),
    )
    send(403, "/positions", lambda h: reader.post("/positions", _position(w), headers=h))
    send(
        404,
        "/positions/{id}/transition",
        lambda h: admin.post(
            f"/positions/{uuid.uuid4()}/transition", {"toState": "FUNDED"}, headers=h
        ),
    )
    send(
        415,
        "/positions",
        lambda h: admin.http.post(
            "/positions", content=b"{}", headers={**h, "content-type": "text/plain"}
        ),
    )
    send(
        422,
        "/positions",
        lambda h: admin.post(
            "/positions", _position(w, "999"), headers={**h, "Idempotency-Key": "audit-k"}
        ),
    )
    send(
        400,
        "/institutions/{id}/policies/{region}",
        lambda h: admin.put(
            f"/institutions/{iid}/policies/US",
            {"position": {"minAmount": "9", "maxAmount": "1"}},
            headers=h,
        ),
    )
    root_refusal = rid()
    r = api.put(
        f"/institutions/{iid}/policies/US",
        {"position": {"allowedCurrencies": ["XXX"]}},
        headers={"X-Request-Id": root_refusal},
    )
    assert r.status_code == 400, r.text
    assert event_count(api_server) == before, "a refused command appended events"

    conflicts = _lost_races(admin, w)
    expected.update({c: (409, "POST", "/positions/{id}/transition") for c in conflicts})

    found = refused(admin, set(expected))
    assert set(found) == set(expected), [expected[r] for r in set(expected) - set(found)]
    actor_keys = {k["id"] for k in admin.ok(admin.get(f"/institutions/{iid}/api-keys"))}
    for request_id, (status, method, route) in expected.items():
        record = found[request_id]
        assert record["outcome"] == "refused"
        assert record["status"] == status, record
        assert record["method"] == method and record["route"] == route, record
        assert record["institutionId"] == iid
        assert record["actorKeyId"] in actor_keys and record["actorRole"] in ("admin", "read_only")
        assert record["error"]["message"] and record["error"]["code"], record
        assert record["at"] and record["clientAddr"] == "127.0.0.1"
        assert record["eventCount"] == 0 and record["streamIds"] == []
    # Root's refusal on an institution's path belongs to that institution's trail.
    by_root = refused(admin, {root_refusal})[root_refusal]
    assert by_root["actorRole"] == "root" and by_root["institutionId"] == iid
    assert by_root["action"] == "policy.set" and by_root["status"] == 400
    by_status = {found[r]["status"]: found[r] for r in found}
    assert by_status[400]["error"]["code"] == "validation_failed"
    assert by_status[400]["error"]["details"]
    assert by_status[415]["error"]["message"] == "Unsupported media type"
    assert by_status[404]["action"] == "position.move"
    assert by_status[422]["action"] == "position.open"

    # Accepted commands carry the outcome too; the filter selects either.
    accepted = admin.ok(admin.get("/audit-events", params={"outcome": "accepted"}))
    assert accepted["data"] and {a["outcome"] for a in accepted["data"]} == {"accepted"}
    everything = admin.ok(admin.get("/audit-events", params={"limit": 1000}))
    assert {a["outcome"] for a in everything["data"]} == {"accepted", "refused"}
    total = everything["pagination"]["total"]
    refusals = admin.ok(admin.get("/audit-events", params={"outcome": "refused"}))
    assert total == accepted["pagination"]["total"] + refusals["pagination"]["total"]
    page = admin.ok(admin.get("/audit-events", params={"limit": 2, "offset": total - 2}))
    assert len(page["data"]) == 2 and not page["pagination"]["hasMore"]
    only_refused = admin.ok(
        admin.get("/audit-events", params={"outcome": "refused", "action": "position.open"})
    )
    assert only_refused["data"] and all(
        r["action"] == "position.open" and r["outcome"] == "refused" for r in only_refused["data"]
    )
    bad = admin.get("/audit-events", params={"outcome": "maybe"})
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "outcome"

    # Tenant-scoped: another institution's admin sees none of it; root sees all of it.
    theirs = refused(other["admin"], set(expected), timeout=0)
    assert theirs == {}
    assert set(refused(api, set(expected), timeout=0)) == set(expected)
    assert set(refused(api, set(expected), timeout=0)) == set(
        r["requestId"]
        for r in api.ok(
            api.get(
                "/audit-events",
                params={"outcome": "refused", "institutionId": iid, "limit": 1000},
            )
        )["data"]
        if r["requestId"] in expected
    )


def test_refusals_without_a_key_stay_in_auth_failures(api: Api, api_server: ServerProcess) -> None:
    request_id = rid()
    r = api.as_key(None).post("/positions", {}, headers={"X-Request-Id": request_id})
    assert r.status_code == 401
    time.sleep(1.0)  # the batch interval of both logs
    assert refused(api, {request_id}, timeout=0) == {}
    with psycopg.connect(api_server.env["DATABASE_URL"]) as conn:
        row = conn.execute(
            "SELECT count(*) FROM auth_failures WHERE request_id = %s", (request_id,)
        ).fetchone()
    assert row is not None and row[0] == 1


def test_reads_and_accepted_commands_are_not_refusals(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    ids = {rid(), rid()}
    a, b = ids
    assert admin.get("/positions/" + str(uuid.uuid4()), headers={"X-Request-Id": a}).status_code
    admin.ok(admin.post("/positions", _position(w), headers={"X-Request-Id": b}), 201)
    time.sleep(1.0)
    assert refused(admin, ids, timeout=0) == {}


def test_verify_and_rebuild_leave_the_refusals_alone(api: Api, api_server: ServerProcess) -> None:
    w = api.world()
    admin: Api = w["admin"]
    request_id = rid()
    r = admin.post("/positions", _position(w, "0"), headers={"X-Request-Id": request_id})
    assert r.status_code == 400
    assert set(refused(admin, {request_id})) == {request_id}
    env = {"DATABASE_URL": api_server.env["DATABASE_URL"], "LOG_LEVEL": "warning"}
    for args in (["verify"], ["projections", "rebuild", "audit_events"], ["verify"]):
        done = subprocess.run(
            [sys.executable, "-m", "escrowgrid.cli", *args],
            env={**api_server.env, **env}, cwd=REPO, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert set(refused(admin, {request_id}, timeout=0)) == {request_id}


def _position(w: dict[str, Any], amount: str = "10") -> dict[str, Any]:
    return {
        "assetId": w["asset"]["id"],
        "holderReference": "audited",
        "currency": "USD",
        "amount": amount,
    }


def _lost_races(admin: Api, w: dict[str, Any]) -> set[str]:
    """Request ids of transitions answered 409 (a race on one position lost), racing until
    one is: partial releases may follow each other, so each loser is a conflict, not a 400."""
    headers = dict(admin.http.headers)
    for _ in range(10):
        pos = admin.position(w["asset"]["id"])
        admin.ok(admin.move(pos["id"], "FUNDED"))

        def attempt(_: int, pid: str = pos["id"]) -> tuple[str, httpx.Response]:
            request_id = rid()
            with httpx.Client(base_url=admin.base_url, headers=headers, timeout=60) as c:
                return request_id, c.post(
                    f"/positions/{pid}/transition",
                    json={"toState": "PARTIALLY_RELEASED", "amount": "1"},
                    headers={"X-Request-Id": request_id},
                )

        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(attempt, range(24)))
        lost = {request_id for request_id, r in results if r.status_code == 409}
        if lost:
            return lost
    raise AssertionError("no transition lost a race in 10 rounds of 24")
