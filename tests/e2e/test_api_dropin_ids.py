"""Ids are opaque to clients: any shape that names nothing is 404, in paths, filters and bodies.

Also: `GET /ledger-events` without `positionId` for an institution key is a validation error,
and the OpenAPI document names its paths as the contract does.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

import httpx
import pytest

from tests.support.api import Api

# Shapes a client may send for an id that names nothing: a word, a number, the nil UUID, and a
# 40-character random string (alphanumeric, so it stays one path segment).
GARBAGE = (
    "nope",
    "123",
    "00000000-0000-0000-0000-000000000000",
    "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40)),
)

CONTRACT_PATHS = {
    "/health",
    "/ready",
    "/institutions",
    "/institutions/{id}",
    "/institutions/{id}/api-keys",
    "/institutions/{id}/api-keys/{keyId}/revoke",
    "/institutions/{id}/policies",
    "/institutions/{id}/policies/{region}",
    "/asset-templates",
    "/asset-templates/{id}",
    "/assets",
    "/assets/{id}",
    "/positions",
    "/positions/{id}",
    "/positions/{id}/transition",
    "/ledger-events",
    "/metrics",
    "/metrics/prometheus",
}


@pytest.fixture(scope="module")
def two(api: Api) -> dict[str, Any]:
    """Institutions A and B, each with an admin key, a template, an asset and a position."""
    a, b = api.world(), api.world()
    for w in (a, b):
        w["position"] = w["admin"].position(w["asset"]["id"])
    return {"a": a, "b": b}


def _not_found(r: httpx.Response, what: str | None = None) -> None:
    assert r.status_code == 404, (r.request.method, str(r.request.url), r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    if what is not None:
        assert r.json()["error"] == f"{what} not found", r.text


def _field_error(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, (str(r.request.url), r.status_code, r.text)
    body = r.json()
    assert body["error"] == "Validation failed", body
    assert field in [d["field"] for d in body["details"]], body


def test_every_path_id_of_any_shape_that_names_nothing_is_404(
    api: Api, two: dict[str, Any]
) -> None:
    a = two["a"]
    iid = a["institution"]["id"]
    for client in (api, a["admin"]):
        for g in GARBAGE:
            for path, what in (
                (f"/positions/{g}", "Position"),
                (f"/positions/{g}/history", "Position"),
                (f"/assets/{g}", "Asset"),
                (f"/asset-templates/{g}", "Asset template"),
                (f"/institutions/{g}", "Institution"),
                (f"/institutions/{g}/api-keys", "Institution"),
                (f"/institutions/{g}/policies", "Institution"),
                (f"/institutions/{g}/policies/US", "Institution"),
            ):
                _not_found(client.get(path), what)
            as_of = {"asOf": "2030-01-01T00:00:00Z"}
            _not_found(client.get(f"/positions/{g}", params=as_of), "Position")
            _not_found(client.move(g, "FUNDED"), "Position")
            _not_found(client.post(f"/institutions/{g}/api-keys", {"label": "l", "role": "admin"}))
            _not_found(client.post(f"/institutions/{g}/api-keys/{g}/revoke"))
            _not_found(client.post(f"/institutions/{iid}/api-keys/{g}/revoke"))
            _not_found(client.put(f"/institutions/{g}/policies/US", {"position": {}}))


def test_every_filter_id_of_any_shape_that_names_nothing_is_404(
    api: Api, two: dict[str, Any]
) -> None:
    admin: Api = two["a"]["admin"]
    for g in GARBAGE:
        for client in (api, admin):
            _not_found(client.get("/ledger-events", params={"positionId": g}), "Position")
            _not_found(client.get("/positions", params={"assetId": g}), "Asset")
            _not_found(client.get("/assets", params={"templateId": g}), "Asset template")
            for path in ("/positions", "/assets", "/asset-templates", "/audit-events"):
                _not_found(client.get(path, params={"institutionId": g}), "Institution")


def test_a_filter_naming_another_institutions_resource_is_403(two: dict[str, Any]) -> None:
    a, b = two["a"], two["b"]
    admin: Api = a["admin"]
    for path, params in (
        ("/ledger-events", {"positionId": b["position"]["id"]}),
        ("/positions", {"assetId": b["asset"]["id"]}),
        ("/assets", {"templateId": b["template"]["id"]}),
        ("/positions", {"institutionId": b["institution"]["id"]}),
        ("/audit-events", {"institutionId": b["institution"]["id"]}),
    ):
        r = admin.get(path, params=params)
        assert r.status_code == 403, (path, params, r.text)
        assert b["position"]["id"] not in r.text and "holder" not in r.text


def test_filters_naming_what_exists_still_filter(api: Api, two: dict[str, Any]) -> None:
    a = two["a"]
    admin: Api = a["admin"]
    page = admin.ok(admin.get("/positions", params={"assetId": a["asset"]["id"]}))
    assert [p["id"] for p in page["data"]] == [a["position"]["id"]]
    page = admin.ok(admin.get("/assets", params={"templateId": a["template"]["id"]}))
    assert [x["id"] for x in page["data"]] == [a["asset"]["id"]]
    for client in (api, admin):
        page = client.ok(client.get("/positions", params={"institutionId": a["institution"]["id"]}))
        assert [p["id"] for p in page["data"]] == [a["position"]["id"]]


def test_every_body_reference_of_any_shape_that_names_nothing_is_404(
    api: Api, two: dict[str, Any]
) -> None:
    a = two["a"]
    admin: Api = a["admin"]
    iid = a["institution"]["id"]
    template = {
        "code": "CONSTR_ESCROW",
        "name": "Escrow",
        "vertical": "CONSTRUCTION",
        "region": "US",
        "config": {"currency": "USD", "region": "US"},
    }
    position = {"holderReference": "h", "currency": "USD", "amount": "10"}
    before = api.log_head()
    for g in GARBAGE:
        for client in (api, admin):
            own = {} if client is admin else {"institutionId": iid}
            _not_found(client.post("/positions", {**position, **own, "assetId": g}), "Asset")
            r = client.post("/assets", {**own, "templateId": g, "label": "x"})
            _not_found(r, "Asset template")
            for path, body in (
                ("/asset-templates", template),
                ("/assets", {"templateId": a["template"]["id"], "label": "x"}),
                ("/positions", {**position, "assetId": a["asset"]["id"]}),
            ):
                _not_found(client.post(path, {**body, "institutionId": g}), "Institution")
    assert api.log_head() == before  # nothing was written


def test_over_long_or_control_character_ids_in_queries_and_bodies_are_400(
    two: dict[str, Any],
) -> None:
    admin: Api = two["a"]["admin"]
    for bad in ("x" * 300, "a\x00b", "a\nb"):
        _field_error(admin.get("/ledger-events", params={"positionId": bad}), "positionId")
        _field_error(admin.get("/positions", params={"assetId": bad}), "assetId")
        _field_error(admin.get("/assets", params={"templateId": bad}), "templateId")
        _field_error(admin.get("/positions", params={"institutionId": bad}), "institutionId")
        r = admin.post(
            "/positions", {"assetId": bad, "holderReference": "h", "currency": "USD", "amount": 1}
        )
        _field_error(r, "assetId")
        _field_error(admin.post("/assets", {"templateId": bad, "label": "x"}), "templateId")


def test_ledger_events_without_position_id_is_a_validation_error_for_keys(
    api: Api, two: dict[str, Any]
) -> None:
    admin: Api = two["a"]["admin"]
    _field_error(admin.get("/ledger-events"), "positionId")
    everything = api.ok(api.get("/ledger-events"))
    assert {two["a"]["position"]["id"], two["b"]["position"]["id"]} <= {
        e["positionId"] for e in everything
    }


def test_openapi_uses_the_contracts_paths(api: Api) -> None:
    paths = set(api.ok(api.get("/openapi.json"))["paths"])
    assert paths >= CONTRACT_PATHS, sorted(CONTRACT_PATHS - paths)
    assert not [p for p in paths if "_id}" in p], sorted(paths)
