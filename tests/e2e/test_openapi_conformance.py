"""The OpenAPI document against real answers: each JSON body matches the schema it declares."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.support.api import Api

Checked = list[tuple[str, str, int]]


@pytest.fixture(scope="module")
def document(api: Api) -> dict[str, Any]:
    return api.ok(api.get("/openapi.json"))  # type: ignore[no-any-return]


def _template(document: dict[str, Any], path: str) -> str:
    """The document's path template for a concrete path: the one with most literal segments."""
    parts = path.split("/")

    def literal(segment: str) -> bool:
        return not (segment.startswith("{") and segment.endswith("}"))

    found = [
        t.split("/")
        for t in document["paths"]
        if len(t.split("/")) == len(parts)
        and all(a == b or not literal(a) for a, b in zip(t.split("/"), parts, strict=True))
    ]
    assert found, f"{path} is not in the document"
    return "/".join(max(found, key=lambda t: sum(map(literal, t))))


def _conforms(document: dict[str, Any], response: httpx.Response, checked: Checked) -> None:
    """The answer's status is declared for its operation, and its body matches that schema."""
    method = response.request.method.lower()
    template = _template(document, response.request.url.path)
    operation = document["paths"][template][method]
    status = str(response.status_code)
    declared = operation["responses"]
    assert status in declared, f"{method} {template}: {status} not declared ({sorted(declared)})"
    spec = declared[status]
    assert "X-Request-Id" in spec.get("headers", {}), f"{method} {template} {status}"
    assert response.headers.get("x-request-id")
    schema = spec["content"]["application/json"]["schema"]
    assert response.headers["content-type"].startswith("application/json")
    validator = jsonschema_rs.validator_for(
        {**schema, "components": document["components"]}, validate_formats=True
    )
    errors = [str(e) for e in validator.iter_errors(response.json())]
    assert not errors, (method, template, status, errors[:3], response.text[:500])
    checked.append((method, template, response.status_code))


def test_real_answers_match_the_declared_schemas(api: Api, document: dict[str, Any]) -> None:
    checked: Checked = []

    def ok(response: httpx.Response, status: int = 200) -> Any:
        _conforms(document, response, checked)
        return api.ok(response, status)

    inst = ok(api.post("/institutions", {"name": "Conformance Bank", "regions": ["US"]}), 201)
    iid = inst["id"]
    ok(api.get("/institutions"))
    ok(api.get(f"/institutions/{iid}"))
    key = ok(api.post(f"/institutions/{iid}/api-keys", {"label": "ops", "role": "admin"}), 201)
    ok(api.get(f"/institutions/{iid}/api-keys"))
    admin = api.as_key(key["apiKey"])
    limits = {"position": {"minAmount": "1", "maxAmount": 1000000, "allowedCurrencies": ["USD"]}}
    ok(admin.put(f"/institutions/{iid}/policies/US", limits))
    ok(admin.get(f"/institutions/{iid}/policies/US"))
    ok(admin.get(f"/institutions/{iid}/policies"))
    template = ok(admin.post("/asset-templates", {"code": "CONSTR_ESCROW", "name": "E",
        "vertical": "CONSTRUCTION", "region": "US",
        "config": {"currency": "USD", "region": "US", "maxAmount": 5000.5}}), 201)  # fmt: skip
    ok(admin.get("/asset-templates"))
    ok(admin.get(f"/asset-templates/{template['id']}"))
    asset = ok(admin.post("/assets", {"templateId": template["id"], "label": "Tower",
        "metadata": {"floors": 3, "area": 12.5}}), 201)  # fmt: skip
    ok(admin.get("/assets"))
    ok(admin.get(f"/assets/{asset['id']}"))
    position = ok(admin.post("/positions", {"assetId": asset["id"], "holderReference": "h",
        "currency": "USD", "amount": "1000.50"}), 201)  # fmt: skip
    pid = position["id"]
    move = f"/positions/{pid}/transition"
    ok(admin.post(move, {"toState": "FUNDED", "metadata": {"n": 1.5}}))
    ok(admin.post(move, {"toState": "PARTIALLY_RELEASED", "amount": 250.25}))
    ok(admin.get("/positions", params={"limit": 5}))
    ok(admin.get(f"/positions/{pid}"))
    ok(admin.get("/ledger-events", params={"positionId": pid}))
    ok(api.get("/ledger-events"))
    ok(api.get("/audit-events", params={"limit": 5}))
    ok(api.as_key(None).get("/health"))
    ok(api.as_key(None).get("/ready"))
    # Errors: each as the declared error shape.
    ok(admin.post(move, {"toState": "CREATED"}), 400)  # a forbidden move
    ok(admin.post("/positions", {"assetId": asset["id"], "holderReference": "h",
        "currency": "USD", "amount": "-1"}), 400)  # fmt: skip
    ok(api.as_key(None).get("/positions"), 401)
    ok(api.as_key("not-a-key").get(f"/positions/{pid}"), 401)
    other = ok(api.post("/institutions", {"name": "Other", "regions": ["SG"]}), 201)
    ok(admin.get(f"/institutions/{other['id']}"), 403)
    reader = api.as_key(ok(api.post(f"/institutions/{iid}/api-keys",
        {"label": "r", "role": "read_only"}), 201)["apiKey"])  # fmt: skip
    ok(reader.post(move, {"toState": "RELEASED"}), 403)
    ok(admin.get(f"/positions/{uuid.uuid4()}"), 404)
    ok(admin.get(f"/assets/{uuid.uuid4()}"), 404)
    assert {status for _, _, status in checked} >= {200, 201, 400, 401, 403, 404}
    assert len({(m, t) for m, t, _ in checked}) >= 20


def test_amounts_are_typed_as_the_decimal_strings_the_server_sends(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    position = schemas["Position"]["properties"]
    for field in ("amount", "releasedAmount", "remainingAmount"):
        assert position[field]["type"] == "string" and position[field]["pattern"], field
    step_amount = schemas["LifecycleEvent"]["properties"]["amount"]["oneOf"]
    assert {"type": "null"} in step_amount and any(s.get("type") == "string" for s in step_amount)
    limits = schemas["PositionLimits"]["properties"]
    assert any(s.get("type") == "string" for s in limits["minAmount"]["oneOf"])
    # Bodies take an amount as a decimal string or a JSON number.
    body_amount = schemas["PositionBody"]["properties"]["amount"]["oneOf"]
    assert {s["type"] for s in body_amount} == {"string", "number"}
    pattern = re.compile(position["amount"]["pattern"])
    assert all(pattern.fullmatch(v) for v in ("0", "12.5", "250000", "999999999999999.99999999"))
    assert not any(pattern.fullmatch(v) for v in ("12.50", "1E+3", "-1", "01", "1."))


def test_vocabularies_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["TransitionBody"]["properties"]["toState"]["enum"] == [
        "CREATED", "FUNDED", "PARTIALLY_RELEASED", "RELEASED", "CANCELLED", "EXPIRED",
    ]  # fmt: skip
    institution = schemas["InstitutionBody"]["properties"]
    assert institution["regions"]["items"]["enum"] == ["US", "EU_UK", "SG", "UAE"]
    verticals = next(s for s in institution["verticals"]["oneOf"] if s.get("type") == "array")
    assert verticals["items"]["enum"] == ["CONSTRUCTION", "TRADE_FINANCE"]
    assert schemas["ApiKeyBody"]["properties"]["role"]["enum"] == ["admin", "read_only"]
    template = schemas["AssetTemplateBody"]["properties"]
    assert template["vertical"]["enum"] and template["region"]["enum"]
    # Answers too: what a client may switch on is listed.
    assert schemas["Position"]["properties"]["state"]["enum"][-1] == "EXPIRED"
    assert schemas["Institution"]["properties"]["regions"]["items"]["enum"]
    assert schemas["LedgerEvent"]["properties"]["kind"]["enum"] == [
        "POSITION_CREATED", "POSITION_STATE_CHANGED",
    ]  # fmt: skip


def test_headers_security_and_schema_names(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            assert "X-Request-Id" in headers, (method, path)
            assert ("Idempotency-Key" in headers) == (method in ("post", "put")), (method, path)
            for status, response in operation["responses"].items():
                assert "X-Request-Id" in response.get("headers", {}), (method, path, status)
            if path in ("/health", "/ready"):
                assert operation["security"] == [{}], path
            else:
                assert "security" not in operation, (method, path)  # the document's default
    assert "503" in document["paths"]["/ready"]["get"]["responses"]
    assert {"apiKey", "bearer"} <= set(document["components"]["securitySchemes"])
    assert document["security"] == [{"apiKey": []}, {"bearer": []}]
    names = set(document["components"]["schemas"])
    assert {"Position", "Asset", "AssetTemplate", "Institution", "Policy", "LedgerEvent",
            "AuditEvent", "ApiKey", "Error", "PositionPage", "AssetPage", "AssetTemplatePage",
            "AuditEventPage"} <= names  # fmt: skip
    assert not [n for n in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)]
    page = document["paths"]["/positions"]["get"]["responses"]["200"]["content"]
    assert page["application/json"]["schema"] == {"$ref": "#/components/schemas/PositionPage"}
