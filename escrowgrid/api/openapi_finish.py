"""What the generated OpenAPI document cannot say from the handlers alone, added once it is built.

Headers read or set by middleware (request id, idempotency key), the open routes, schema names a
client can read (`Position`, `PositionPage`, not `Page_projections.views.PositionView_`), and the
links from a created resource's id to the operations that take it (`openapi_links.py`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from escrowgrid.api.openapi_links import add_links

OPEN_PATHS = ("/health", "/ready")
REQUEST_ID = "X-Request-Id"
IDEMPOTENCY_KEY = "Idempotency-Key"
_COMMAND_METHODS = {"post", "put"}
_OPERATION_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_PAGE = re.compile(r"^Page_(?:[A-Za-z0-9_]+\.)*([A-Za-z0-9]+)_$")
_SCHEMAS = "#/components/schemas/"

_REQUEST_ID_PARAMETER = {
    "name": REQUEST_ID,
    "in": "header",
    "required": False,
    "description": (
        f"Your id for the request (also accepted as X-Correlation-Id), echoed in the {REQUEST_ID}"
        " answer header; a UUID is generated when absent or not 1-128 of [A-Za-z0-9._:-]."
    ),
    "schema": {"type": "string"},
}
_IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_KEY,
    "in": "header",
    "required": False,
    "description": (
        "Makes the command safe to retry: the same key with the same request answers the first"
        " answer again (header Idempotent-Replayed: true); with a different request, 422."
    ),
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}
_REQUEST_ID_HEADER = {
    "description": "The request's id: the one sent in X-Request-Id or X-Correlation-Id, or a UUID.",
    "schema": {"type": "string"},
}


def schema_name(generated: str) -> str:
    """The readable name of a generated component: views lose `View`, pages become `<X>Page`."""
    page = _PAGE.match(generated)
    if page is not None:
        return schema_name(page.group(1)) + "Page"
    if generated == "ErrorBody":
        return "Error"
    return generated.removesuffix("View") if generated.endswith("View") else generated


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """A finished copy of the document Litestar generated."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    renames = {old: schema_name(old) for old in components.get("schemas", {})}
    if len(set(renames.values())) != len(renames):
        raise ValueError(f"two schemas would share a name: {sorted(renames.items())}")
    components["schemas"] = {
        renames[old]: {**schema, "title": renames[old]} if "title" in schema else schema
        for old, schema in components.get("schemas", {}).items()
    }
    _rename_refs(doc, {_SCHEMAS + old: _SCHEMAS + new for old, new in renames.items()})
    components.setdefault("headers", {})[REQUEST_ID] = _REQUEST_ID_HEADER
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _OPERATION_METHODS:
                continue
            parameters = operation.setdefault("parameters", [])
            parameters.append(dict(_REQUEST_ID_PARAMETER))
            if method in _COMMAND_METHODS:
                parameters.append(dict(_IDEMPOTENCY_PARAMETER))
            for response in operation.get("responses", {}).values():
                headers = response.setdefault("headers", {})
                headers[REQUEST_ID] = {"$ref": f"#/components/headers/{REQUEST_ID}"}
            if path in OPEN_PATHS:
                operation["security"] = [{}]  # no key needed; the document's default asks one
    _declare_not_ready(doc)
    add_links(doc)
    return doc


def _declare_not_ready(doc: dict[str, Any]) -> None:
    """/ready answers 503 with the same shape as its 200 when the database does not answer."""
    operation = doc.get("paths", {}).get("/ready", {}).get("get")
    if operation is None or "503" in operation["responses"]:
        return
    ready = operation["responses"].get("200", {})
    operation["responses"]["503"] = {**copy.deepcopy(ready), "description": "Not ready"}


def _rename_refs(node: Any, refs: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in refs:
            node["$ref"] = refs[ref]
        for value in node.values():
            _rename_refs(value, refs)
    elif isinstance(node, list):
        for value in node:
            _rename_refs(value, refs)
