"""Honest clients for a drill: positions moved CREATED -> FUNDED -> RELEASED with Idempotency-Keys,
every answer recorded, then an audit of what the service acknowledged against what it holds.

A minimal loop of drills 5 and 7; the core harness (escrowgrid/drill/load.py) is the general one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import msgspec

PATH = ("FUNDED", "RELEASED")  # the moves after creation, in order
RETRIES = 3  # the same command again, same key, after a reset, a timeout or a 503


class World(msgspec.Struct, frozen=True):
    """An institution of the drill's own, with an admin key and an asset to hold positions."""

    institution_id: str
    admin_key: str
    asset_id: str


async def make_world(http: httpx.AsyncClient, root_key: str, name: str) -> World:
    """Create an institution, its admin key, a template and an asset over HTTP (root key)."""
    root = {"X-API-KEY": root_key}
    body = {"name": name, "regions": ["US"], "verticals": ["CONSTRUCTION"]}
    institution = _ok(await http.post("/institutions", json=body, headers=root), 201)
    key = _ok(
        await http.post(
            f"/institutions/{institution['id']}/api-keys",
            json={"label": name, "role": "admin"},
            headers=root,
        ),
        201,
    )
    admin = {"X-API-KEY": key["apiKey"]}
    template = {
        "code": "CONSTR_ESCROW",
        "name": "Escrow",
        "vertical": "CONSTRUCTION",
        "region": "US",
        "config": {"currency": "USD", "region": "US"},
    }
    made = _ok(await http.post("/asset-templates", json=template, headers=admin), 201)
    asset = _ok(
        await http.post("/assets", json={"templateId": made["id"], "label": name}, headers=admin),
        201,
    )
    return World(institution["id"], key["apiKey"], asset["id"])


def _ok(response: httpx.Response, status: int) -> dict[str, str]:
    if response.status_code != status:
        raise RuntimeError(f"drill set-up: {response.status_code} {response.text[:200]}")
    data: dict[str, str] = response.json()
    return data


@dataclass
class Book:
    """What the honest clients sent and were told."""

    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: dict[str, list[str]] = field(default_factory=dict)  # position -> states told
    answered: int = 0  # commands with a final answer (any status)
    unknown: int = 0  # commands given up without an answer (reset, timeout)
    not_json: int = 0
    unavailable_without_retry_after: int = 0  # 503s that do not say when to come back
    latencies: list[float] = field(default_factory=list)
    first_ack_at: float | None = None
    last_ack_at: float | None = None

    def record(self, response: httpx.Response, seconds: float) -> None:
        self.statuses[str(response.status_code)] += 1
        if not response.headers.get("content-type", "").startswith("application/json"):
            self.not_json += 1
        if response.status_code == 503 and "retry-after" not in response.headers:
            self.unavailable_without_retry_after += 1
        self.latencies.append(seconds)

    def acknowledge(self, position_id: str, state: str) -> None:
        self.acknowledged.setdefault(position_id, []).append(state)
        now = time.monotonic()
        self.first_ack_at = self.first_ack_at or now
        self.last_ack_at = now

    @property
    def acknowledged_commands(self) -> int:
        return sum(len(states) for states in self.acknowledged.values())

    def errors(self) -> dict[str, int]:
        return {status: n for status, n in sorted(self.statuses.items()) if status[0] != "2"}


class HonestClient:
    """One client's loop; a new connection per command, as many real clients behave."""

    def __init__(
        self, base_url: str, world: World, name: str, *, pause_s: float, timeout_s: float = 10.0
    ) -> None:
        self.base_url = base_url
        self.world = world
        self.name = name
        self.pause_s = pause_s
        self.timeout_s = timeout_s

    async def run(self, stop: asyncio.Event, book: Book) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        headers = {"X-API-KEY": self.world.admin_key}
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, limits=limits, timeout=self.timeout_s
        ) as http:
            n = 0
            while not stop.is_set():
                n += 1
                await self._one_position(http, f"{self.name}-{n}", book, stop)

    async def _one_position(
        self, http: httpx.AsyncClient, key: str, book: Book, stop: asyncio.Event
    ) -> None:
        body = {
            "assetId": self.world.asset_id,
            "holderReference": key,
            "currency": "USD",
            "amount": "1000.00",
        }
        created = await self._command(http, "/positions", body, f"{key}-create", book, stop)
        if created is None or created.status_code != 201:
            return
        position_id = str(created.json()["id"])
        book.acknowledge(position_id, "CREATED")
        for state in PATH:
            await asyncio.sleep(self.pause_s)
            moved = await self._command(
                http, f"/positions/{position_id}/transition", {"toState": state},
                f"{key}-{state}", book, stop,
            )  # fmt: skip
            if moved is None or moved.status_code != 200:
                return
            book.acknowledge(position_id, state)
        await asyncio.sleep(self.pause_s)

    async def _command(
        self,
        http: httpx.AsyncClient,
        path: str,
        body: dict[str, str],
        key: str,
        book: Book,
        stop: asyncio.Event,
    ) -> httpx.Response | None:
        """POST with an Idempotency-Key, the same key again after an unknown outcome or a 503."""
        for attempt in range(RETRIES + 1):
            started = time.monotonic()
            try:
                response = await http.post(path, json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError:
                if attempt == RETRIES or stop.is_set():
                    book.unknown += 1
                    return None
                await asyncio.sleep(0.2)
                continue
            book.record(response, time.monotonic() - started)
            if response.status_code == 503 and attempt < RETRIES and not stop.is_set():
                await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), 1.0))
                continue
            book.answered += 1
            return response
        return None


class Audit(msgspec.Struct, frozen=True):
    """Acknowledged commands the service does not hold (lost) or holds twice (duplicated)."""

    acknowledged: int
    lost: int
    duplicated: int


async def audit(base_url: str, world_books: list[tuple[World, Book]]) -> Audit:
    """Read every acknowledged position back: each told state is in its history, once."""
    lost = duplicated = acknowledged = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for world, book in world_books:
            headers = {"X-API-KEY": world.admin_key}
            for position_id, told in book.acknowledged.items():
                acknowledged += len(told)
                response = await http.get(f"/positions/{position_id}", headers=headers)
                if response.status_code != 200:
                    lost += len(told)
                    continue
                moves = [str(event["toState"]) for event in response.json()["events"]]
                held = Counter(["CREATED", *moves])
                lost += sum(1 for state in told if held[state] == 0)
                duplicated += sum(n - 1 for n in held.values() if n > 1)
    return Audit(acknowledged, lost, duplicated)


def quantile_ms(samples: list[float], q: float) -> float:
    """The q-quantile of durations in seconds, in milliseconds (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)
