"""Schemathesis hooks for the stateful run: make creations valid often enough to reach the
operations linked from them.

The document cannot say that a template's `config` depends on its `code`, and a scenario that
starts at a creation deep in the chain (an asset, a position) names a parent no one created, so
almost every scenario would stop at its first step. These hooks fill such fields from what the
run itself created (never over an id a link supplied); every other field stays as generated.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import schemathesis

REGIONS = ["US", "EU_UK", "SG", "UAE"]
VERTICALS = ["CONSTRUCTION", "TRADE_FINANCE"]
TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "CONSTR_ESCROW": ("CONSTRUCTION", {"currency": "USD"}),
    "CONSTR_RETAINAGE": ("CONSTRUCTION", {"currency": "USD", "retainagePercentage": 5}),
    "TF_INVOICE": ("TRADE_FINANCE", {"currency": "USD", "maxTenorDays": 90, "country": "US"}),
    "TF_LC": ("TRADE_FINANCE", {"currency": "USD", "maxTenorDays": 90, "issuingBankCountry": "US"}),
}
CODES = sorted(TEMPLATES)
# Text fields a creation requires as 1-255 printable characters, by operation.
NAMES = {
    "createInstitution": "name",
    "createAssetTemplate": "name",
    "createAsset": "label",
    "createPosition": "holderReference",
}
# What the run created, by operation: the answers' bodies (ids and their institution).
CREATED: dict[str, list[dict[str, Any]]] = {
    "createInstitution": [],
    "createAssetTemplate": [],
    "createAsset": [],
    "createPosition": [],
}
# The parent a creation names: (its field, the creation that made it).
PARENTS = {
    "createAssetTemplate": ("institutionId", "createInstitution"),
    "createAsset": ("templateId", "createAssetTemplate"),
    "createPosition": ("assetId", "createAsset"),
}


def _operation(case: Any) -> str | None:
    operation_id = case.operation.definition.raw.get("operationId")
    return operation_id if isinstance(operation_id, str) else None


def _printable(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable()


def _known(operation: str, value: Any) -> bool:
    return any(made["id"] == value for made in CREATED[operation])


def _name_a_parent(operation: str, body: dict[str, Any]) -> None:
    field, parent_operation = PARENTS[operation]
    made = CREATED[parent_operation]
    if not made or _known(parent_operation, body.get(field)):
        return
    parent = made[len(made) // 2]  # deterministic, and not always the newest
    body[field] = parent["id"]
    body["institutionId"] = parent.get("institutionId", parent["id"])


def _valid_amount(value: Any) -> bool:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return False
    return 0 < amount <= 10**15 and amount == amount.quantize(Decimal("1e-8"))


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    operation = _operation(case)
    positions = CREATED["createPosition"]
    if (
        operation == "transitionPosition"
        and positions
        and not _known("createPosition", case.path_parameters.get("id"))
    ):
        case.path_parameters["id"] = positions[len(positions) // 2]["id"]
    body = case.body
    if operation is None or not isinstance(body, dict):
        return
    name = NAMES.get(operation)
    if name is not None and not _printable(body.get(name)):
        body[name] = "drill"
    if operation in PARENTS:
        _name_a_parent(operation, body)
    if operation == "createInstitution":
        body["regions"] = list(REGIONS)
        body["verticals"] = list(VERTICALS)
    elif operation == "createAssetTemplate":
        code = body.get("code")
        if code not in TEMPLATES:
            code = CODES[len(str(code)) % len(CODES)]
        vertical, config = TEMPLATES[code]
        region = body.get("region") if body.get("region") in REGIONS else "US"
        body.update(
            code=code, vertical=vertical, region=region, config={**config, "region": region}
        )
    elif operation == "createPosition":
        body["currency"] = "USD"
        body.pop("externalReference", None)
        if not _valid_amount(body.get("amount")):
            body["amount"] = "1000.50"


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    operation = _operation(case)
    if operation in CREATED and response.status_code == 201:
        CREATED[operation].append(response.json())
