"""Drill 6: a stateful schemathesis run against the live service, following the OpenAPI links
from created resources to the operations that read and change them: no 5xx, no answer outside
the document (`escrowgrid/drill/stateful.py` runs it; `escrowgrid drill --only stateful-api`
adds the core checker's replay of every lifecycle and `escrowgrid verify`).

Short in CI; longer with ESCROWGRID_DRILL_STATEFUL_SECONDS (a time budget), or
ESCROWGRID_DRILL_STATEFUL_EXAMPLES / ESCROWGRID_DRILL_STATEFUL_STEPS.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from escrowgrid.drill.stateful import run_stateful, unavailable
from tests.conftest import ROOT_KEY
from tests.support.server import ServerProcess

EXAMPLES = int(os.environ.get("ESCROWGRID_DRILL_STATEFUL_EXAMPLES", "100"))
STEPS = int(os.environ.get("ESCROWGRID_DRILL_STATEFUL_STEPS", "12"))
SEED = int(os.environ.get("ESCROWGRID_DRILL_SEED", "16"))
# A time budget for the long form: schemathesis repeats scenarios until it is spent.
MAX_TIME = os.environ.get("ESCROWGRID_DRILL_STATEFUL_SECONDS")


@pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))
def test_linked_operations_find_no_server_error_and_no_schema_violation(
    api_server: ServerProcess, tmp_path: Path
) -> None:
    result = run_stateful(
        api_server.url, ROOT_KEY, tmp_path, seed=SEED, examples=EXAMPLES, steps=STEPS,
        max_time=float(MAX_TIME) if MAX_TIME else None,
    )  # fmt: skip
    # The figures, shown with -s.
    print(f"scenarios {result.scenarios}, test cases {result.cases}, "
          f"links {result.links_covered} / {result.links_declared} covered")  # fmt: skip
    # The chain institution -> template -> asset -> position -> transition was walked.
    assert result.links_declared > 0, result.output[-2000:]
    assert result.problems() == [], result.output[-4000:]
