"""Every OpenAPI link names an operation of the document, its parameters and its body fields:
a renamed route or field must not leave a link pointing nowhere."""

from __future__ import annotations

from typing import Any

import pytest

from escrowgrid.api.openapi_dump import openapi_document
from escrowgrid.api.openapi_links import LINKS


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def _body_fields(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return set(schema["properties"])


def test_every_declared_link_is_in_the_document(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for (source, status), links in LINKS.items():
        declared = operations[source]["responses"][status]["links"]
        assert set(declared) == set(links), (source, status)


def test_every_link_names_real_parameters_and_body_fields(document: dict[str, Any]) -> None:
    operations = _operations(document)
    for source, status in LINKS:
        for name, link in operations[source]["responses"][status]["links"].items():
            target = operations[link["operationId"]]
            parameters = {(p["in"], p["name"]) for p in target.get("parameters", [])}
            for qualified in link.get("parameters", {}):
                place, _, parameter = qualified.partition(".")
                assert (place, parameter) in parameters, (source, name, qualified)
            if "requestBody" in link:
                assert set(link["requestBody"]) <= _body_fields(document, target), (source, name)
