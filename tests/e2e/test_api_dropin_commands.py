"""Commands as existing clients send them: racing policy upserts, idempotency over the parsed
command, and bodies that are not declared JSON."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx

from tests.support.api import Api
from tests.support.log_rows import event_count
from tests.support.server import ServerProcess

# -- 415: only declared JSON is a command body ---------------------------------------------------


def test_bodies_not_declared_json_are_refused_with_415_and_write_nothing(
    api: Api, api_server: ServerProcess
) -> None:
    w = api.world()
    admin: Api = w["admin"]
    raw = (
        b'{"assetId": "%s", "holderReference": "h-415", "currency": "USD", "amount": "5"}'
        % w["asset"]["id"].encode()
    )
    before = event_count(api_server)
    for content_type in (
        "text/plain",
        None,
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/jsonx",
        "text/json",
    ):
        headers = {} if content_type is None else {"content-type": content_type}
        r = admin.http.post("/positions", content=raw, headers=headers)
        assert r.status_code == 415, (content_type, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"] == "Unsupported media type", r.json()
        assert [d["field"] for d in r.json()["details"]] == ["content-type"]
        put = admin.http.put(
            f"/institutions/{w['institution']['id']}/policies/US",
            content=b'{"position": {"maxAmount": "10"}}',
            headers=headers,
        )
        assert put.status_code == 415, (content_type, put.status_code, put.text)
    assert event_count(api_server) == before
    listed = admin.ok(admin.get("/positions", params={"holderReference": "h-415"}))
    assert listed["pagination"]["total"] == 0


def test_declared_json_with_parameters_or_a_json_suffix_is_accepted(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    body = b'{"assetId": "%s", "holderReference": "h-json", "currency": "USD", "amount": "%s"}'
    aid = w["asset"]["id"].encode()
    for i, content_type in enumerate(
        (
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
            "application/merge-patch+json",
            "application/vnd.escrowgrid.position+json; charset=utf-8",
        ),
        start=1,
    ):
        r = admin.http.post(
            "/positions",
            content=body % (aid, str(i).encode()),
            headers={"content-type": content_type},
        )
        assert r.status_code == 201, (content_type, r.status_code, r.text)
        assert Decimal(str(r.json()["amount"])) == i


def test_a_route_without_a_body_needs_no_content_type(api: Api) -> None:
    w = api.world()
    iid = w["institution"]["id"]
    key = api.key(iid, label="to-revoke")
    r = api.http.post(f"/institutions/{iid}/api-keys/{key['id']}/revoke")
    assert r.status_code == 200, r.text
    assert r.json()["revokedAt"]


# -- idempotency compares the parsed command -----------------------------------------------------


def test_idempotency_compares_the_parsed_command_not_its_bytes(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    aid = w["asset"]["id"]
    forms = [
        b'{"assetId": "%s", "holderReference": "idem-c", "currency": "USD", "amount": 10}',
        b'{"amount": "10", "currency": "USD", "holderReference": "idem-c", "assetId": "%s"}',
        b'{ "currency":"USD","amount":10.0, "assetId":"%s","holderReference":"idem-c" }',
        b'{"holderReference": "idem-c", "amount": "10.00", "assetId": "%s", "currency": "USD"}',
    ]
    answers = []
    for raw in forms:
        r = admin.http.post(
            "/positions",
            content=raw.replace(b"%s", aid.encode()),
            headers={"content-type": "application/json", "Idempotency-Key": "canon-1"},
        )
        assert r.status_code == 201, (raw, r.status_code, r.text)
        answers.append(r.json())
    assert all(a == answers[0] for a in answers)
    listed = admin.ok(admin.get("/positions", params={"holderReference": "idem-c"}))
    assert listed["pagination"]["total"] == 1
    # A genuinely different command under the same key is still refused.
    for other in (
        {"assetId": aid, "holderReference": "idem-c", "currency": "USD", "amount": "11"},
        {"assetId": aid, "holderReference": "idem-d", "currency": "USD", "amount": "10"},
    ):
        r = admin.post("/positions", other, headers={"Idempotency-Key": "canon-1"})
        assert r.status_code == 422, (other, r.status_code, r.text)
    pos = answers[0]
    admin.ok(admin.move(pos["id"], "FUNDED"))
    moves = [
        {"toState": "PARTIALLY_RELEASED", "amount": 2, "reason": "draw"},
        {"reason": "draw", "amount": "2.0", "toState": "PARTIALLY_RELEASED"},
    ]
    first, again = (
        admin.post(f"/positions/{pos['id']}/transition", m, headers={"Idempotency-Key": "mv-1"})
        for m in moves
    )
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other_state = admin.post(
        f"/positions/{pos['id']}/transition",
        {"toState": "RELEASED", "reason": "draw"},
        headers={"Idempotency-Key": "mv-1"},
    )
    assert other_state.status_code == 422, other_state.text
    # Metadata is compared as data too: key order inside it does not matter, values do.
    meta_a = {"toState": "PARTIALLY_RELEASED", "amount": "1", "metadata": {"a": 1, "b": [1, 2]}}
    meta_b = {"metadata": {"b": [1, 2], "a": 1}, "amount": 1, "toState": "PARTIALLY_RELEASED"}
    meta_c = {"metadata": {"b": [2, 1], "a": 1}, "amount": 1, "toState": "PARTIALLY_RELEASED"}
    path = f"/positions/{pos['id']}/transition"
    a = admin.post(path, meta_a, headers={"Idempotency-Key": "mv-2"})
    b = admin.post(path, meta_b, headers={"Idempotency-Key": "mv-2"})
    c = admin.post(path, meta_c, headers={"Idempotency-Key": "mv-2"})
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
    assert c.status_code == 422


def test_idempotency_still_tells_keys_paths_and_actors_apart(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    iid = w["institution"]["id"]
    body = {"position": {"maxAmount": "100"}}
    us = admin.put(f"/institutions/{iid}/policies/US", body, headers={"Idempotency-Key": "p-1"})
    assert us.status_code == 200
    # Same key and body on another path: another request.
    eu = admin.put(f"/institutions/{iid}/policies/EU_UK", body, headers={"Idempotency-Key": "p-1"})
    assert eu.status_code == 422
    # Another actor has its own key space.
    other_admin = api.as_key(api.key(iid)["apiKey"])
    mine = other_admin.put(
        f"/institutions/{iid}/policies/EU_UK", body, headers={"Idempotency-Key": "p-1"}
    )
    assert mine.status_code == 200 and mine.json()["region"] == "EU_UK"


# -- racing policy upserts: the last one wins, nobody gets a 409 ---------------------------------


def test_concurrent_policy_upserts_all_succeed(api: Api, api_server: ServerProcess) -> None:
    w = api.world()
    admin: Api = w["admin"]
    iid = w["institution"]["id"]
    path = f"/institutions/{iid}/policies/US"
    headers = dict(admin.http.headers)

    def put(i: int) -> httpx.Response:
        body: dict[str, Any] = {"position": {"minAmount": "1", "maxAmount": str(1000 + i)}}
        with httpx.Client(base_url=admin.base_url, headers=headers, timeout=60) as c:
            return c.put(path, json=body)

    for _ in range(2):  # the first round creates the policy, the second updates it
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(put, range(20)))
        assert [r.status_code for r in results] == [200] * 20, [
            (r.status_code, r.text) for r in results if r.status_code != 200
        ]
        final = admin.ok(admin.get(path))
        limits = {Decimal(str(r.json()["config"]["position"]["maxAmount"])) for r in results}
        assert Decimal(str(final["config"]["position"]["maxAmount"])) in limits
        assert any(r.json() == final for r in results)
    assert event_count(api_server, final["id"]) == 40


def test_concurrent_upserts_with_one_idempotency_key_take_effect_once(
    api: Api, api_server: ServerProcess
) -> None:
    w = api.world()
    admin: Api = w["admin"]
    iid = w["institution"]["id"]
    path = f"/institutions/{iid}/policies/SG"
    admin.ok(admin.put(path, {"position": {"maxAmount": "1"}}))
    headers = {**dict(admin.http.headers), "Idempotency-Key": "race-1"}

    def put(_: int) -> httpx.Response:
        with httpx.Client(base_url=admin.base_url, headers=headers, timeout=60) as c:
            return c.put(path, json={"position": {"maxAmount": "77"}})

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(put, range(10)))
    assert [r.status_code for r in results] == [200] * 10, [r.text for r in results]
    assert all(r.json() == results[0].json() for r in results)
    policy = admin.ok(admin.get(path))
    assert event_count(api_server, policy["id"]) == 2
