"""Schemathesis against our own /openapi.json: no 5xx, every answer as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT_KEY
from tests.support.server import ServerProcess

CHECKS = ",".join(
    (
        "not_a_server_error",
        "response_schema_conformance",
        "content_type_conformance",
        "status_code_conformance",
    )
)


def test_generated_requests_find_no_server_error_and_no_schema_violation(
    api_server: ServerProcess, tmp_path: Path
) -> None:
    st = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(st), "run", f"{api_server.url}/openapi.json", "-H", f"X-API-KEY: {ROOT_KEY}",
         "-c", CHECKS, "-n", "25", "--phases", "examples,coverage,fuzzing",
         "--generation-deterministic", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    document = httpx.get(f"{api_server.url}/openapi.json", headers={"X-API-KEY": ROOT_KEY}).json()
    operations = sum(len(item) for item in document["paths"].values())
    tested = re.search(r"Tested: (\d+)", result.stdout)
    # Every operation of the document was exercised.
    assert tested is not None and int(tested.group(1)) == operations, result.stdout[-2000:]
    assert "5xx" not in tail
