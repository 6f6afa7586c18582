"""Latency samples, throughput and the markdown tables benchmarks print."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sample:
    """Latencies (seconds) of one scenario over a wall-clock duration."""

    name: str
    writers: int
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0

    @property
    def ops_per_s(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, pct: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
        return ordered[index] * 1000


def table(samples: list[Sample]) -> str:
    """A markdown table with one row per scenario."""
    lines = [
        "| scenario | writers | ops | ops/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in samples:
        lines.append(
            f"| {s.name} | {s.writers} | {len(s.latencies)} | {s.ops_per_s:,.0f} | "
            f"{s.percentile_ms(50):.2f} | {s.percentile_ms(99):.2f} | {s.errors} |"
        )
    return "\n".join(lines)
