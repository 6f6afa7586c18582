"""`escrowgrid drill` as an operator types it: the list, a refused name, a short seeded run."""

from __future__ import annotations

import os
import subprocess

from escrowgrid.drill.processes import CLI


def _drill(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "drill", *args], env=dict(os.environ), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def test_the_drills_are_listed_and_an_unknown_one_is_refused() -> None:
    listed = _drill("--list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[1] for line in listed.stdout.splitlines()]
    # All seven of issue 16, in its order: `escrowgrid drill --minutes N` runs each of them.
    assert names == [
        "process-kill",
        "database-restart",
        "follower-kill",
        "connection-exhaustion",
        "slow-clients",
        "stateful-api",
        "disk-full",
    ]
    refused = _drill("--only", "no-such-drill")
    assert refused.returncode == 2
    assert "unknown drill(s): no-such-drill" in refused.stderr and "process-kill" in refused.stderr


def test_a_seeded_run_prints_its_seed_and_the_figures() -> None:
    done = _drill("--only", "process-kill", "--seconds", "4", "--seed", "7")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seed 7" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| process-kill | 7 |")]
    assert len(rows) == 1, done.stdout
    assert "lost 0, duplicated 0" in done.stdout and "violations 0" in done.stdout
