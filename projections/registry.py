"""Every read model, in the order status, rebuild and verify go through them."""

from __future__ import annotations

from collections.abc import Iterable

from projections import (
    api_keys,
    asset_templates,
    assets,
    audit_events,
    institutions,
    ledger_digest,
    ledger_events,
    policies,
    positions,
)
from projections.base import Projection

ALL: tuple[Projection, ...] = (
    institutions.PROJECTION,
    api_keys.PROJECTION,
    policies.PROJECTION,
    asset_templates.PROJECTION,
    assets.PROJECTION,
    positions.PROJECTION,
    ledger_events.PROJECTION,
    audit_events.PROJECTION,
    ledger_digest.PROJECTION,
)
NAMES: tuple[str, ...] = tuple(p.name for p in ALL)


class UnknownProjection(ValueError):
    """A name that is not one of NAMES."""


def select(names: Iterable[str] | None = None) -> tuple[Projection, ...]:
    """The named projections in registry order (all of them for None or no names)."""
    wanted = list(names or [])
    unknown = [n for n in wanted if n not in NAMES]
    if unknown:
        raise UnknownProjection(
            f"unknown projection(s): {', '.join(unknown)}; known: {', '.join(NAMES)}"
        )
    return tuple(p for p in ALL if not wanted or p.name in wanted)
