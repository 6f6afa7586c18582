"""What the clients sent and every answer they got: the record the checker judges."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Outcome(Enum):
    ACKNOWLEDGED = "acknowledged"  # a 2xx: the contract says its events are in the log, once
    REFUSED = "refused"  # a 4xx: nothing may have been written
    UNKNOWN = "unknown"  # no definitive answer before the client gave up


@dataclass(slots=True)
class Attempt:
    """One try of a command; `status` None means no HTTP answer (`failure` says why)."""

    request_id: str
    started: float  # seconds since the drill's start
    ended: float = 0.0
    status: int | None = None
    failure: str | None = None  # refused | reset | timeout
    retry_after: str | None = None
    error: str | None = None  # the answer's "error" field, for the report


@dataclass(slots=True)
class Command:
    """One command with its Idempotency-Key; retried with the same key until a definitive answer."""

    key: str
    client: int
    kind: str  # create | move
    path: str
    body: bytes
    honest: bool  # False: a deliberate mistake the service must refuse with a 4xx
    events: int  # events it appends when it takes effect (0 for a no-op)
    position_id: str | None = None  # known for moves; for creates once acknowledged
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        final = self.attempts[-1].status if self.attempts else None
        if final is not None and 200 <= final < 300:
            return Outcome.ACKNOWLEDGED
        if final is not None and 400 <= final < 500:
            return Outcome.REFUSED
        return Outcome.UNKNOWN

    @property
    def retried_after_unknown(self) -> bool:
        return any(a.status is None or a.status >= 500 for a in self.attempts[:-1])

    @property
    def acknowledged_at(self) -> float | None:
        return self.attempts[-1].ended if self.outcome is Outcome.ACKNOWLEDGED else None


@dataclass(slots=True)
class FaultRecord:
    """One injected fault: when it hit, when the drill stopped causing it (a database down for a
    while, slots held for a while; None: at once), and when the system had recovered."""

    name: str
    at: float
    repaired: float | None = None
    lifted: float | None = None
    detail: str = ""


@dataclass
class History:
    """Everything one drill round recorded."""

    seed: int
    commands: list[Command] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    load_seconds: float = 0.0
    # /ready, probed all along: (sent, answered, status; -1 refused, None no answer in time).
    ready_probes: list[tuple[float, float, int | None]] = field(default_factory=list)

    def attempts(self) -> list[tuple[Command, Attempt]]:
        return [(c, a) for c in self.commands for a in c.attempts]
