"""OpenAPI links: which operations take the ids a command's answer returns.

A client (or a stateful fuzzer such as schemathesis) follows them from a created resource to the
operations that read or change it, e.g. from `createPosition`'s 201 to `transitionPosition`.
"""

from __future__ import annotations

from typing import Any

# (operation, status) -> {link name: (target operation, {parameter or "requestBody": expression})}
# A "requestBody" entry names fields of the target's body; the rest of the body is the caller's.
_BODY_ID = "$response.body#/id"
_BODY_INSTITUTION = "$response.body#/institutionId"
_POSITION_TARGETS = {
    "GetPosition": ("getPosition", {"path.id": _BODY_ID}),
    "GetPositionHistory": ("getPositionHistory", {"path.id": _BODY_ID}),
    "GetPositionOnchain": ("getPositionOnchain", {"path.id": _BODY_ID}),
    "TransitionPosition": ("transitionPosition", {"path.id": _BODY_ID}),
    "ListLedgerEvents": ("listLedgerEvents", {"query.positionId": _BODY_ID}),
}
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, Any]]]] = {
    ("createInstitution", "201"): {
        "GetInstitution": ("getInstitution", {"path.id": _BODY_ID}),
        "CreateApiKey": ("createApiKey", {"path.id": _BODY_ID}),
        "ListApiKeys": ("listApiKeys", {"path.id": _BODY_ID}),
        "ListPolicies": ("listPolicies", {"path.id": _BODY_ID}),
        "UpsertPolicy": ("upsertPolicy", {"path.id": _BODY_ID}),
        "ListAssetTemplates": ("listAssetTemplates", {"query.institutionId": _BODY_ID}),
        "CreateAssetTemplate": (
            "createAssetTemplate",
            {"requestBody": {"institutionId": _BODY_ID}},
        ),
    },
    ("createApiKey", "201"): {
        "RevokeApiKey": (
            "revokeApiKey",
            {"path.id": _BODY_INSTITUTION, "path.keyId": _BODY_ID},
        ),
    },
    ("upsertPolicy", "200"): {
        "GetPolicy": (
            "getPolicy",
            {"path.id": _BODY_INSTITUTION, "path.region": "$response.body#/region"},
        ),
    },
    ("createAssetTemplate", "201"): {
        "GetAssetTemplate": ("getAssetTemplate", {"path.id": _BODY_ID}),
        "ListAssets": ("listAssets", {"query.templateId": _BODY_ID}),
        "CreateAsset": (
            "createAsset",
            {"requestBody": {"institutionId": _BODY_INSTITUTION, "templateId": _BODY_ID}},
        ),
    },
    ("createAsset", "201"): {
        "GetAsset": ("getAsset", {"path.id": _BODY_ID}),
        "ListPositions": ("listPositions", {"query.assetId": _BODY_ID}),
        "CreatePosition": (
            "createPosition",
            {"requestBody": {"institutionId": _BODY_INSTITUTION, "assetId": _BODY_ID}},
        ),
    },
    ("createPosition", "201"): _POSITION_TARGETS,
    ("transitionPosition", "200"): _POSITION_TARGETS,
}


def add_links(doc: dict[str, Any]) -> None:
    """Declare LINKS on the answers of the document's operations (those it has)."""
    operations = {
        operation.get("operationId"): operation
        for item in doc.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict)
    }
    for (source, status), links in LINKS.items():
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: _link(target, parameters)
            for name, (target, parameters) in links.items()
            if target in operations
        }


def _link(target: str, parameters: dict[str, Any]) -> dict[str, Any]:
    link: dict[str, Any] = {"operationId": target}
    named = {name: value for name, value in parameters.items() if name != "requestBody"}
    if named:
        link["parameters"] = named
    if "requestBody" in parameters:
        link["requestBody"] = dict(parameters["requestBody"])
    return link
