"""Drill 6: a stateful schemathesis run against the live service, following the OpenAPI links
from created resources to the operations that read and change them: no 5xx, no answer outside
the document.

Short in CI; longer with ESCROWGRID_DRILL_STATEFUL_SECONDS (a time budget), or
ESCROWGRID_DRILL_STATEFUL_EXAMPLES / ESCROWGRID_DRILL_STATEFUL_STEPS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT_KEY
from tests.support.server import ServerProcess

CHECKS = ",".join(
    (
        "not_a_server_error",
        "response_schema_conformance",
        "content_type_conformance",
        "status_code_conformance",
        # A resource a 2xx created is there when a link leads to it (read-your-writes).
        "ensure_resource_availability",
    )
)
EXAMPLES = int(os.environ.get("ESCROWGRID_DRILL_STATEFUL_EXAMPLES", "100"))
STEPS = int(os.environ.get("ESCROWGRID_DRILL_STATEFUL_STEPS", "12"))
SEED = int(os.environ.get("ESCROWGRID_DRILL_SEED", "16"))
# A time budget for the long form: schemathesis repeats scenarios until it is spent.
MAX_TIME = os.environ.get("ESCROWGRID_DRILL_STATEFUL_SECONDS")
HOOKS = "tests.faults.stateful_hooks"
REPO = Path(__file__).resolve().parents[2]
# Only the links the document declares: a link schemathesis guessed proves nothing about ours.
CONFIG = f"""
[phases.stateful]
max-steps = {STEPS}
[phases.stateful.inference]
algorithms = []
"""


def test_linked_operations_find_no_server_error_and_no_schema_violation(
    api_server: ServerProcess, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    st = Path(sys.executable).parent / "schemathesis"
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [str(st), "--config-file", str(config), "run", f"{api_server.url}/openapi.json",
         "-H", f"X-API-KEY: {ROOT_KEY}", "-c", CHECKS, "--phases", "stateful",
         "-n", str(EXAMPLES), "--seed", str(SEED), "--report-dir", str(tmp_path),
         *(["--max-time", MAX_TIME] if MAX_TIME else [])],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env,
    )  # fmt: skip
    out = result.stdout
    # The figures (scenarios, links covered, test cases), shown with -s.
    print(
        "\n".join(
            line for line in out.splitlines() if re.search(r"Scenarios|Links|generated", line)
        )
    )
    assert result.returncode == 0, out[-4000:]
    assert "No links for stateful testing" not in out, out[-2000:]
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", out)
    assert links is not None, out[-2000:]
    covered, declared = int(links.group(1)), int(links.group(2))
    # The chain institution -> template -> asset -> position -> transition was walked.
    assert covered >= declared * 2 // 3, out[-2000:]
    assert "5xx" not in out
