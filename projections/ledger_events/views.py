"""Answer shapes of read model `ledger_events`: the contract's JSON objects (camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from projections.framework.shapes import StateCode


class LedgerEventView(
    msgspec.Struct, rename="camel", frozen=True, kw_only=True, omit_defaults=True
):
    id: str
    kind: Literal["POSITION_CREATED", "POSITION_STATE_CHANGED"]
    position_id: UUID
    at: datetime
    previous_state: StateCode | None = None
    new_state: StateCode | None = None
    payload: dict[str, Any] | None = None
    institution_id: UUID  # extra
    log_position: int  # extra: the event's position in the log
