"""How far behind each projection is: in log positions and in seconds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from projections.runner import metrics

_LAG = """
SELECT n.name, coalesce(t.position, 0), h.head,
       coalesce(extract(epoch FROM clock_timestamp() - o.recorded_at), 0)::float8
FROM unnest(%s::text[]) WITH ORDINALITY AS n(name, i)
CROSS JOIN (SELECT coalesce(max(position), 0) AS head FROM events) AS h
LEFT JOIN projection_tracking AS t ON t.name = n.name
LEFT JOIN LATERAL (
    SELECT recorded_at FROM events AS e
    WHERE e.position > coalesce(t.position, 0) ORDER BY e.position LIMIT 1
) AS o ON true
ORDER BY n.i
"""


@dataclass(frozen=True, slots=True)
class Lag:
    """One projection's position against the head of the log."""

    name: str
    position: int
    head: int
    seconds: float  # age of the oldest event not yet projected; 0 when caught up

    @property
    def events(self) -> int:
        # Positions, not rows: a rolled-back append leaves a gap, counted here as an event.
        return max(0, self.head - self.position)


async def measure(conn: AsyncConnection[Any], names: Iterable[str]) -> list[Lag]:
    """Lag of each named projection, in the order given (position 0 when never run)."""
    cur = await conn.execute(_LAG, (list(names),))
    return [Lag(n, int(p), int(h), max(0.0, float(s))) for n, p, h, s in await cur.fetchall()]


def publish(lags: Iterable[Lag]) -> None:
    """Set the lag gauges."""
    for lag in lags:
        metrics.LAG_EVENTS.labels(lag.name).set(lag.events)
        metrics.LAG_SECONDS.labels(lag.name).set(lag.seconds)
        metrics.POSITION.labels(lag.name).set(lag.position)
