"""docs/api.md, the OpenAPI document and the server say the same thing."""

from __future__ import annotations

import re

from escrowgrid.domain.lifecycle import ALLOWED
from escrowgrid.domain.vocabulary import PositionState
from tests.support.api import Api
from tests.support.server import REPO

API_MD = (REPO / "docs" / "api.md").read_text()
_ROUTE = re.compile(r"\b(GET|POST|PUT|DELETE|PATCH) (/[^\s,|?]*)")
_UNDOCUMENTED_IN_SPEC = {("GET", "/openapi.json"), ("GET", "/docs")}


def documented_routes() -> set[tuple[str, str]]:
    """Every `METHOD /path` in the first column of the routes table of docs/api.md."""
    table = API_MD.split("## 3. Routes", 1)[1].split("\n## ", 1)[0]
    routes: set[tuple[str, str]] = set()
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith("| method"):
            continue
        first_cell = line.split("|")[1]
        methods = _ROUTE.findall(first_cell)
        routes.update(methods)
        if "/docs" in first_cell and ("GET", "/docs") not in routes:
            routes.add(("GET", "/docs"))
    return routes


def test_every_route_of_the_server_is_documented_and_no_other(api: Api) -> None:
    spec = api.ok(api.get("/openapi.json"))
    served = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }
    documented = documented_routes() - _UNDOCUMENTED_IN_SPEC
    assert documented == served, {
        "documented, not served": sorted(documented - served),
        "served, not documented": sorted(served - documented),
    }


def test_the_lifecycle_table_is_the_domain_rule() -> None:
    table = API_MD.split("## 6. Lifecycle", 1)[1].split("\n- ", 1)[0]
    documented: dict[PositionState, frozenset[PositionState]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 2 or cells[0] in {"from", "---"} or set(cells[0]) == {"-"}:
            continue
        targets = re.findall(r"[A-Z_]{5,}", cells[1])
        documented[PositionState(cells[0])] = frozenset(PositionState(t) for t in targets)
    assert documented == dict(ALLOWED)


def test_the_documented_money_form_is_what_the_server_sends(api: Api) -> None:
    # docs/api.md promises decimal strings; a JSON number here would make it false.
    institution = api.institution(regions=["US"])
    template = api.template(institution["id"])
    asset = api.asset(template["id"], institution["id"])
    created = api.ok(
        api.post(
            "/positions",
            {
                "institutionId": institution["id"],
                "assetId": asset["id"],
                "holderReference": "h",
                "currency": "USD",
                "amount": "250000.00",
            },
        ),
        201,
    )
    assert created["amount"] == "250000"
    assert created["events"] == []
    assert "decimal strings" in API_MD or "JSON **string**" in API_MD
