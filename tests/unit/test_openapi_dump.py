"""`escrowgrid openapi` prints the served document without a database."""

from __future__ import annotations

import json

import pytest

from escrowgrid import cli


def test_openapi_command_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["openapi"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["openapi"].startswith("3.1")
    assert {"/whoami", "/projections/status", "/ledger/digest-at", "/positions"} <= set(
        document["paths"]
    )
    assert not any(path.startswith("/console") for path in document["paths"])
    names = [p["name"] for p in document["paths"]["/positions"]["get"]["parameters"]]
    assert "state" in names
