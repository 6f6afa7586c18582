"""Drill 6: a stateful schemathesis run against the live service, following the OpenAPI links
from created resources to the operations that read and change them; then the core checker.

schemathesis is a test dependency and its hooks live in the source checkout's tests/, so the
drill runs only where both are found, and says why not otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from escrowgrid.drill.checker import Verdict
from escrowgrid.drill.history import History
from escrowgrid.drill.registry import Drill
from escrowgrid.drill.report import Figures
from escrowgrid.drill.stage import Stage, fresh_service, judge

NAME = "stateful-api"
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
HOOKS = "tests.faults.stateful_hooks"
REPO = Path(__file__).resolve().parents[2]
STEPS = 12
# Only the links the document declares: a link schemathesis guessed proves nothing about ours.
CONFIG = """
[phases.stateful]
max-steps = {steps}
[phases.stateful.inference]
algorithms = []
"""


def schemathesis_cli() -> Path:
    return Path(sys.executable).parent / "schemathesis"


def unavailable() -> str | None:
    """Why the drill cannot run here, or None."""
    if not schemathesis_cli().exists():
        return "schemathesis is not installed (a test dependency: pip install -e '.[test]')"
    if not (REPO / "tests" / "faults" / "stateful_hooks.py").exists():
        return "its hooks (tests/faults/stateful_hooks.py) are in the source checkout only"
    return None


@dataclass(frozen=True)
class StatefulRun:
    """What schemathesis printed, and the figures read from it."""

    code: int
    output: str
    scenarios: int
    cases: int
    links_covered: int
    links_declared: int

    def problems(self) -> list[str]:
        found = []
        if self.code != 0:
            found.append(f"schemathesis exited {self.code}: {self.output[-1500:]}")
        if "No links for stateful testing" in self.output or not self.links_declared:
            found.append("schemathesis found no links to follow")
        elif self.links_covered < self.links_declared * 2 // 3:
            found.append(f"only {self.links_covered} of {self.links_declared} links walked")
        if "5xx" in self.output:
            found.append("a 5xx answer")
        return found


def run_stateful(
    url: str,
    root_key: str,
    folder: Path,
    *,
    seed: int,
    examples: int,
    steps: int = STEPS,
    max_time: float | None = None,
    env: Mapping[str, str] | None = None,
) -> StatefulRun:
    """`schemathesis run --phases stateful` against `url` with the checks above."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "schemathesis.toml"
    config.write_text(CONFIG.format(steps=steps))
    run_env = {**(env or os.environ), "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(REPO)}
    done = subprocess.run(  # noqa: S603 - the venv's own schemathesis, fixed arguments
        [str(schemathesis_cli()), "--config-file", str(config), "run", f"{url}/openapi.json",
         "-H", f"X-API-KEY: {root_key}", "-c", CHECKS, "--phases", "stateful",
         "-n", str(examples), "--seed", str(seed), "--report-dir", str(folder),
         *(["--max-time", f"{max_time:g}"] if max_time else [])],
        capture_output=True, text=True, timeout=900, cwd=folder, env=run_env, check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", out)
    scenarios = re.search(r"Scenarios:\s+(\d+)", out)
    cases = re.search(r"(\d+) generated", out)
    return StatefulRun(
        done.returncode,
        out,
        int(scenarios.group(1)) if scenarios else 0,
        int(cases.group(1)) if cases else 0,
        int(links.group(1)) if links else 0,
        int(links.group(2)) if links else 0,
    )


def run(stage: Stage) -> Figures:
    reason = unavailable()
    if reason is not None:
        return Figures.skipped_round(NAME, stage.seed, stage.round, reason)
    with fresh_service(stage, NAME) as (service, dsn, env):
        history = History(stage.seed)
        seed = stage.seed * 1000 + stage.round  # each round its own scenarios, replayable
        result = run_stateful(
            service.url, stage.root_key, stage.folder / f"{NAME}-r{stage.round}",
            seed=seed, examples=100_000, max_time=stage.seconds, env=env,
        )  # fmt: skip
        history.load_seconds = stage.seconds

        def extra(verdict: Verdict) -> None:
            for problem in result.problems():
                verdict.flag(problem)

        # No history of acknowledged commands here; the checker still replays every lifecycle
        # the run made, and verify compares every read model with a rebuild.
        figures = judge(stage, NAME, history, dsn, env, extra)
        figures.ops_per_s = result.cases / stage.seconds if stage.seconds else 0.0
        figures.notes = (
            f"schemathesis: {result.scenarios} scenarios, {result.cases} test cases, "
            f"links {result.links_covered} / {result.links_declared} covered"
        )
        return figures


DRILLS = (
    Drill(6, NAME, "a stateful schemathesis run over the OpenAPI links: no 5xx, no schema break",
          run),
)  # fmt: skip
