"""The hook through which read models are written inside the append transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from psycopg import AsyncConnection

from escrowgrid.eventlog.records import PendingEvent


@dataclass(frozen=True, slots=True)
class AppendedEvent:
    """An event of the batch being committed, at the position the log gave it."""

    position: int
    event: PendingEvent
    tenant_id: UUID | None


class InlineProjector(Protocol):
    """Read models projected in the append transaction (the read side implements it)."""

    @property
    def names(self) -> tuple[str, ...]:
        """The tracking names of those models: their rows are locked with the event table."""
        ...

    async def commit(
        self,
        conn: AsyncConnection[Any],
        tracked: Mapping[str, int],
        head_before: int,
        appended: Sequence[AppendedEvent],
    ) -> None:
        """Bring the models up to the batch's last event and COMMIT the caller's transaction
        (in one round trip when it can); the events commit even if the models cannot."""
        ...
