"""Money in answers: every amount is a canonical decimal string; client data keeps its types."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx

from tests.support.api import Api

CANONICAL = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")


def _exact(response: httpx.Response, status: int = 200) -> Any:
    """The body with every JSON number as Decimal, so a number is never mistaken for a string."""
    assert response.status_code == status, (response.status_code, response.text)
    return json.loads(response.text, parse_float=Decimal, parse_int=Decimal)


def _send(client: Api, method: str, path: str, payload: str, status: int = 200) -> Any:
    """Send JSON text as typed (numbers with trailing zeros stay so) and read the answer exactly."""
    response = client.http.request(
        method, path, content=payload.encode(), headers={"content-type": "application/json"}
    )
    return _exact(response, status)


def _amounts(position: dict[str, Any]) -> list[Any]:
    steps = [e["amount"] for e in position["events"] if "amount" in e]
    return [position["amount"], position["releasedAmount"], position["remainingAmount"], *steps]


def test_position_amounts_are_canonical_strings_whatever_the_input_form(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    asset = w["asset"]["id"]
    # Sent as a JSON number with trailing zeros: answered as the canonical string.
    created = _send(admin, "POST", "/positions", f'{{"assetId": "{asset}",'
        ' "holderReference": "h", "currency": "USD", "amount": 250000.00}', 201)  # fmt: skip
    assert (created["amount"], created["releasedAmount"], created["remainingAmount"]) == (
        "250000",
        "0",
        "250000",
    )
    admin.ok(admin.move(created["id"], "FUNDED"))
    # Sent as a decimal string with trailing zeros, and with free-form metadata numbers.
    moved = _send(admin, "POST", f"/positions/{created['id']}/transition",
        '{"toState": "PARTIALLY_RELEASED", "amount": "12.50", "metadata": {"f": 2.5}}')  # fmt: skip
    assert moved["releasedAmount"] == "12.5" and moved["remainingAmount"] == "249987.5"
    step = moved["events"][-1]
    assert step["amount"] == "12.5"
    # Client data is not money: its numbers stay JSON numbers, every digit kept.
    assert step["metadata"] == {"f": Decimal("2.5")}
    moved = _exact(admin.move(created["id"], "PARTIALLY_RELEASED", amount=7))
    assert moved["events"][-1]["amount"] == "7" and moved["releasedAmount"] == "19.5"
    read = _exact(admin.get(f"/positions/{created['id']}"))
    listed = _exact(admin.get("/positions", params={"assetId": asset}))["data"]
    for position in (created, moved, read, *listed):
        for amount in _amounts(position):
            assert isinstance(amount, str) and CANONICAL.match(amount), (amount, position)


def test_the_largest_amount_keeps_all_24_digits_in_answers_and_the_ledger_feed(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    big = "999999999999999.99999999"  # 24 significant digits: no IEEE double holds it
    position = _exact(admin.post("/positions", {"assetId": w["asset"]["id"],
        "holderReference": "h", "currency": "USD", "amount": big}), 201)  # fmt: skip
    assert position["amount"] == big
    admin.ok(admin.move(position["id"], "FUNDED"))
    admin.ok(admin.move(position["id"], "PARTIALLY_RELEASED", amount="0.10000000"))
    ledger = _exact(admin.get("/ledger-events", params={"positionId": position["id"]}))
    assert ledger[0]["payload"]["amount"] == big
    assert ledger[2]["payload"]["amount"] == "0.1"


def test_ledger_feed_amounts_are_canonical_and_its_metadata_keeps_numbers(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    position = admin.position(w["asset"]["id"], amount="1000.50")
    admin.ok(admin.move(position["id"], "FUNDED", metadata={"count": 3}))
    _send(admin, "POST", f"/positions/{position['id']}/transition",
        '{"toState": "PARTIALLY_RELEASED", "amount": 10.250, "metadata": {"r": 1.0}}')  # fmt: skip
    ledger = _exact(admin.get("/ledger-events", params={"positionId": position["id"]}))
    assert ledger[0]["payload"]["amount"] == "1000.5"
    assert ledger[1]["payload"]["metadata"] == {"count": 3}
    assert ledger[2]["payload"]["amount"] == "10.25"
    assert ledger[2]["payload"]["metadata"] == {"r": Decimal("1.0")}


def test_policy_limits_are_strings_and_asset_and_template_numbers_stay_numbers(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    iid = w["institution"]["id"]
    policy = _send(admin, "PUT", f"/institutions/{iid}/policies/US",
        '{"position": {"minAmount": 10.00, "maxAmount": "500.50"}}')  # fmt: skip
    assert policy["config"]["position"] == {"minAmount": "10", "maxAmount": "500.5"}
    assert _exact(admin.get(f"/institutions/{iid}/policies/US")) == policy
    assert _exact(admin.get(f"/institutions/{iid}/policies")) == [policy]
    asset = _send(admin, "POST", "/assets", f'{{"templateId": "{w["template"]["id"]}",'
        ' "label": "L", "metadata": {"area": 12.50, "floors": 3, "price": "7"}}', 201)  # fmt: skip
    assert asset["metadata"] == {"area": Decimal("12.50"), "floors": 3, "price": "7"}
    assert _exact(admin.get(f"/assets/{asset['id']}"))["metadata"] == asset["metadata"]
    template = _send(admin, "POST", "/asset-templates", '{"code": "CONSTR_ESCROW", "name": "E",'
        ' "vertical": "CONSTRUCTION", "region": "US", "config": {"currency": "USD",'
        ' "region": "US", "maxAmount": 5000.00}}', 201)  # fmt: skip
    assert template["config"]["maxAmount"] == Decimal("5000.00")


def test_an_idempotent_replay_answers_the_same_strings(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    body = {"assetId": w["asset"]["id"], "holderReference": "h", "currency": "USD", "amount": 42.5}
    first = admin.post("/positions", json=body, headers={"Idempotency-Key": "money-replay"})
    again = admin.post("/positions", json=body, headers={"Idempotency-Key": "money-replay"})
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content
    assert _exact(again, 201)["amount"] == "42.5"


def test_amount_strings_must_be_plain_decimal_literals(api: Api) -> None:
    # A string is read by the domain's rule, not by whatever Decimal() would accept.
    w = api.world()
    admin: Api = w["admin"]
    before = api.log_head()
    for text in ("1e3", " 12", "12 ", "1_000", "+5", "0x10", "١٢", "Infinity", "NaN"):
        body = {"assetId": w["asset"]["id"], "holderReference": "h", "currency": "USD"}
        r = admin.post("/positions", {**body, "amount": text})
        assert r.status_code == 400, (text, r.text)
        assert [d["field"] for d in r.json()["details"]] == ["amount"], (text, r.text)
    position = admin.position(w["asset"]["id"], amount="100")
    admin.ok(admin.move(position["id"], "FUNDED"))
    for text in ("1e1", " 5", "5_0"):
        r = admin.move(position["id"], "PARTIALLY_RELEASED", amount=text)
        assert r.status_code == 400, (text, r.text)
        assert [d["field"] for d in r.json()["details"]] == ["amount"], (text, r.text)
    for wrong in (True, [1], {"v": 1}):
        r = admin.move(position["id"], "PARTIALLY_RELEASED", amount=wrong)
        assert r.status_code == 400, (wrong, r.text)
    assert api.log_head() > before  # the accepted position and its move, nothing else
    answered = admin.ok(admin.get(f"/positions/{position['id']}"))
    assert answered["releasedAmount"] == "0" and answered["state"] == "FUNDED"
