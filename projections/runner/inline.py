"""Inline projection: the read models a command's answer needs, written in its append transaction.

The database does the work (db/migrations/0080 `append_batch_projected`): after appending a
batch under the event-table lock it builds positions, their lifecycle and the ledger feed from
the events past those models' tracking rows and advances the rows, in the same transaction and
the same round trip. So a command's answer needs no wait for them (read-your-writes), each event
is projected once, and a log an earlier version wrote without them is caught up by the next
append. The SQL is the rebuild's set-based one (projections/positions/bulk.py) over a range of
the log; the rebuild-equals-live tests compare the rows.

A batch these models cannot project keeps its events: the models stay where they were and are
counted as failing, and every later batch tries again, as the runner does for an asynchronous
model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from projections.framework.payloads import (
    POSITION_CREATED,
    POSITION_CREATED_VERSION,
    POSITION_MOVED,
)
from projections.ledger_events.projector import PROJECTION as LEDGER_EVENTS
from projections.positions.projector import PROJECTION as POSITIONS
from projections.registry import INLINE
from projections.runner import metrics

log = logging.getLogger("escrowgrid.projections")

# What the SQL function builds; the registry must name exactly these as inline.
if INLINE != (POSITIONS, LEDGER_EVENTS):
    raise RuntimeError("the inline models are positions and ledger_events (migration 0080)")


class InlineProjection:
    """Positions and ledger_events, projected by the database inside appends."""

    names: tuple[str, ...] = (POSITIONS.name, LEDGER_EVENTS.name)

    def arguments(self) -> tuple[object, ...]:
        return (*self.names, POSITION_CREATED, POSITION_MOVED, POSITION_CREATED_VERSION)

    def settle(self, projected: Mapping[str, tuple[int, int]], failure: str | None) -> None:
        if failure is not None:
            for name in self.names:
                metrics.FAILURES.labels(name).inc()
            log.error(
                "inline projection failed; the events are kept, the read models stay behind",
                extra={"projections": list(self.names), "error": failure},
            )
            return
        for name, (position, consumed) in projected.items():
            if consumed:
                metrics.EVENTS.labels(name).inc(consumed)
            metrics.POSITION.labels(name).set(position)
