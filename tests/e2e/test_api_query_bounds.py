"""Integer query parameters are bounded and typed: 400 naming the field, never a 5xx."""

from __future__ import annotations

import httpx

from tests.support.api import Api

PAGED = ("/positions", "/assets", "/asset-templates", "/audit-events")
HUGE = "99999999999999999999"


def _field_error(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, (str(r.request.url), r.status_code, r.text)
    body = r.json()
    assert body["error"] == "Validation failed", body
    assert field in [d["field"] for d in body["details"]], body


def test_paged_lists_refuse_out_of_range_or_non_integer_offset_and_limit(api: Api) -> None:
    admin: Api = api.world()["admin"]
    for client in (api, admin):
        for path in PAGED:
            for value in (HUGE, "1000000001", "-1", "abc", "1.5", ""):
                _field_error(client.get(path, params={"offset": value}), "offset")
            for value in (HUGE, "1001", "0", "-1", "abc", "1.5", ""):
                _field_error(client.get(path, params={"limit": value}), "limit")
            edge = client.ok(client.get(path, params={"offset": 10**9, "limit": 1000}))
            assert edge["data"] == [] and edge["pagination"]["offset"] == 10**9


def test_event_feed_refuses_out_of_range_or_non_integer_after_and_limit(api: Api) -> None:
    admin: Api = api.world()["admin"]
    for client in (api, admin):
        for value in (HUGE, str(2**63), "-1", "abc", "1.5", ""):
            _field_error(client.get("/events", params={"after": value}), "after")
        for value in (HUGE, "1001", "0", "abc", "1.5"):
            _field_error(client.get("/events", params={"limit": value}), "limit")
        edge = client.ok(client.get("/events", params={"after": 2**63 - 1}))
        assert edge["data"] == [] and edge["hasMore"] is False
