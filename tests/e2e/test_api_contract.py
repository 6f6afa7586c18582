"""The REST contract over real HTTP: shapes, status codes, tenancy, roles, read-your-writes."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import ROOT_KEY
from tests.support.api import Api

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")


def test_institution_shape_and_listing(api: Api) -> None:
    inst = api.institution("Shape Bank", ["US", "EU_UK"])
    assert set(inst) == {"id", "name", "regions", "verticals", "createdAt", "updatedAt"}
    assert inst["name"] == "Shape Bank" and inst["regions"] == ["US", "EU_UK"]
    assert inst["verticals"] == ["CONSTRUCTION"]
    assert ISO.match(inst["createdAt"]) and ISO.match(inst["updatedAt"])
    uuid.UUID(inst["id"])
    assert api.ok(api.get(f"/institutions/{inst['id']}")) == inst
    assert inst in api.ok(api.get("/institutions"))
    assert api.get(f"/institutions/{uuid.uuid4()}").status_code == 404
    assert api.get("/institutions/not-an-id").status_code == 404


def test_keys_roles_and_tenancy(api: Api) -> None:
    a = api.world()
    b = api.world()
    admin_a: Api = a["admin"]
    created = api.key(a["institution"]["id"], role="read_only", label="auditor")
    assert set(created) == {"id", "institutionId", "label", "role", "createdAt", "apiKey"}
    reader = api.as_key(created["apiKey"])
    # A key sees only its own institution.
    assert [i["id"] for i in admin_a.ok(admin_a.get("/institutions"))] == [a["institution"]["id"]]
    r = admin_a.get(f"/institutions/{b['institution']['id']}")
    assert r.status_code == 403 and "name" not in r.text
    # read_only: GET works, any write is 403.
    assert reader.get(f"/assets/{a['asset']['id']}").status_code == 200
    r = reader.post(
        "/positions",
        {"assetId": a["asset"]["id"], "holderReference": "h", "currency": "USD", "amount": 1},
    )
    assert r.status_code == 403 and r.json()["error"]
    # Only root creates institutions.
    assert admin_a.post("/institutions", {"name": "x", "regions": ["US"]}).status_code == 403
    # Another institution's asset, template, position: 403, never the content.
    pos_b = b["admin"].position(b["asset"]["id"])
    for path in (
        f"/assets/{b['asset']['id']}",
        f"/asset-templates/{b['template']['id']}",
        f"/positions/{pos_b['id']}",
    ):
        r = admin_a.get(path)
        assert r.status_code == 403, path
        assert b["asset"]["id"] not in r.text or path.endswith(b["asset"]["id"])
    assert admin_a.move(pos_b["id"], "FUNDED").status_code == 403
    # Key listing shows no tokens and no revoked keys.
    keys = api.ok(api.get(f"/institutions/{a['institution']['id']}/api-keys"))
    assert all("apiKey" not in k and "keyHash" not in k for k in keys)
    assert created["id"] in [k["id"] for k in keys]


def test_missing_invalid_and_revoked_keys(api: Api) -> None:
    w = api.world()
    anonymous = api.as_key(None)
    r = anonymous.get("/institutions")
    assert r.status_code == 401 and r.json() == {"error": "Missing API key"}
    r = api.as_key("not-a-key-at-all").get("/institutions")
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
    bearer = httpx.get(
        api.base_url + "/institutions", headers={"Authorization": f"Bearer {ROOT_KEY}"}
    )
    assert bearer.status_code == 200
    extra = api.key(w["institution"]["id"], label="temp")
    temp = api.as_key(extra["apiKey"])
    assert temp.get("/institutions").status_code == 200
    revoked = api.ok(
        api.post(f"/institutions/{w['institution']['id']}/api-keys/{extra['id']}/revoke")
    )
    assert revoked["id"] == extra["id"] and revoked["revokedAt"]
    # The very next request with the revoked key is refused.
    assert temp.get("/institutions").status_code == 401
    again = api.post(f"/institutions/{w['institution']['id']}/api-keys/{extra['id']}/revoke")
    assert again.status_code == 404
    keys = api.ok(api.get(f"/institutions/{w['institution']['id']}/api-keys"))
    assert extra["id"] not in [k["id"] for k in keys]


def test_positions_lifecycle_money_and_read_your_writes(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    pos = admin.position(w["asset"]["id"], amount="1000.00000001")
    assert pos["state"] == "CREATED" and pos["events"] == []  # transitions only
    assert Decimal(str(pos["amount"])) == Decimal("1000.00000001")
    # Read-your-writes: the next GET shows it at once.
    assert admin.ok(admin.get(f"/positions/{pos['id']}")) == pos
    funded = admin.ok(admin.move(pos["id"], "FUNDED", reason="wire received"))
    assert funded["state"] == "FUNDED" and len(funded["events"]) == 1
    assert funded["events"][0]["fromState"] == "CREATED"
    part = admin.ok(admin.move(pos["id"], "PARTIALLY_RELEASED", amount="250.5"))
    assert Decimal(str(part["releasedAmount"])) == Decimal("250.5")
    assert Decimal(str(part["remainingAmount"])) == Decimal("749.50000001")
    part = admin.ok(admin.move(pos["id"], "PARTIALLY_RELEASED", amount=49.5))
    assert Decimal(str(part["releasedAmount"])) == Decimal("300")
    assert admin.ok(admin.get(f"/positions/{pos['id']}")) == part
    done = admin.ok(admin.move(pos["id"], "RELEASED"))
    assert Decimal(str(done["remainingAmount"])) == 0
    # Terminal: same state is a no-op; anything else is a 400.
    assert admin.ok(admin.move(pos["id"], "RELEASED")) == done
    r = admin.move(pos["id"], "FUNDED")
    assert r.status_code == 400 and "RELEASED" in r.json()["error"]
    ledger = admin.ok(admin.get("/ledger-events", params={"positionId": pos["id"]}))
    assert [e["kind"] for e in ledger] == ["POSITION_CREATED"] + ["POSITION_STATE_CHANGED"] * 4
    assert ledger[1]["previousState"] == "CREATED" and ledger[1]["newState"] == "FUNDED"
    assert admin.get("/ledger-events").status_code == 400  # positionId is required for keys
    assert api.get("/ledger-events").status_code == 200


def test_lists_paginate_and_filter(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    ids = [admin.position(w["asset"]["id"], amount=str(i + 1))["id"] for i in range(5)]
    page = admin.ok(admin.get("/positions", params={"limit": 2, "offset": 1}))
    assert page["pagination"] == {"total": 5, "limit": 2, "offset": 1, "hasMore": True}
    assert [p["id"] for p in page["data"]] == ids[1:3]
    by_asset = admin.ok(admin.get("/positions", params={"assetId": w["asset"]["id"]}))
    assert by_asset["pagination"]["total"] == 5
    assert admin.ok(admin.get("/positions", params={"holderReference": "nobody"}))["data"] == []
    root_view = api.ok(api.get("/positions", params={"institutionId": w["institution"]["id"]}))
    assert root_view["pagination"]["total"] == 5
    templates = admin.ok(admin.get("/asset-templates"))
    assert [t["id"] for t in templates["data"]] == [w["template"]["id"]]
    assets = admin.ok(admin.get("/assets", params={"templateId": w["template"]["id"]}))
    assert [a["id"] for a in assets["data"]] == [w["asset"]["id"]]
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
        r = admin.get("/positions", params=bad)
        assert r.status_code == 400 and r.json()["error"] == "Validation failed", bad
    assert admin.get("/positions", params={"assetId": "nope"}).status_code == 404


def test_policies_upsert_and_enforce(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    iid = w["institution"]["id"]
    body = {"position": {"minAmount": 10, "maxAmount": "500", "allowedCurrencies": ["USD"]}}
    policy = admin.ok(admin.put(f"/institutions/{iid}/policies/US", body))
    assert policy["region"] == "US" and policy["config"]["region"] == "US"
    assert Decimal(str(policy["config"]["position"]["maxAmount"])) == 500
    assert admin.ok(admin.get(f"/institutions/{iid}/policies/US")) == policy
    assert admin.ok(admin.get(f"/institutions/{iid}/policies")) == [policy]
    assert admin.get(f"/institutions/{iid}/policies/SG").status_code == 404
    assert admin.get(f"/institutions/{iid}/policies/MARS").status_code == 400
    r = admin.post(
        "/positions",
        {"assetId": w["asset"]["id"], "holderReference": "h", "currency": "USD", "amount": "501"},
    )
    assert r.status_code == 400 and r.json()["error"] == "Validation failed"
    bad = admin.put(
        f"/institutions/{iid}/policies/US", {"position": {"minAmount": 9, "maxAmount": 1}}
    )
    assert bad.status_code == 400
    assert admin.ok(admin.get(f"/institutions/{iid}/policies/US")) == policy


def test_idempotency_key_replays_and_refuses_a_different_body(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    body: dict[str, Any] = {
        "assetId": w["asset"]["id"],
        "holderReference": "idem",
        "currency": "USD",
        "amount": "5",
    }
    first = admin.post("/positions", body, headers={"Idempotency-Key": "create-1"})
    again = admin.post("/positions", body, headers={"Idempotency-Key": "create-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    listed = admin.ok(admin.get("/positions", params={"holderReference": "idem"}))
    assert listed["pagination"]["total"] == 1
    other = admin.post(
        "/positions", {**body, "amount": "6"}, headers={"Idempotency-Key": "create-1"}
    )
    assert other.status_code == 422 and other.json()["error"]
    # The token of a key is shown once: a replay does not repeat it.
    iid = w["institution"]["id"]
    k1 = api.post(
        f"/institutions/{iid}/api-keys",
        {"label": "x", "role": "admin"},
        headers={"Idempotency-Key": "k"},
    )
    k2 = api.post(
        f"/institutions/{iid}/api-keys",
        {"label": "x", "role": "admin"},
        headers={"Idempotency-Key": "k"},
    )
    assert (
        k1.json()["apiKey"] and k2.json()["apiKey"] is None and k1.json()["id"] == k2.json()["id"]
    )


def test_errors_are_json_with_a_request_id(api: Api) -> None:
    for method, path in (("GET", "/nope"), ("DELETE", "/positions"), ("PATCH", "/institutions")):
        r = api.http.request(method, path)
        assert r.status_code in (404, 405), (method, path, r.status_code)
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"] and r.headers.get("x-request-id")
