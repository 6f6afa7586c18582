"""The figures of a drill round and the tables `escrowgrid drill` prints."""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field

from escrowgrid.drill.checker import Verdict
from escrowgrid.drill.history import History, Outcome


@dataclass
class Figures:
    """One round of one drill, as docs/reliability.md reports it."""

    drill: str
    seed: int
    round: int
    seconds: float
    ops_per_s: float
    faults: int
    acknowledged: int
    lost: int
    duplicated: int
    unknown: int
    retried: int
    recover_s: float  # the slowest recovery: from the fault's end until the condition held
    stall_s: float  # the longest time without any 2xx answer
    slowest_s: float  # the slowest single answer (or give-up), any status
    answers: dict[str, int] = field(default_factory=dict)
    fault_kinds: dict[str, int] = field(default_factory=dict)  # how many of each fault
    violations: list[str] = field(default_factory=list)
    skipped: str = ""  # why the drill could not run here (no root, no tmpfs, no schemathesis)
    notes: str = ""  # the drill's own figures beyond the table's (e.g. /health latency)

    @property
    def ok(self) -> bool:
        return not self.violations

    @classmethod
    def skipped_round(cls, drill: str, seed: int, round_number: int, reason: str) -> Figures:
        """A round not played: nothing checked, nothing failed, and the reason said."""
        return cls(drill, seed, round_number, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, skipped=reason)


def figures(drill: str, round_number: int, history: History, verdict: Verdict) -> Figures:
    acks = sorted(
        c.attempts[-1].ended for c in history.commands if c.outcome is Outcome.ACKNOWLEDGED
    )
    starts = [c.attempts[0].started for c in history.commands if c.attempts]
    stall = 0.0
    if acks and starts:
        edges = [min(starts), *acks]
        stall = max((b - a for a, b in itertools.pairwise(edges)), default=0.0)
    recover = max(
        (f.repaired - (f.lifted or f.at) for f in history.faults if f.repaired is not None),
        default=0.0,
    )
    slowest = max((a.ended - a.started for _, a in history.attempts()), default=0.0)
    violations = list(verdict.violations)
    violations += [
        f"{f.name} at {f.at:.1f} s never recovered" for f in history.faults if f.repaired is None
    ]
    seconds = history.load_seconds
    return Figures(
        drill=drill,
        seed=history.seed,
        round=round_number,
        seconds=seconds,
        ops_per_s=verdict.acknowledged / seconds if seconds else 0.0,
        faults=len(history.faults),
        acknowledged=verdict.acknowledged,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        unknown=verdict.unknown,
        retried=verdict.retried,
        recover_s=recover,
        stall_s=stall,
        slowest_s=slowest,
        answers=dict(sorted(verdict.answers.items())),
        fault_kinds=dict(collections.Counter(f.name for f in history.faults)),
        violations=violations,
    )


HEADER = (
    "| drill | seed | round | s | ops/s | faults | acknowledged | lost | duplicated "
    "| unknown | retried | recover s (max) | stall s | slowest answer s | answers |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
)


def row(f: Figures) -> str:
    if f.skipped:
        return f"| {f.drill} | {f.seed} | {f.round} | skipped: {f.skipped} |"
    answers = ", ".join(f"{k}: {v}" for k, v in f.answers.items())
    return (
        f"| {f.drill} | {f.seed} | {f.round} | {f.seconds:.0f} | {f.ops_per_s:,.0f} | {f.faults} "
        f"| {f.acknowledged:,} | {f.lost} | {f.duplicated} | {f.unknown} | {f.retried} "
        f"| {f.recover_s:.2f} | {f.stall_s:.2f} | {f.slowest_s:.2f} | {answers} |"
    )


def kinds(rows: list[Figures]) -> str:
    """How many faults of each kind, over the rows."""
    counted: collections.Counter[str] = collections.Counter()
    for f in rows:
        counted.update(f.fault_kinds)
    return ", ".join(f"{name} x{count}" for name, count in sorted(counted.items()))


def totals(rows: list[Figures]) -> str:
    """One line over many rounds: what a long run held."""
    seconds = sum(f.seconds for f in rows)
    acknowledged = sum(f.acknowledged for f in rows)
    skipped = sum(1 for f in rows if f.skipped)
    return (
        f"{len(rows) - skipped} round(s) ({skipped} skipped), {seconds:.0f} s under load, "
        f"{sum(f.faults for f in rows)} faults, "
        f"{acknowledged:,} commands acknowledged ({acknowledged / seconds if seconds else 0:,.0f}"
        f" ops/s), lost {sum(f.lost for f in rows)}, duplicated "
        f"{sum(f.duplicated for f in rows)}, slowest recovery "
        f"{max((f.recover_s for f in rows), default=0):.2f} s, "
        f"violations {sum(len(f.violations) for f in rows)}"
    )
