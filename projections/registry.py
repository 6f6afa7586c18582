"""Every read model, in the order status, rebuild and verify go through them."""

from __future__ import annotations

from collections.abc import Iterable

from projections.api_keys import projector as api_keys
from projections.asset_templates import projector as asset_templates
from projections.assets import projector as assets
from projections.audit_events import projector as audit_events
from projections.framework.base import Projection
from projections.institutions import projector as institutions
from projections.ledger_digest import projector as ledger_digest
from projections.ledger_events import projector as ledger_events
from projections.policies import projector as policies
from projections.positions import projector as positions

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

# Written in the append transaction (projections/runner/inline.py): what a position command's
# answer and the reads right after it need. The runner follows the log for the rest.
INLINE: tuple[Projection, ...] = (positions.PROJECTION, ledger_events.PROJECTION)
FOLLOWED: tuple[Projection, ...] = tuple(p for p in ALL if p not in INLINE)
FOLLOWED_NAMES: tuple[str, ...] = tuple(p.name for p in FOLLOWED)


def awaited_for(topics: Iterable[str]) -> tuple[str, ...]:
    """The followed models a command with events of these topics must wait for to be read.

    The models of every event (audit, digest) are not among them: their reads wait for the
    head of the log instead, so that no command waits for them.
    """
    wanted = set(topics)
    return tuple(
        p.name for p in FOLLOWED if p.topics is not None and not p.topics.isdisjoint(wanted)
    )


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
