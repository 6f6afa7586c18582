"""After a drill: the log, the read models and every recorded answer, against the contract.

- every command answered 2xx is in the log exactly once; a command with no definitive answer
  (a reset, a timeout, a 5xx, then the client gave up) took effect at most once; a refused one
  not at all;
- per position, the events follow the lifecycle and never release more than was funded;
- every read model has caught up with the log and equals a rebuild from it (`escrowgrid verify`,
  which also recomputes every hash chain and the ledger digest);
- the only answers are 2xx, 4xx for the client's own mistakes, and 503 with Retry-After.
"""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent

from escrowgrid.domain.lifecycle import ALLOWED
from escrowgrid.domain.vocabulary import PositionState
from escrowgrid.drill.history import History, Outcome
from escrowgrid.drill.processes import CLI
from escrowgrid.eventlog.codec import make_mapper
from projections.registry import NAMES

POSITION_TOPIC = "escrowgrid.domain.position:Position."


@dataclass
class Verdict:
    """What the checker found; `ok` only when `violations` is empty."""

    acknowledged: int = 0
    refused: int = 0
    unknown: int = 0
    lost: int = 0
    duplicated: int = 0
    retried: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # "201", "503", "reset", ...
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def flag(self, message: str, limit: int = 20) -> None:
        if len(self.violations) < limit:
            self.violations.append(message)
        elif len(self.violations) == limit:
            self.violations.append("... more violations not shown")


@dataclass(frozen=True, slots=True)
class _LogEvent:
    position: int
    stream: str
    topic: str
    state: bytes
    version: int
    request_id: str | None


def _read_log(dsn: str) -> list[_LogEvent]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT position, stream_id::text, topic, state, version, meta->>'requestId'"
            " FROM events ORDER BY position"
        ).fetchall()
    return [_LogEvent(p, s, t, bytes(b), v, r) for p, s, t, b, v, r in rows]


def _key_of(request_id: str | None) -> str | None:
    """Attempt ids are `<Idempotency-Key>.<attempt>` (see load.py)."""
    return None if request_id is None else request_id.rsplit(".", 1)[0]


def check_commands(history: History, log: list[_LogEvent], verdict: Verdict) -> None:
    """Each command's effect in the log against what its client was told."""
    by_key: dict[str, list[_LogEvent]] = defaultdict(list)
    for event in log:
        key = _key_of(event.request_id)
        if key is not None:
            by_key[key].append(event)
    for command in history.commands:
        found = by_key.get(command.key, [])
        outcome = command.outcome
        if command.retried_after_unknown:
            verdict.retried += 1
        if outcome is Outcome.ACKNOWLEDGED:
            verdict.acknowledged += 1
            if len(found) < command.events:
                verdict.lost += 1
                verdict.flag(f"{command.key}: answered 2xx but not in the log")
            elif len(found) > command.events:
                verdict.duplicated += 1
                verdict.flag(f"{command.key}: answered 2xx, in the log {len(found)} times")
            elif command.position_id is not None and found[0].stream != command.position_id:
                verdict.flag(f"{command.key}: answered for {command.position_id}, log has other")
            if not command.honest:
                verdict.flag(f"{command.key}: a mistake the service accepted: {command.body!r}")
        elif outcome is Outcome.REFUSED:
            verdict.refused += 1
            if found:
                verdict.flag(f"{command.key}: refused, yet {len(found)} event(s) in the log")
            if command.honest:
                last = command.attempts[-1]
                verdict.flag(f"{command.key}: honest command refused: {last.status} {last.error}")
        else:
            verdict.unknown += 1
            if len(found) > command.events:
                verdict.duplicated += 1
                verdict.flag(f"{command.key}: unknown outcome, in the log {len(found)} times")


def check_answers(history: History, verdict: Verdict) -> None:
    """2xx, 4xx and 503 with Retry-After; no other 5xx."""
    for command, attempt in history.attempts():
        label = attempt.failure if attempt.status is None else str(attempt.status)
        verdict.answers[str(label)] = verdict.answers.get(str(label), 0) + 1
        status = attempt.status
        if status is None or status < 500:
            continue
        if status != 503:
            verdict.flag(f"{attempt.request_id}: {status} {attempt.error} ({command.path})")
        elif attempt.retry_after is None:
            verdict.flag(f"{attempt.request_id}: 503 without Retry-After ({attempt.error})")


def check_lifecycles(log: list[_LogEvent], verdict: Verdict) -> int:
    """Replay each position's events: allowed moves only, released never above funded."""
    mapper = make_mapper()
    streams: dict[str, list[_LogEvent]] = defaultdict(list)
    for event in log:
        if event.topic.startswith(POSITION_TOPIC):
            streams[event.stream].append(event)
    for stream, events in streams.items():
        state: PositionState | None = None
        funded = released = Decimal(0)
        for event in events:
            domain: Any = mapper.to_domain_event(
                StoredEvent(event.stream, event.version, event.topic, event.state)
            )
            if event.topic.endswith(".Created"):
                if state is not None:
                    verdict.flag(f"position {stream}: created twice (position {event.position})")
                state, funded = PositionState.CREATED, Decimal(domain.amount)
                continue
            before, after = PositionState(domain.from_state), PositionState(domain.to_state)
            if state is None or before != state or after not in ALLOWED[before]:
                verdict.flag(f"position {stream}: {state} then {before} -> {after} not allowed")
            released += Decimal(domain.released)
            state = after
            if released > funded:
                verdict.flag(f"position {stream}: released {released} of {funded} funded")
        if state is PositionState.RELEASED and released != funded:
            verdict.flag(f"position {stream}: RELEASED with {released} of {funded} released")
    return len(streams)


def wait_caught_up(dsn: str, timeout: float = 60.0) -> Mapping[str, int]:
    """Wait until every read model has passed the log's head; return the laggards if not."""
    deadline = time.monotonic() + timeout
    behind: dict[str, int] = {}
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            head_row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
            head = int(head_row[0]) if head_row else 0
            rows = conn.execute("SELECT name, position FROM projection_tracking").fetchall()
        tracked = {str(n): int(p) for n, p in rows}
        behind = {n: tracked.get(n, 0) for n in NAMES if tracked.get(n, 0) < head}
        if not behind:
            return {}
        time.sleep(0.2)
    return behind


def run_verify(env: Mapping[str, str], timeout: float = 300.0) -> tuple[int, str]:
    """`escrowgrid verify` as an operator runs it: (exit code, what it printed)."""
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [*CLI, "verify"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def check(history: History, dsn: str, env: Mapping[str, str]) -> Verdict:
    """Every check above; `env` runs `escrowgrid verify` against the drill's database."""
    verdict = Verdict()
    check_answers(history, verdict)
    behind = wait_caught_up(dsn)
    if behind:
        verdict.flag(f"read models behind the log after the drill: {behind}")
    log = _read_log(dsn)
    check_commands(history, log, verdict)
    check_lifecycles(log, verdict)
    code, output = run_verify({**env, "DATABASE_URL": dsn})
    if code != 0:
        verdict.flag(f"escrowgrid verify exited {code}: {output[-1500:]}")
    return verdict
