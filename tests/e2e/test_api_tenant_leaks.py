"""What an institution key learns of other tenants through the auditor routes: nothing of theirs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api


@pytest.fixture(scope="module")
def two(api: Api) -> dict[str, Any]:
    """A with one position; B with a moved position, a policy and a second key."""
    a, b = api.world(), api.world()
    a["position"] = a["admin"].position(a["asset"]["id"])
    b["position"] = b["admin"].position(b["asset"]["id"])
    b["admin"].ok(b["admin"].move(b["position"]["id"], "FUNDED"))
    b["admin"].ok(
        b["admin"].put(f"/institutions/{b['institution']['id']}/policies/US", {"position": {}})
    )
    return {"a": a, "b": b}


def test_the_global_digest_is_root_only(api: Api, two: dict[str, Any]) -> None:
    for w in (two["a"], two["b"]):
        r = w["admin"].get("/ledger/digest")
        assert r.status_code == 403, r.text
        assert "digest" not in r.json() and "position" not in r.json()
    digest = api.ok(api.get("/ledger/digest"))
    assert digest["position"] > 0 and len(digest["digest"]) == 64


def test_as_of_does_not_reveal_when_another_tenants_position_was_opened(
    two: dict[str, Any],
) -> None:
    admin: Api = two["a"]["admin"]
    theirs = two["b"]["position"]["id"]
    for at in ("2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"):
        r = admin.get(f"/positions/{theirs}", params={"asOf": at})
        assert r.status_code == 403, (at, r.text)
        assert theirs not in r.text


def test_feeds_and_trails_hold_only_the_keys_own_institution(api: Api, two: dict[str, Any]) -> None:
    a, b = two["a"], two["b"]
    admin: Api = a["admin"]
    mine, theirs = a["institution"]["id"], b["institution"]["id"]
    feed = admin.ok(admin.get("/events", params={"after": 0, "limit": 1000}))
    assert feed["data"] and {e["institutionId"] for e in feed["data"]} == {mine}
    assert theirs not in str(feed) and b["position"]["id"] not in str(feed)
    trail = admin.ok(admin.get("/audit-events", params={"limit": 1000}))
    assert {e["institutionId"] for e in trail["data"]} == {mine}
    # The count is the tenant's own: A ran a template, an asset and a position (+ its key by root).
    assert trail["pagination"]["total"] == len(trail["data"])
    everything = api.ok(api.get("/audit-events", params={"institutionId": mine, "limit": 1000}))
    assert trail["pagination"]["total"] == everything["pagination"]["total"]
    events = admin.ok(admin.get("/ledger-events", params={"positionId": a["position"]["id"]}))
    assert {e["positionId"] for e in events} == {a["position"]["id"]}
    for path, params in (
        (f"/positions/{b['position']['id']}/history", {}),
        ("/ledger-events", {"positionId": b["position"]["id"]}),
        (f"/institutions/{theirs}/policies", {}),
        ("/audit-events", {"institutionId": theirs}),
    ):
        r = admin.get(path, params=params)
        assert r.status_code == 403, (path, r.text)
        assert b["position"]["id"] not in r.text or path.startswith("/positions/")
