"""The hook through which read models are written inside the append transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class InlineProjector(Protocol):
    """Read models the database projects in the append transaction (the read side names them).

    db/migrations/0080 `append_batch_projected` builds them from the events past their tracking
    rows, under the event-table lock, and advances those rows in the same transaction.
    """

    def arguments(self) -> tuple[object, ...]:
        """The leading arguments of `append_batch_projected`: the models and the topics."""
        ...

    def settle(self, projected: Mapping[str, tuple[int, int]], failure: str | None) -> None:
        """After a commit: what each model reached (name: position, events consumed), or why
        the database could not project the batch (its events are kept, the models are not)."""
        ...
