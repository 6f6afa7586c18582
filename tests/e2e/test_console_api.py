"""The routes the admin console added: key kind, read-side status, past digests, hashed bytes,
the `state` filter of GET /positions, and the console's files at /console/."""

from __future__ import annotations

import base64
from uuid import UUID

from escrowgrid.api import console_site
from escrowgrid.eventlog.hashing import event_hash
from tests.support.api import Api


def test_whoami_names_the_kind_of_key(api: Api) -> None:
    w = api.world()
    read_key = api.key(w["institution"]["id"], role="read_only", label="audit")["apiKey"]
    assert api.ok(api.get("/whoami"))["kind"] == "root"
    admin = api.ok(w["admin"].get("/whoami"))
    assert admin["kind"] == "admin" and admin["institutionId"] == w["institution"]["id"]
    assert api.ok(api.as_key(read_key).get("/whoami"))["kind"] == "read_only"
    assert api.as_key("eg_not-a-key").get("/whoami").status_code == 401


def test_positions_filter_by_state(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    created = admin.position(w["asset"]["id"])
    funded = admin.position(w["asset"]["id"])
    admin.ok(admin.move(funded["id"], "FUNDED"))
    found = admin.ok(admin.get("/positions", params={"state": "FUNDED"}))
    assert [p["id"] for p in found["data"]] == [funded["id"]]
    assert found["pagination"]["total"] == 1
    found = admin.ok(admin.get("/positions", params={"state": "CREATED", "limit": 1}))
    assert [p["id"] for p in found["data"]] == [created["id"]]
    assert admin.get("/positions", params={"state": "LOST"}).status_code == 400


def test_history_carries_the_hashed_bytes(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    pos = admin.position(w["asset"]["id"])
    admin.ok(admin.move(pos["id"], "FUNDED"))
    events = admin.ok(admin.get(f"/positions/{pos['id']}/history"))["events"]
    prev = None
    for e in events:
        state, meta = base64.b64decode(e["stateBytes"]), base64.b64decode(e["metaBytes"])
        expected = event_hash(prev, UUID(pos["id"]), e["version"], e["topic"], state, meta)
        assert expected.hex() == e["hash"]
        prev = expected


def test_projection_status_and_past_digest_are_root_only(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    assert admin.get("/projections/status").status_code == 403
    assert admin.get("/ledger/digest-at", params={"position": 1}).status_code == 403
    rows = api.ok(api.get("/projections/status"))
    assert {"positions", "ledger_digest"} <= {r["projection"] for r in rows}
    assert all({"position", "head", "lagEvents", "lagSeconds", "runner"} <= set(r) for r in rows)
    current = api.ok(api.get("/ledger/digest"))
    at = api.ok(api.get("/ledger/digest-at", params={"position": current["position"]}))
    assert at["digest"] == current["digest"] and at["chainValid"] is True
    genesis = api.ok(api.get("/ledger/digest-at", params={"position": 0}))
    assert genesis["digest"] == "0" * 64 and genesis["chainValid"] is True
    earlier = api.ok(api.get("/ledger/digest-at", params={"position": current["position"] - 1}))
    assert earlier["digest"] not in (None, current["digest"])
    ahead = api.ok(api.get("/ledger/digest-at", params={"position": at["logPosition"] + 10}))
    assert ahead["digest"] is None


def test_console_files_are_served_without_a_key(api: Api) -> None:
    anonymous = api.as_key(None)
    index = anonymous.get("/console/")
    if console_site.console_root() is None:
        assert index.status_code == 404 and "not built" in index.text
        return
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert "'unsafe-inline'" not in index.headers["content-security-policy"].split("style-src")[0]
    # A client-side route falls back to the app; a missing hashed asset stays a 404.
    assert anonymous.get("/console/positions/123").text == index.text
    assert anonymous.get("/console/assets/missing-0000.js").status_code == 404
    assert anonymous.get("/console", follow_redirects=False).status_code == 308
    assert anonymous.post("/console/").status_code == 405
    assert anonymous.get("/console/../openapi.json").status_code in (401, 404)
    assert "/console/" not in api.ok(api.get("/openapi.json"))["paths"]
