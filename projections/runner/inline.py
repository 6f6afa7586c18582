"""Inline projection: the read models a command's answer needs, written in its append transaction.

The database does the work (db/migrations/0080 `append_batch_projected`): after appending a
batch under the event-table lock it builds positions with their lifecycle, the ledger feed, the
audit trail and the ledger digest from the events past those models' tracking rows and advances
the rows, in the same transaction and the same round trip. So a command's answer needs no wait
for them (read-your-writes), each event is projected once, and a log an earlier version wrote
without them is caught up by the next append. The SQL mirrors the rebuild's set-based phase
(projections/positions/bulk.py) and the projectors a rebuild runs; the rebuild-equals-live
tests compare the rows.

A batch a model cannot project keeps its events: that model (positions and the feed count as
one, as they read the same payloads) stays where it was and is counted as failing, the others
go on, and every later batch tries it again, as the runner does for an asynchronous model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from projections.audit_events.projector import PROJECTION as AUDIT_EVENTS
from projections.framework.payloads import (
    POSITION_CREATED,
    POSITION_CREATED_VERSION,
    POSITION_MOVED,
)
from projections.ledger_digest.projector import PROJECTION as LEDGER_DIGEST
from projections.ledger_events.projector import PROJECTION as LEDGER_EVENTS
from projections.positions.projector import PROJECTION as POSITIONS
from projections.registry import INLINE
from projections.runner import metrics

log = logging.getLogger("escrowgrid.projections")

# What the SQL function builds, in the order it takes their names.
_BUILT = (POSITIONS, LEDGER_EVENTS, AUDIT_EVENTS, LEDGER_DIGEST)
if set(INLINE) != set(_BUILT):
    raise RuntimeError("the registry's inline models are not those migration 0080 builds")


class InlineProjection:
    """Positions, the ledger feed, the audit trail and the digest, projected inside appends."""

    names: tuple[str, ...] = tuple(p.name for p in _BUILT)

    def arguments(self) -> tuple[object, ...]:
        return (list(self.names), POSITION_CREATED, POSITION_MOVED, POSITION_CREATED_VERSION)

    def settle(self, projected: Mapping[str, tuple[int, int]], failed: Mapping[str, str]) -> None:
        for name, error in failed.items():
            metrics.FAILURES.labels(name).inc()
            log.error(
                "inline projection failed; the events are kept, the read model stays behind",
                extra={"projection": name, "error": error},
            )
        for name, (position, consumed) in projected.items():
            if consumed:
                metrics.EVENTS.labels(name).inc(consumed)
            metrics.POSITION.labels(name).set(position)
