"""Rate limiting: the lease arithmetic, the strict buckets, the 429 answer (the SQL counters:
tests/integration/test_api_rate_limit_counters.py)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any
from uuid import uuid4

import pytest

from escrowgrid.api import rate_limit as rl
from escrowgrid.application.context import ROOT, Actor, ActorRole
from escrowgrid.config import RateLimitSettings, Settings

WINDOW = 60_000
NOW = 1_700_000_000_000 - 1_700_000_000_000 % WINDOW + 5_000  # 5 s into a window


class MemoryCounters:
    """The shared counter table, in memory; `fail` makes it unreachable."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], int] = {}
        self.calls = 0
        self.fail = False

    async def take(self, table: str, bucket: str, start: int, window_ms: int, n: int) -> int:
        self.calls += 1
        if self.fail:
            raise OSError("database down")
        await asyncio.sleep(0)
        key = (table, bucket, start)
        self.rows[key] = self.rows.get(key, 0) + n
        return self.rows[key]


def limiter(counters: Any, limit: int, workers: int = 1) -> rl.KeyLimiter:
    return rl.KeyLimiter(counters, limit, WINDOW, workers)


async def admitted(lim: rl.KeyLimiter, n: int, bucket: str = "key:a", now: int = NOW) -> list[bool]:
    return [(await lim.check(bucket, now)).allowed for _ in range(n)]


def test_one_worker_admits_exactly_the_limit_with_exact_remaining() -> None:
    async def go() -> None:
        lim = limiter(MemoryCounters(), 5)
        decisions = [await lim.check("key:a", NOW) for _ in range(7)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
        assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
        assert decisions[-1].reset_ms == NOW - 5_000 + WINDOW
        assert await admitted(lim, 1, "key:b") == [True]  # another key has its own window
        assert await admitted(lim, 3, now=NOW + WINDOW) == [True] * 3  # the next window

    asyncio.run(go())


def test_leases_amortise_round_trips_and_an_exhausted_window_stops_asking() -> None:
    async def go() -> None:
        counters = MemoryCounters()
        lim = limiter(counters, 1000)
        assert all(await admitted(lim, 1000))
        assert counters.calls < 40
        calls = counters.calls
        assert await admitted(lim, 50) == [False] * 50
        assert counters.calls <= calls + 1

    asyncio.run(go())


@pytest.mark.parametrize("seed", range(5))
def test_workers_sharing_the_counter_never_admit_more_than_the_limit(seed: int) -> None:
    async def go() -> None:
        rnd = random.Random(seed)
        counters = MemoryCounters()
        workers = [limiter(counters, 300, workers=3) for _ in range(3)]

        async def client() -> int:
            return sum([(await rnd.choice(workers).check("key:a", NOW)).allowed for _ in range(80)])

        total = sum(await asyncio.gather(*(client() for _ in range(8))))
        assert total <= 300
        assert total >= 300 - 3 * 12  # few tokens stranded in the other workers
        # Traffic that keeps reaching every worker uses the stranded tokens up too.
        for worker in workers:
            total += sum(await admitted(worker, 50))
        assert total == 300

    asyncio.run(go())


def test_two_workers_and_a_small_limit_count_exactly() -> None:
    async def go() -> None:
        rnd = random.Random(7)
        counters = MemoryCounters()
        workers = [limiter(counters, 5, workers=2) for _ in range(2)]
        decisions = [await rnd.choice(workers).check("key:a", NOW) for _ in range(8)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 3
        assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]

    asyncio.run(go())


def test_concurrent_requests_share_one_lease_in_flight() -> None:
    async def go() -> None:
        counters = MemoryCounters()
        lim = limiter(counters, 1000)
        results = await asyncio.gather(*(lim.check("key:a", NOW) for _ in range(40)))
        assert all(d.allowed for d in results)
        assert counters.calls <= 3

    asyncio.run(go())


def test_unreachable_counters_fail_open() -> None:
    async def go() -> None:
        counters = MemoryCounters()
        counters.fail = True
        assert await admitted(limiter(counters, 2), 4) == [True] * 4

    asyncio.run(go())


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path}


def test_strict_buckets() -> None:
    inst = uuid4()
    admin = Actor(key_id="k1", role=ActorRole.ADMIN, institution_id=inst)
    stranger = Actor(key_id="k2", role=ActorRole.ADMIN, institution_id=uuid4())
    keys = f"/institutions/{inst}/api-keys"
    assert rl.strict_bucket(_scope("POST", "/institutions"), ROOT) == (
        "institutions:create:root",
        10,
    )
    assert rl.strict_bucket(_scope("POST", keys), ROOT) == (f"api-keys:create:{inst}", 5)
    assert rl.strict_bucket(_scope("POST", keys + "/"), admin) == (f"api-keys:create:{inst}", 5)
    # Refused by the route (403, 400): they must not spend the institution's budget.
    assert rl.strict_bucket(_scope("POST", keys), stranger) is None
    assert rl.strict_bucket(_scope("POST", "/institutions/nope/api-keys"), ROOT) is None
    assert rl.strict_bucket(_scope("GET", keys), ROOT) is None
    assert rl.strict_bucket(_scope("POST", keys + "/x/revoke"), ROOT) is None


class _Sink:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.messages[0]["headers"]}

    def json(self) -> Any:
        return json.loads(self.messages[1]["body"])


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def _middleware(limit: int, enabled: bool = True) -> tuple[rl.RateLimitMiddleware, MemoryCounters]:
    settings = Settings(rate_limit=RateLimitSettings(enabled=enabled, max_requests=limit))
    mw = rl.RateLimitMiddleware(_inner, settings, pool=None)  # type: ignore[arg-type]
    counters = MemoryCounters()
    mw._counters = counters  # type: ignore[assignment]
    mw._keys = rl.KeyLimiter(counters, limit, settings.rate_limit.window_ms, 1)  # type: ignore[arg-type]
    return mw, counters


async def _call(mw: rl.RateLimitMiddleware, method: str, path: str, actor: Any) -> _Sink:
    sink = _Sink()
    scope = {**_scope(method, path), "headers": [], "state": {"actor": actor}}
    await mw(scope, _receive, sink)
    return sink


def test_the_429_answer_and_the_limit_headers() -> None:
    async def go() -> None:
        mw, _ = _middleware(2)
        first = await _call(mw, "GET", "/positions", ROOT)
        assert first.status == 200
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        await _call(mw, "GET", "/positions", ROOT)
        refused = await _call(mw, "GET", "/positions", ROOT)
        assert refused.status == 429
        assert refused.headers["content-type"] == "application/json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        body = refused.json()
        assert body["error"] == "Rate limit exceeded"
        assert body["limit"] == 2 and body["windowMs"] == 60_000
        assert body["retryAfterSeconds"] == int(refused.headers["retry-after"])
        # Without an actor (no key: auth answered, or an open path) nothing is counted.
        assert (await _call(mw, "GET", "/health", None)).status == 200

    asyncio.run(go())


def test_the_strict_limit_answers_429_after_five_key_creations() -> None:
    async def go() -> None:
        mw, _ = _middleware(1000)
        path = f"/institutions/{uuid4()}/api-keys"
        statuses = [(await _call(mw, "POST", path, ROOT)).status for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        refused = await _call(mw, "POST", path, ROOT)
        assert refused.json()["limit"] == 5 and refused.json()["windowMs"] == rl.HOUR_MS
        assert int(refused.headers["retry-after"]) <= 3600
        assert (await _call(mw, "POST", f"/institutions/{uuid4()}/api-keys", ROOT)).status == 200

    asyncio.run(go())


def test_disabled_limits_pass_everything() -> None:
    async def go() -> None:
        mw, counters = _middleware(1, enabled=False)
        for _ in range(3):
            sink = await _call(mw, "POST", "/institutions", ROOT)
            assert sink.status == 200 and "x-ratelimit-limit" not in sink.headers
        assert counters.calls == 0

    asyncio.run(go())
