"""A thin HTTP client for the contract, for end-to-end tests."""

from __future__ import annotations

from typing import Any

import httpx


class Api:
    """Calls the service with one key; helpers build the usual fixtures over HTTP."""

    def __init__(self, base_url: str, key: str | None) -> None:
        headers = {"X-API-KEY": key} if key else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)
        self.base_url = base_url

    def as_key(self, key: str | None) -> Api:
        return Api(self.base_url, key)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.http.post(path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.http.put(path, json=json, **kw)

    def log_head(self) -> int:
        """The log's last position (root key): unchanged after a refused request."""
        feed = self.ok(self.get("/events", params={"after": 0, "limit": 1000}))
        while feed["hasMore"]:
            feed = self.ok(self.get("/events", params={"after": feed["nextAfter"], "limit": 1000}))
        return int(feed["nextAfter"])

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()

    def institution(
        self, name: str = "Acme Bank", regions: list[str] | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "regions": regions or ["US"], "verticals": ["CONSTRUCTION"]}
        return self.ok(self.post("/institutions", body), 201)

    def key(self, institution_id: str, role: str = "admin", label: str = "ops") -> dict[str, Any]:
        return self.ok(
            self.post(f"/institutions/{institution_id}/api-keys", {"label": label, "role": role}),
            201,
        )

    def template(self, institution_id: str | None = None, currency: str = "USD") -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": "CONSTR_ESCROW",
            "name": "Escrow",
            "vertical": "CONSTRUCTION",
            "region": "US",
            "config": {"currency": currency, "region": "US"},
        }
        if institution_id:
            body["institutionId"] = institution_id
        return self.ok(self.post("/asset-templates", body), 201)

    def asset(self, template_id: str, institution_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"templateId": template_id, "label": "Tower A"}
        if institution_id:
            body["institutionId"] = institution_id
        return self.ok(self.post("/assets", body), 201)

    def position(
        self, asset_id: str, amount: Any = "1000.00", institution_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "assetId": asset_id,
            "holderReference": "holder-1",
            "currency": "USD",
            "amount": amount,
        }
        if institution_id:
            body["institutionId"] = institution_id
        return self.ok(self.post("/positions", body), 201)

    def move(self, position_id: str, to_state: str, **extra: Any) -> httpx.Response:
        return self.post(f"/positions/{position_id}/transition", {"toState": to_state, **extra})

    def world(self) -> dict[str, Any]:
        """An institution with an admin key, a template, an asset: ids and an admin client."""
        inst = self.institution()
        admin_key = self.key(inst["id"])["apiKey"]
        admin = self.as_key(admin_key)
        template = admin.template()
        asset = admin.asset(template["id"])
        return {
            "institution": inst,
            "admin": admin,
            "admin_key": admin_key,
            "template": template,
            "asset": asset,
        }
