"""`escrowgrid drill`: every drill (or `--only` some), round after round, then the figures."""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from escrowgrid.drill.cluster import DrillCluster, scratch_dir
from escrowgrid.drill.registry import Drill, select
from escrowgrid.drill.report import HEADER, Figures, kinds, row, totals
from escrowgrid.drill.stage import Stage


def replay_command(figures: Figures, seconds: float) -> str:
    return (
        f"escrowgrid drill --seed {figures.seed} --only {figures.drill} "
        f"--round {figures.round} --seconds {seconds:g}"
    )


def play_round(drill: Drill, stage: Stage) -> Figures:
    """One round; a crash of the harness itself is reported as a violation, not raised."""
    try:
        return drill.run(stage)
    except Exception as exc:  # the campaign goes on; the row says what broke
        return Figures(drill.name, stage.seed, stage.round, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       violations=[f"the drill crashed: {type(exc).__name__}: {exc}"])  # fmt: skip


def campaign(
    *,
    minutes: float,
    seed: int | None,
    only: Sequence[str] = (),
    seconds: float = 20.0,
    first_round: int = 1,
    folder: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the drills until `minutes` are up (at least once each); 0 when every check held."""
    drills = select(only)
    seed = secrets.randbelow(1_000_000) if seed is None else seed
    logs = folder or scratch_dir("escrowgrid-drill-logs-")
    print(f"escrowgrid drill: seed {seed} (replay any round with the command under it)", file=out)
    print(f"escrowgrid drill: logs in {logs}", file=out)
    cluster = DrillCluster(scratch_dir("escrowgrid-drill-pg-")).start()
    rows: list[Figures] = []
    deadline = time.monotonic() + minutes * 60
    round_number = first_round
    try:
        print("\n".join(HEADER), file=out, flush=True)
        while True:
            for drill in drills:
                stage = Stage(seed, round_number, seconds, logs, cluster, secrets.token_urlsafe(24))
                figures = play_round(drill, stage)
                rows.append(figures)
                print(row(figures), file=out, flush=True)
                if figures.fault_kinds:
                    print(f"  faults: {kinds([figures])}", file=out, flush=True)
                if figures.notes:
                    print(f"  {figures.notes}", file=out, flush=True)
                for problem in figures.violations:
                    print(f"  FAIL {problem}", file=out)
                if figures.violations:
                    print(f"  replay: {replay_command(figures, seconds)}", file=out, flush=True)
            round_number += 1
            if time.monotonic() >= deadline:
                break
    finally:
        cluster.destroy()
    print("", file=out)
    print(totals(rows), file=out)
    print(f"faults: {kinds(rows)}", file=out)
    failed = [f for f in rows if f.violations]
    if not failed:
        shutil.rmtree(logs, ignore_errors=True) if folder is None else None
    return 1 if failed else 0
