"""Every route with a body, fed bad input: a clear 4xx JSON error, nothing written, never 5xx."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import Api


@pytest.fixture(scope="module")
def world(api: Api) -> dict[str, Any]:
    w = api.world()
    w["position"] = w["admin"].position(w["asset"]["id"])
    return w


def _routes(w: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    iid = w["institution"]["id"]
    return [
        ("POST", "/institutions", {"name": "n", "regions": ["US"]}),
        ("POST", f"/institutions/{iid}/api-keys", {"label": "l", "role": "admin"}),
        ("PUT", f"/institutions/{iid}/policies/US", {"position": {"maxAmount": 5}}),
        (
            "POST",
            "/asset-templates",
            {
                "institutionId": iid,
                "code": "TF_LC",
                "name": "n",
                "vertical": "TRADE_FINANCE",
                "region": "US",
                "config": {"currency": "USD", "issuingBankCountry": "US", "maxTenorDays": 9},
            },
        ),
        (
            "POST",
            "/assets",
            {"institutionId": iid, "templateId": w["template"]["id"], "label": "x"},
        ),
        (
            "POST",
            "/positions",
            {
                "institutionId": iid,
                "assetId": w["asset"]["id"],
                "holderReference": "h",
                "currency": "USD",
                "amount": "1",
            },
        ),
        ("POST", f"/positions/{w['position']['id']}/transition", {"toState": "FUNDED"}),
    ]


def _check(r: httpx.Response, statuses: tuple[int, ...]) -> None:
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in r.text


def test_malformed_wrong_type_oversized_and_null_bodies(api: Api, world: dict[str, Any]) -> None:
    before = api.log_head()
    for method, path, _good in _routes(world):
        for raw, headers, statuses in (
            (b"{not json", {"content-type": "application/json"}, (400,)),
            (b"", {"content-type": "application/json"}, (400,)),
            (b"[]", {"content-type": "application/json"}, (400,)),
            (b"null", {"content-type": "application/json"}, (400,)),
            (b"\x00\x01\x02", {"content-type": "application/json"}, (400,)),
            (b"x" * (1024 * 1024 + 10), {"content-type": "application/json"}, (413,)),
            (b'{"a":' * 2000 + b"1" + b"}" * 2000, {"content-type": "application/json"}, (400,)),
        ):
            r = api.http.request(method, path, content=raw, headers=headers)
            _check(r, statuses)
    assert api.log_head() == before


def test_wrong_field_types_and_missing_fields_name_the_field(
    api: Api, world: dict[str, Any]
) -> None:
    before = api.log_head()
    for method, path, good in _routes(world):
        missing = api.http.request(method, path, json={})
        _check(missing, (400,))
        for field in good:
            for bad in (None, 12345, [], {"x": 1}, "\x00", "x" * 5000, True):
                if good[field] == bad or (field == "amount" and bad == 12345):
                    continue  # the same value, or a valid one (an integer amount)
                body = {**good, field: bad}
                r = api.http.request(method, path, json=body)
                _check(r, (400, 403, 404))
                if r.status_code == 400:
                    details = r.json().get("details")
                    assert details is None or isinstance(details, list)
    assert api.log_head() == before


def test_domain_refusals_are_validation_errors(api: Api, world: dict[str, Any]) -> None:
    # The currency is the policy's to refuse (never the template's): an institution allowing USD.
    usd_only = api.world()
    usd_admin: Api = usd_only["admin"]
    policy = {"position": {"allowedCurrencies": ["USD"]}}
    usd_admin.ok(
        usd_admin.put(f"/institutions/{usd_only['institution']['id']}/policies/US", policy)
    )
    before = api.log_head()
    admin: Api = world["admin"]
    asset = world["asset"]["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"assetId": asset, "holderReference": "h", "currency": "USD", "amount": "0"}, "amount"),
        ({"assetId": asset, "holderReference": "h", "currency": "USD", "amount": "-5"}, "amount"),
        (
            {"assetId": asset, "holderReference": "h", "currency": "USD", "amount": "1.123456789"},
            "amount",
        ),
        (
            {
                "assetId": asset,
                "holderReference": "h",
                "currency": "USD",
                "amount": "1000000000000001",
            },
            "amount",
        ),
        ({"assetId": asset, "holderReference": "h", "currency": "usd", "amount": "1"}, "currency"),
        ({"assetId": asset, "holderReference": "h", "currency": "XYZ", "amount": "1"}, "currency"),
        (
            {"assetId": asset, "holderReference": "", "currency": "USD", "amount": "1"},
            "holderReference",
        ),
    ]
    eur = {"holderReference": "h", "currency": "EUR", "amount": "1"}
    for client, body, field in [
        *((admin, body, field) for body, field in cases),
        (usd_admin, {"assetId": usd_only["asset"]["id"], **eur}, "currency"),
    ]:
        r = client.post("/positions", body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"] == "Validation failed"
        assert field in [d["field"] for d in r.json()["details"]], r.json()
    pid = world["position"]["id"]
    for extra in (
        {"toState": "FLYING"},
        {"toState": "PARTIALLY_RELEASED"},
        {"toState": "RELEASED"},
        {"toState": "FUNDED", "amount": "5"},
        {"toState": "CANCELLED", "reason": "r" * 1001},
        {"toState": "FUNDED", "metadata": {"a": [[[[[[[[[[[1]]]]]]]]]]]}},
    ):
        r = admin.post(f"/positions/{pid}/transition", extra)
        assert r.status_code == 400, (extra, r.text)
    r = admin.post(f"/positions/{uuid.uuid4()}/transition", {"toState": "FUNDED"})
    assert r.status_code == 404
    big_meta = {"toState": "FUNDED", "metadata": {"blob": "x" * 70_000}}
    assert admin.post(f"/positions/{pid}/transition", big_meta).status_code == 400
    assert api.log_head() == before


def test_odd_paths_and_queries_are_4xx(api: Api) -> None:
    for path in (
        "/positions/%00",
        "/positions/..%2f..%2fetc",
        "/institutions/%ff%fe",
        "/positions?limit=%00",
        "/positions?assetId=%00",
        "/asset-templates/" + "a" * 5000,
    ):
        r = api.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
