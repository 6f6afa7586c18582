"""Clients of the original service over HTTP: state-only partial releases, transitions-only
`events`, currency decided by policy, default verticals (issue 10, points 1-4)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support.api import Api


def _money(value: object) -> Decimal:
    return Decimal(str(value))


def _position_body(asset_id: str, currency: str = "USD", amount: str = "1000") -> dict[str, Any]:
    return {"assetId": asset_id, "holderReference": "h", "currency": currency, "amount": amount}


def test_partial_release_without_amount_is_state_only(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    pid = admin.position(w["asset"]["id"], amount="1000")["id"]
    admin.ok(admin.move(pid, "FUNDED"))
    part = admin.ok(admin.move(pid, "PARTIALLY_RELEASED", reason="milestone 1"))
    assert part["state"] == "PARTIALLY_RELEASED"
    assert _money(part["releasedAmount"]) == 0 and _money(part["remainingAmount"]) == 1000
    step = part["events"][-1]
    assert (step["fromState"], step["toState"]) == ("FUNDED", "PARTIALLY_RELEASED")
    assert step.get("amount") is None
    # PARTIALLY_RELEASED -> PARTIALLY_RELEASED without amount is a move too: one more event.
    again = admin.ok(admin.move(pid, "PARTIALLY_RELEASED"))
    assert len(again["events"]) == len(part["events"]) + 1
    assert _money(again["releasedAmount"]) == 0
    assert admin.ok(admin.get(f"/positions/{pid}")) == again
    # With an amount it releases that amount; RELEASED takes the remainder.
    some = admin.ok(admin.move(pid, "PARTIALLY_RELEASED", amount="250"))
    assert _money(some["releasedAmount"]) == 250 and _money(some["events"][-1]["amount"]) == 250
    done = admin.ok(admin.move(pid, "RELEASED"))
    assert _money(done["releasedAmount"]) == 1000 and _money(done["remainingAmount"]) == 0
    assert _money(done["events"][-1]["amount"]) == 750
    # The ledger feed records no amount for the state-only steps.
    feed = admin.ok(admin.get("/ledger-events", params={"positionId": pid}))
    changes = [e for e in feed if e["kind"] == "POSITION_STATE_CHANGED"]
    assert [e["newState"] for e in changes] == [
        "FUNDED", "PARTIALLY_RELEASED", "PARTIALLY_RELEASED", "PARTIALLY_RELEASED", "RELEASED",
    ]  # fmt: skip
    assert [(e.get("payload") or {}).get("amount") is None for e in changes] == [
        True, True, True, False, False,
    ]  # fmt: skip


def test_bad_partial_release_amounts_are_still_refused(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    pid = admin.position(w["asset"]["id"], amount="100")["id"]
    admin.ok(admin.move(pid, "FUNDED"))
    for amount in ("0", "-1", "100.00000001"):
        r = admin.move(pid, "PARTIALLY_RELEASED", amount=amount)
        assert r.status_code == 400, (amount, r.text)
        assert [d["field"] for d in r.json()["details"]] == ["amount"]
    assert admin.ok(admin.get(f"/positions/{pid}"))["state"] == "FUNDED"


def test_events_hold_the_transitions_only(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    created = admin.position(w["asset"]["id"])
    pid = created["id"]
    assert created["events"] == []
    assert admin.ok(admin.get(f"/positions/{pid}"))["events"] == []
    listed = admin.ok(admin.get("/positions", params={"assetId": w["asset"]["id"]}))["data"]
    assert [p["events"] for p in listed if p["id"] == pid] == [[]]
    funded = admin.ok(admin.move(pid, "FUNDED"))
    assert [(e["fromState"], e["toState"]) for e in funded["events"]] == [("CREATED", "FUNDED")]
    cancelled = admin.ok(admin.move(pid, "CANCELLED", reason="deal off"))
    steps = [(e["fromState"], e["toState"]) for e in cancelled["events"]]
    assert steps == [("CREATED", "FUNDED"), ("FUNDED", "CANCELLED")]
    assert admin.ok(admin.get(f"/positions/{pid}")) == cancelled
    listed = admin.ok(admin.get("/positions", params={"assetId": w["asset"]["id"]}))["data"]
    assert [p for p in listed if p["id"] == pid] == [cancelled]
    # A past state from the log follows the same rule.
    as_of_created = admin.ok(admin.get(f"/positions/{pid}", params={"asOf": created["createdAt"]}))
    assert as_of_created["state"] == "CREATED" and as_of_created["events"] == []
    as_of_funded = admin.ok(admin.get(f"/positions/{pid}", params={"asOf": funded["updatedAt"]}))
    assert as_of_funded["events"] == funded["events"]
    # The creation stays in the ledger feed and the auditor history.
    feed = admin.ok(admin.get("/ledger-events", params={"positionId": pid}))
    assert [e["kind"] for e in feed] == ["POSITION_CREATED"] + ["POSITION_STATE_CHANGED"] * 2
    history = api.ok(api.get(f"/positions/{pid}/history"))
    assert history["events"][0]["type"] == "Position.Created"


def test_position_currency_is_not_bound_to_the_template(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    assert w["template"]["config"]["currency"] == "USD"
    eur = admin.ok(admin.post("/positions", _position_body(w["asset"]["id"], "EUR")), 201)
    assert eur["currency"] == "EUR"
    iid = w["institution"]["id"]
    admin.ok(
        admin.put(f"/institutions/{iid}/policies/US", {"position": {"allowedCurrencies": ["USD"]}})
    )
    r = admin.post("/positions", _position_body(w["asset"]["id"], "EUR"))
    assert r.status_code == 400 and r.json()["error"] == "Validation failed"
    assert [d["field"] for d in r.json()["details"]] == ["currency"]
    assert admin.post("/positions", _position_body(w["asset"]["id"], "USD")).status_code == 201


def test_template_amount_bounds_still_apply(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    body = {
        "code": "CONSTR_ESCROW",
        "name": "Bounded",
        "vertical": "CONSTRUCTION",
        "region": "US",
        "config": {"currency": "USD", "region": "US", "minAmount": 10, "maxAmount": 100},
    }
    template = admin.ok(admin.post("/asset-templates", body), 201)
    asset = admin.asset(template["id"])
    for amount in ("9.99999999", "100.00000001"):
        r = admin.post("/positions", _position_body(asset["id"], "EUR", amount))
        assert r.status_code == 400 and [d["field"] for d in r.json()["details"]] == ["amount"]
    assert admin.post("/positions", _position_body(asset["id"], "EUR", "100")).status_code == 201


def test_institution_without_verticals_gets_both(api: Api) -> None:
    inst = api.ok(api.post("/institutions", {"name": "Plain Bank", "regions": ["US"]}), 201)
    assert sorted(inst["verticals"]) == ["CONSTRUCTION", "TRADE_FINANCE"]
    assert api.ok(api.get(f"/institutions/{inst['id']}"))["verticals"] == inst["verticals"]
    only = {"name": "Builder Bank", "regions": ["US"], "verticals": ["CONSTRUCTION"]}
    assert api.ok(api.post("/institutions", only), 201)["verticals"] == ["CONSTRUCTION"]
