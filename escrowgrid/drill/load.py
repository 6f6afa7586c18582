"""Concurrent clients sending lifecycle commands with Idempotency-Keys, deterministic per seed.

Each client owns its positions and draws its next command from its own random stream, so a seed
gives every client the same sequence of intentions. An answer that is not definitive (no answer,
a reset, a timeout, a 5xx) is retried with the same key until a 2xx or 4xx or the give-up time;
every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from escrowgrid.drill.history import Attempt, Command, History, Outcome
from escrowgrid.drill.wire import Client, TransportError

CENT = Decimal("0.01")
OPEN_STATES = frozenset({"CREATED", "FUNDED", "PARTIALLY_RELEASED"})
MISTAKE_SHARE = 0.05
REQUEST_TIMEOUT = 10.0


class Clock:
    """Seconds since the drill started."""

    def __init__(self) -> None:
        self.origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.origin


@dataclass(frozen=True)
class World:
    """Where the clients send their commands: the service's port, an admin key and an asset."""

    port: int
    admin_key: str
    asset_id: str


@dataclass
class Tracked:
    """A client's own view of one of its positions."""

    id: str
    state: str
    amount: Decimal
    released: Decimal = Decimal(0)


@dataclass
class _ClientState:
    number: int
    rng: random.Random
    positions: list[Tracked] = field(default_factory=list)
    sent: int = 0


async def prepare_world(
    port: int, root_key: str, name: str, template: dict[str, Any] | None = None
) -> World:
    """An institution, its admin key, a template (extra `config` from `template`) and an asset,
    created over HTTP."""
    root = Client("127.0.0.1", port, {"X-API-KEY": root_key})
    try:
        inst = await _create(root, "/institutions", {"name": name, "regions": ["US"]})
        key = await _create(
            root, f"/institutions/{inst['id']}/api-keys", {"label": "drill", "role": "admin"}
        )
    finally:
        await root.close()
    admin = Client("127.0.0.1", port, {"X-API-KEY": key["apiKey"]})
    try:
        template = await _create(admin, "/asset-templates", {
            "code": "CONSTR_ESCROW", "name": "Escrow", "vertical": "CONSTRUCTION",
            "region": "US", "config": {"currency": "USD", "region": "US", **(template or {})},
        })  # fmt: skip
        asset = await _create(admin, "/assets", {"templateId": template["id"], "label": "Site"})
    finally:
        await admin.close()
    return World(port, key["apiKey"], asset["id"])


async def _create(client: Client, path: str, body: dict[str, Any]) -> Any:
    for _ in range(50):
        try:
            answer = await client.request("POST", path, json.dumps(body).encode())
        except TransportError:
            await asyncio.sleep(0.2)
            continue
        if answer.status == 201:
            return json.loads(answer.body)
        if answer.status < 500:
            raise RuntimeError(f"set-up {path}: {answer.status} {answer.body[:200]!r}")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"set-up {path}: the service did not answer")


def _amount(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(10_000, 10_000_000)) * CENT


def next_command(state: _ClientState, world: World, prefix: str) -> Command:
    """The client's next intention, drawn from its own random stream only."""
    rng = state.rng
    state.sent += 1
    key = f"{prefix}-c{state.number}-{state.sent}"
    usable = [p for p in state.positions if p.state in OPEN_STATES]
    if len(usable) < 3 or rng.random() < 0.25:
        body = {
            "assetId": world.asset_id,
            "holderReference": f"drill-{state.number}-{state.sent}",
            "currency": "USD",
            "amount": str(_amount(rng)),
        }
        return Command(key, state.number, "create", "/positions", _encode(body), True, 1)
    target = rng.choice(usable)
    remaining = target.amount - target.released
    move: dict[str, Any]
    honest = rng.random() >= MISTAKE_SHARE
    if not honest:  # a forbidden move, or more money than remains: the service must say 400
        if target.state == "CREATED":
            move = {"toState": "RELEASED"}
        else:
            move = {"toState": "PARTIALLY_RELEASED", "amount": str(remaining + CENT)}
    elif target.state == "CREATED":
        move = {"toState": "FUNDED" if rng.random() < 0.9 else "CANCELLED"}
    else:
        roll = rng.random()
        part = (remaining * Decimal(rng.randint(1, 60)) / 100).quantize(CENT)
        if roll < 0.6 and part > 0:
            move = {"toState": "PARTIALLY_RELEASED", "amount": str(part)}
        elif roll < 0.9:
            move = {"toState": "RELEASED"}
        else:
            move = {"toState": "CANCELLED"}
    path = f"/positions/{target.id}/transition"
    return Command(key, state.number, "move", path, _encode(move), honest, 1, target.id)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _learn(state: _ClientState, command: Command, body: bytes) -> None:
    """Update the client's view from a definitive answer (or stop using an uncertain position)."""
    outcome = command.outcome
    if command.kind == "create":
        if outcome is Outcome.ACKNOWLEDGED:
            shown = json.loads(body)
            command.position_id = shown["id"]
            state.positions.append(Tracked(shown["id"], shown["state"], Decimal(shown["amount"])))
        return
    target = next(p for p in state.positions if p.id == command.position_id)
    if outcome is Outcome.ACKNOWLEDGED:
        move = json.loads(command.body)
        target.state = move["toState"]
        if move["toState"] == "RELEASED":
            target.released = target.amount
        elif "amount" in move:
            target.released += Decimal(move["amount"])
    elif outcome is Outcome.UNKNOWN or command.honest:
        target.state = "UNCERTAIN"  # never build on a command whose effect is not known


def _backoff(attempt: Attempt, tries: int) -> float:
    if attempt.retry_after is not None:
        try:
            return min(1.0, max(0.05, float(str(attempt.retry_after))))
        except ValueError:
            pass
    return min(0.5, 0.05 * 2.0**tries)


class Load:
    """`clients` concurrent clients against one service until `stop` is called."""

    def __init__(self, world: World, history: History, clock: Clock, prefix: str) -> None:
        self.world = world
        self.history = history
        self.clock = clock
        self.prefix = prefix
        self._stopping = asyncio.Event()
        self._give_up_at = float("inf")

    async def run(self, clients: int) -> None:
        states = [
            _ClientState(n, random.Random(f"{self.history.seed}/{self.prefix}/{n}"))
            for n in range(clients)
        ]
        started = self.clock.now()
        await asyncio.gather(*(self._client(s) for s in states))
        self.history.load_seconds = self.clock.now() - started

    def stop(self, grace: float = 30.0) -> None:
        """No new commands; the one in flight is retried for at most `grace` more seconds."""
        self._give_up_at = self.clock.now() + grace
        self._stopping.set()

    async def _client(self, state: _ClientState) -> None:
        client = Client("127.0.0.1", self.world.port, {"X-API-KEY": self.world.admin_key})
        try:
            while not self._stopping.is_set():
                command = next_command(state, self.world, self.prefix)
                self.history.commands.append(command)
                body = await self._send(client, command)
                _learn(state, command, body)
        finally:
            await client.close()

    async def _send(self, client: Client, command: Command) -> bytes:
        body = b""
        while True:
            attempt = Attempt(f"{command.key}.{len(command.attempts) + 1}", self.clock.now())
            headers = {"Idempotency-Key": command.key, "X-Request-Id": attempt.request_id}
            try:
                answer = await client.request(
                    "POST", command.path, command.body, headers, REQUEST_TIMEOUT
                )
            except TransportError as exc:
                attempt.failure = exc.kind
            else:
                attempt.status = answer.status
                attempt.retry_after = answer.headers.get("retry-after")
                body = answer.body
                if answer.status >= 400:
                    attempt.error = error_of(answer.body)
            attempt.ended = self.clock.now()
            command.attempts.append(attempt)
            definitive = attempt.status is not None and attempt.status < 500
            if (definitive and attempt.status != 429) or self.clock.now() > self._give_up_at:
                return body
            await asyncio.sleep(_backoff(attempt, len(command.attempts)))


def error_of(body: bytes) -> str:
    try:
        return str(json.loads(body).get("error"))
    except (ValueError, AttributeError):
        return body[:120].decode("utf-8", "replace")
