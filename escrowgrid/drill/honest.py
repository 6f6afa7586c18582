"""Honest clients for drills 5 and 7: positions moved CREATED -> FUNDED -> RELEASED with
Idempotency-Keys, each on a new connection, every attempt recorded in the core `History`.

The core checker (escrowgrid/drill/checker.py) judges that history as it judges load.py's: the
world comes from load.py too. What is kept here is what those drills report beyond the checker:
every answer's status, JSON or not, and latency.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

import httpx

from escrowgrid.drill.history import Attempt, Command, History, Outcome
from escrowgrid.drill.load import Clock, World, error_of

PATH = ("FUNDED", "RELEASED")  # the moves after creation, in order
RETRIES = 3  # the same command again, same key, after a reset, a timeout or a 503


@dataclass
class Book:
    """Every answer the honest clients got: status, JSON or not, how long it took."""

    statuses: Counter[str] = field(default_factory=Counter)
    not_json: int = 0
    latencies: list[float] = field(default_factory=list)

    def record(self, response: httpx.Response, seconds: float) -> None:
        self.statuses[str(response.status_code)] += 1
        if not response.headers.get("content-type", "").startswith("application/json"):
            self.not_json += 1
        self.latencies.append(seconds)


def acknowledged(history: History) -> int:
    """Commands answered 2xx so far."""
    return sum(1 for c in history.commands if c.outcome is Outcome.ACKNOWLEDGED)


def answered(history: History) -> int:
    """Commands with a definitive answer (2xx or 4xx) so far."""
    return sum(1 for c in history.commands if c.attempts and c.outcome is not Outcome.UNKNOWN)


def unknown(history: History) -> int:
    """Commands given up without a definitive answer (reset, timeout, 503 after the retries)."""
    return sum(1 for c in history.commands if c.attempts and c.outcome is Outcome.UNKNOWN)


class HonestClient:
    """One client's loop; a new connection per command, as many real clients behave."""

    def __init__(
        self,
        world: World,
        number: int,
        prefix: str,
        history: History,
        clock: Clock,
        *,
        pause_s: float,
        timeout_s: float = 10.0,
    ) -> None:
        self.world = world
        self.number = number
        self.prefix = prefix
        self.history = history
        self.clock = clock
        self.pause_s = pause_s
        self.timeout_s = timeout_s

    async def run(self, stop: asyncio.Event, book: Book) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.world.port}",
            headers={"X-API-KEY": self.world.admin_key},
            limits=limits,
            timeout=self.timeout_s,
        ) as http:
            n = 0
            while not stop.is_set():
                n += 1
                await self._one_position(http, f"{self.prefix}-c{self.number}-{n}", book, stop)

    async def _one_position(
        self, http: httpx.AsyncClient, key: str, book: Book, stop: asyncio.Event
    ) -> None:
        body = {
            "assetId": self.world.asset_id,
            "holderReference": key,
            "currency": "USD",
            "amount": "1000.00",
        }
        created = Command(f"{key}-create", self.number, "create", "/positions", _encode(body),
                          True, 1)  # fmt: skip
        answer = await self._send(http, created, book, stop)
        if answer is None or created.outcome is not Outcome.ACKNOWLEDGED:
            return
        position_id = str(json.loads(answer)["id"])
        created.position_id = position_id
        for state in PATH:
            await asyncio.sleep(self.pause_s)
            moved = Command(
                f"{key}-{state}", self.number, "move", f"/positions/{position_id}/transition",
                _encode({"toState": state}), True, 1, position_id,
            )  # fmt: skip
            await self._send(http, moved, book, stop)
            if moved.outcome is not Outcome.ACKNOWLEDGED:
                return
        await asyncio.sleep(self.pause_s)

    async def _send(
        self, http: httpx.AsyncClient, command: Command, book: Book, stop: asyncio.Event
    ) -> bytes | None:
        """POST with its Idempotency-Key, again with the same key after no answer or a 503;
        each attempt says `X-Request-Id: <key>.<attempt>` (what the checker matches events by)."""
        self.history.commands.append(command)
        for tries in range(1, RETRIES + 2):
            attempt = Attempt(f"{command.key}.{tries}", self.clock.now())
            headers = {"Idempotency-Key": command.key, "X-Request-Id": attempt.request_id}
            try:
                response = await http.post(command.path, content=command.body, headers={
                    **headers, "Content-Type": "application/json"})  # fmt: skip
            except httpx.HTTPError as exc:
                attempt.failure = "timeout" if isinstance(exc, httpx.TimeoutException) else "reset"
                attempt.ended = self.clock.now()
                command.attempts.append(attempt)
                if tries > RETRIES or stop.is_set():
                    return None
                await asyncio.sleep(0.2)
                continue
            attempt.ended = self.clock.now()
            attempt.status = response.status_code
            attempt.retry_after = response.headers.get("retry-after")
            if response.status_code >= 400:
                attempt.error = error_of(response.content)
            command.attempts.append(attempt)
            book.record(response, attempt.ended - attempt.started)
            if response.status_code == 503 and tries <= RETRIES and not stop.is_set():
                await asyncio.sleep(min(float(attempt.retry_after or "1"), 1.0))
                continue
            return response.content
        return None


def _encode(body: dict[str, str]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def quantile_ms(samples: list[float], q: float) -> float:
    """The q-quantile of durations in seconds, in milliseconds (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)
