"""Auditor endpoints: the event feed, a position's history and past state, digest, audit trail."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

from tests.support.api import Api


def test_history_as_of_and_feed(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    pos = admin.position(w["asset"]["id"], amount="100")
    admin.ok(admin.move(pos["id"], "FUNDED"))
    time.sleep(0.05)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    admin.ok(admin.move(pos["id"], "PARTIALLY_RELEASED", amount="40"))
    history = admin.ok(admin.get(f"/positions/{pos['id']}/history"))
    assert history["chain"] == {"valid": True, "firstMismatch": None}
    events = history["events"]
    assert [e["version"] for e in events] == [1, 2, 3]
    assert events[0]["prevHash"] is None
    assert all(e["prevHash"] == p["hash"] for p, e in pairwise(events))
    then = admin.ok(admin.get(f"/positions/{pos['id']}", params={"asOf": between}))
    assert then["state"] == "FUNDED" and Decimal(str(then["releasedAmount"])) == 0
    before_open = admin.get(f"/positions/{pos['id']}", params={"asOf": "2000-01-01T00:00:00Z"})
    assert before_open.status_code == 404
    assert admin.get(f"/positions/{pos['id']}", params={"asOf": "yesterday"}).status_code == 400
    # The feed: an institution key sees its own events only; root sees all.
    own = admin.ok(admin.get("/events", params={"after": 0, "limit": 1000}))
    assert own["data"] and {e["institutionId"] for e in own["data"]} == {w["institution"]["id"]}
    positions = [e["position"] for e in own["data"]]
    assert positions == sorted(positions)
    other = api.world()
    assert other["institution"]["id"] not in {e["institutionId"] for e in own["data"]}


def test_digest_and_audit_events(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    admin.position(w["asset"]["id"])
    digest = api.ok(api.get("/ledger/digest"))
    assert digest["position"] > 0 and len(digest["digest"]) == 64
    audit = admin.ok(admin.get("/audit-events", params={"action": "position.open"}))
    assert audit["data"] and all(a["action"] == "position.open" for a in audit["data"])
    everything: Any = admin.ok(admin.get("/audit-events"))
    assert {a["institutionId"] for a in everything["data"]} == {w["institution"]["id"]}
    bad = admin.get("/audit-events", params={"since": "not-a-time"})
    assert bad.status_code == 400
