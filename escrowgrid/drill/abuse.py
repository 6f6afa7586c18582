"""Drill 5: slow and abusive clients against the served service while honest clients work.

Idle connections that never send a byte, request heads and bodies trickled a byte at a time
(slowloris), oversized headers, and floods past the rate limit (one key's, and unknown keys').
Meanwhile /health is probed on fresh connections and honest clients move positions. Every answer
any client gets is recorded: the service must answer in JSON (bar Granian's documented bodiless
parser refusals), never 5xx, and keep /health and the honest clients served.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx
import msgspec

from escrowgrid.drill.checker import Verdict
from escrowgrid.drill.history import FaultRecord, History
from escrowgrid.drill.honest import (
    Book,
    HonestClient,
    acknowledged,
    answered,
    quantile_ms,
    unknown,
)
from escrowgrid.drill.load import Clock, World, prepare_world
from escrowgrid.drill.registry import Drill
from escrowgrid.drill.report import Figures
from escrowgrid.drill.stage import Stage, fresh_service, judge

# Granian's parser refuses more than 100 headers itself, bodiless: one of its five documented
# non-JSON answers (tests/e2e/test_server_refusals.py), counted apart from the app's.
PARSER_REFUSED_HEADERS = 120
OVERSIZED_HEADER_BYTES = 40 * 1024  # past the app's 32 KiB: its JSON 431
OPEN_BATCH = 200  # connections opened at once
NAME = "slow-clients"
READ_TIMEOUT_MS = 2000  # the service's REQUEST_READ_TIMEOUT_MS in the drill: trickles meet it soon
# Starved, /health timed out (5 s); served, it answers in milliseconds, up to about a second
# on a loaded 2-core machine that also runs the drill's own clients.
HEALTH_BOUND_MS = 3000
RECOVER_BOUND_S = 5.0
# What `injected` counts that is an outcome, not a fault: a connect or an answer that failed.
_NOT_FAULTS = ("connect_failed", "_unanswered")


def rate_limit(seconds: float) -> int:
    """Per key and hour-long window (a minute's epoch-aligned boundary could split a short
    drill): above what an honest client sends (up to ~5 commands/s), well below what the flood
    sends even on a loaded machine (over 20/s). The trickled bodies' key may pass it."""
    return int(seconds * 8) + 60


def service_env(seconds: float) -> dict[str, str]:
    """The service's settings in the drill: its rate limit on and a short read timeout."""
    return {
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_MAX_REQUESTS": str(rate_limit(seconds)),
        "RATE_LIMIT_WINDOW_MS": "3600000",
        "REQUEST_READ_TIMEOUT_MS": str(READ_TIMEOUT_MS),
    }


class AbuseConfig(msgspec.Struct, frozen=True, kw_only=True):
    seconds: float = 20.0
    seed: int = 16
    honest_clients: int = 4
    honest_pause_s: float = 0.1
    idle_connections: int = 2300  # past Granian's former per-worker cap of 2048
    trickling_heads: int = 100
    trickling_bodies: int = 50
    trickle_every_s: float = 1.0
    flood_workers: int = 6  # back-to-back requests on a key past its rate limit
    unknown_key_workers: int = 2  # the same with keys that do not exist
    oversized_every_s: float = 0.25
    health_every_s: float = 0.1
    health_timeout_s: float = 5.0


class AbuseFigures(msgspec.Struct, frozen=True, kw_only=True):
    seed: int
    seconds: float
    honest_ops: int  # honest commands answered
    honest_ops_per_s: float
    acknowledged: int  # honest commands answered 2xx (the checker says whether each is in the log)
    honest_errors: dict[str, int]  # non-2xx answers to honest clients, by status
    honest_unknown: int  # honest commands never answered (given up after retries)
    honest_p99_ms: float
    faults_injected: dict[str, int]  # abusive connections or requests, by kind
    abuse_answers: dict[str, dict[str, int]]  # what the abusers were answered, kind -> status
    non_json_answers: int  # answers that were not JSON, the parser's known refusals apart
    parser_refusals: int  # Granian's documented bodiless refusals (over 100 headers)
    server_errors: int  # 5xx to anyone
    rate_limited_without_retry_after: int
    health_probes: int
    health_failures: int
    health_max_ms: float
    health_p99_ms: float
    recover_s: float  # after the abuse stops: until /health and an honest command succeed


class _Tally:
    def __init__(self) -> None:
        self.injected: Counter[str] = Counter()
        self.answers: dict[str, Counter[str]] = {}
        self.non_json = 0
        self.parser_refusals = 0
        self.server_errors = 0
        self.no_retry_after = 0

    def answer(self, kind: str, status: int, headers: dict[str, str], body: bytes) -> None:
        self.answers.setdefault(kind, Counter())[str(status)] += 1
        if status >= 500:
            self.server_errors += 1
        if status == 429 and "retry-after" not in headers:
            self.no_retry_after += 1
        if headers.get("content-type", "").startswith("application/json"):
            return
        if kind == "many_headers" and status == 431 and not body:
            self.parser_refusals += 1
        else:
            self.non_json += 1


async def _read_answer(
    reader: asyncio.StreamReader,
) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP/1.1 answer (Content-Length bodies only, which is all the service sends)."""
    status_line = await reader.readline()
    if not status_line:
        return None
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


class AbuseDrill:
    def __init__(self, base_url: str, root_key: str, config: AbuseConfig) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.root_key = root_key
        self.config = config
        self.random = random.Random(config.seed)
        self.tally = _Tally()
        self.health: list[float] = []
        self.health_failures = 0
        self._held: list[asyncio.StreamWriter] = []
        self.history = History(config.seed)
        self.clock = Clock()

    async def run(self) -> AbuseFigures:
        config = self.config
        tag = f"drill5-{config.seed}-{self.random.randrange(1 << 30):x}"
        worlds = [
            await prepare_world(self.port, self.root_key, f"{tag}-honest-{i}")
            for i in range(config.honest_clients)
        ]
        flood = await prepare_world(self.port, self.root_key, f"{tag}-flood")
        trickle = await prepare_world(self.port, self.root_key, f"{tag}-trickle")
        books = [Book() for _ in worlds]
        stop = asyncio.Event()
        honest = [
            asyncio.create_task(
                HonestClient(
                    world, i, tag, self.history, self.clock, pause_s=config.honest_pause_s
                ).run(stop, book)
            )
            for i, (world, book) in enumerate(zip(worlds, books, strict=True))
        ]
        abuse_stop = asyncio.Event()
        jobs = [
            self._idle(abuse_stop),
            *(self._trickle_head(abuse_stop) for _ in range(config.trickling_heads)),
            *(self._trickle_body(abuse_stop, trickle) for _ in range(config.trickling_bodies)),
            self._oversized(abuse_stop),
            self._flood(abuse_stop, flood),
        ]
        abusers = [asyncio.create_task(job) for job in jobs]
        prober = asyncio.create_task(self._probe_health(stop))
        started = self.clock.now()
        await asyncio.sleep(config.seconds)
        abuse_stop.set()
        await asyncio.gather(*abusers, return_exceptions=True)
        for writer in self._held:
            writer.close()
        ended = self.clock.now()
        recover_s = await self._recover(worlds[0])
        stop.set()
        await asyncio.gather(*honest, prober, return_exceptions=True)
        elapsed = self.clock.now() - started
        self.history.load_seconds = elapsed
        self._record_faults(started, ended, recover_s)
        return self._figures(books, elapsed, recover_s)

    def _record_faults(self, started: float, ended: float, recover_s: float) -> None:
        """Each abusive connection or request as one fault, lifted when the abuse stopped and
        repaired once /health and a new position succeeded again."""
        repaired = None if recover_s == float("inf") else ended + recover_s
        for kind, count in sorted(self.tally.injected.items()):
            if not any(marker in kind for marker in _NOT_FAULTS):
                self.history.faults.extend(
                    FaultRecord(kind, started, repaired, ended) for _ in range(count)
                )

    def _figures(self, books: list[Book], elapsed: float, recover_s: float) -> AbuseFigures:
        statuses: Counter[str] = Counter()
        for book in books:
            statuses.update(book.statuses)
        ops = answered(self.history)
        latencies = [s for book in books for s in book.latencies]
        server_errors = self.tally.server_errors + sum(
            n for status, n in statuses.items() if status.startswith("5") and status != "503"
        )
        return AbuseFigures(
            seed=self.config.seed,
            seconds=round(elapsed, 1),
            honest_ops=ops,
            honest_ops_per_s=round(ops / elapsed, 1),
            acknowledged=acknowledged(self.history),
            honest_errors={s: n for s, n in sorted(statuses.items()) if not s.startswith("2")},
            honest_unknown=unknown(self.history),
            honest_p99_ms=quantile_ms(latencies, 0.99),
            faults_injected=dict(sorted(self.tally.injected.items())),
            abuse_answers={
                k: dict(sorted(v.items())) for k, v in sorted(self.tally.answers.items())
            },
            non_json_answers=self.tally.non_json + sum(book.not_json for book in books),
            parser_refusals=self.tally.parser_refusals,
            server_errors=server_errors,
            rate_limited_without_retry_after=self.tally.no_retry_after,
            health_probes=len(self.health) + self.health_failures,
            health_failures=self.health_failures,
            health_max_ms=round(max(self.health, default=0.0) * 1000, 1),
            health_p99_ms=quantile_ms(self.health, 0.99),
            recover_s=recover_s,
        )

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            return await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 10)
        except (OSError, TimeoutError):
            self.tally.injected["connect_failed"] += 1
            return None

    async def _idle(self, stop: asyncio.Event) -> None:
        """Connections that never send a byte, held until the drill ends."""
        left = self.config.idle_connections
        while left > 0 and not stop.is_set():
            batch = await asyncio.gather(*(self._connect() for _ in range(min(OPEN_BATCH, left))))
            left -= len(batch)
            for opened in batch:
                if opened is not None:
                    self._held.append(opened[1])
                    self.tally.injected["idle"] += 1

    async def _trickle(self, stop: asyncio.Event, kind: str, head: bytes, drip: bytes) -> None:
        """Send `head`, then one byte of `drip` per tick; reconnect when the server hangs up."""
        await asyncio.sleep(self.random.random() * self.config.trickle_every_s)
        while not stop.is_set():
            opened = await self._connect()
            if opened is None:
                await asyncio.sleep(self.config.trickle_every_s)
                continue
            reader, writer = opened
            self.tally.injected[kind] += 1
            answer = asyncio.create_task(_read_answer(reader))
            try:
                writer.write(head)
                while not stop.is_set() and not answer.done():
                    writer.write(drip)
                    await asyncio.wait({answer}, timeout=self.config.trickle_every_s)
                if answer.done() and (got := answer.result()) is not None:
                    self.tally.answer(kind, *got)
                    await asyncio.sleep(self.config.trickle_every_s)  # a 429 comes at once
            except (OSError, ValueError, asyncio.IncompleteReadError):
                pass  # the server hung up: what a timeout should do
            finally:
                answer.cancel()
                writer.close()

    async def _trickle_head(self, stop: asyncio.Event) -> None:
        head = f"GET /health HTTP/1.1\r\nHost: {self.host}\r\nX-Slow: ".encode()
        await self._trickle(stop, "trickle_head", head, b"a")

    async def _trickle_body(self, stop: asyncio.Event, world: World) -> None:
        head = (
            f"POST /positions HTTP/1.1\r\nHost: {self.host}\r\nX-API-KEY: {world.admin_key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        ).encode()
        await self._trickle(stop, "trickle_body", head, b" ")

    async def _oversized(self, stop: asyncio.Event) -> None:
        big = f"X-Big: {'a' * OVERSIZED_HEADER_BYTES}\r\n"
        many = "".join(f"X-H{i}: v\r\n" for i in range(PARSER_REFUSED_HEADERS))
        kinds = [("big_header", big), ("many_headers", many)]
        n = 0
        while not stop.is_set():
            kind, extra = kinds[n % 2]
            n += 1
            opened = await self._connect()
            if opened is not None:
                reader, writer = opened
                self.tally.injected[kind] += 1
                head = (
                    f"GET /health HTTP/1.1\r\nHost: {self.host}\r\n{extra}Connection: close\r\n\r\n"
                )
                try:
                    writer.write(head.encode())
                    got = await asyncio.wait_for(_read_answer(reader), 10)
                    if got is not None:
                        self.tally.answer(kind, *got)
                except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
                    self.tally.injected[f"{kind}_unanswered"] += 1
                finally:
                    writer.close()
            await asyncio.sleep(self.config.oversized_every_s)

    async def _flood(self, stop: asyncio.Event, world: World) -> None:
        """Requests back to back on keep-alive connections: a real key's, and unknown keys'."""
        kinds = [("flood_key", world.admin_key)] * self.config.flood_workers + [
            ("flood_unknown_key", f"drill-unknown-key-{self.config.seed}")
        ] * self.config.unknown_key_workers
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:

            async def worker(kind: str, key: str) -> None:
                while not stop.is_set():
                    await self._flood_one(http, kind, key)

            await asyncio.gather(*(worker(kind, key) for kind, key in kinds))

    async def _flood_one(self, http: httpx.AsyncClient, kind: str, key: str) -> None:
        self.tally.injected[kind] += 1
        try:
            response = await http.get("/positions?limit=1", headers={"X-API-KEY": key})
        except httpx.HTTPError:
            self.tally.injected[f"{kind}_unanswered"] += 1
            return
        self.tally.answer(kind, response.status_code, dict(response.headers), response.content)

    async def _probe_health(self, stop: asyncio.Event) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)  # a fresh connection each time
        async with httpx.AsyncClient(
            base_url=self.base_url, limits=limits, timeout=self.config.health_timeout_s
        ) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    ok = (await http.get("/health")).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.health.append(time.monotonic() - started)
                else:
                    self.health_failures += 1
                await asyncio.sleep(self.config.health_every_s)

    async def _recover(self, world: World) -> float:
        """Seconds from the end of the abuse until /health and a new position both succeed."""
        started = time.monotonic()
        limits = httpx.Limits(max_keepalive_connections=0)
        body = {"assetId": world.asset_id, "holderReference": "recovery", "currency": "USD",
                "amount": "1.00"}  # fmt: skip
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=5) as http:
            while time.monotonic() - started < 60:
                with contextlib.suppress(httpx.HTTPError):
                    health = await http.get("/health")
                    made = await http.post(
                        "/positions", json=body, headers={"X-API-KEY": world.admin_key}
                    )
                    if health.status_code == 200 and made.status_code == 201:
                        return round(time.monotonic() - started, 2)
                await asyncio.sleep(0.1)
        return float("inf")


def run_abuse(base_url: str, root_key: str, config: AbuseConfig) -> tuple[AbuseFigures, History]:
    """Run drill 5 against a served service (`service_env` on): its figures and the honest
    clients' history, for the core checker."""
    drill = AbuseDrill(base_url, root_key, config)
    return asyncio.run(drill.run()), drill.history


def problems(figures: AbuseFigures, config: AbuseConfig) -> list[str]:
    """What drill 5 asserts beyond the core checker: /health served within its bound, honest
    clients served, every refusal JSON with Retry-After on a 429, trickled bodies refused."""
    found: list[str] = []
    injected, answers = figures.faults_injected, figures.abuse_answers
    if injected.get("idle", 0) != config.idle_connections:
        found.append(f"only {injected.get('idle', 0)} of {config.idle_connections} idle opened")
    if figures.health_failures or figures.health_max_ms >= HEALTH_BOUND_MS:
        found.append(f"/health: {figures.health_failures} failures, max {figures.health_max_ms} ms"
                     f" (bound {HEALTH_BOUND_MS} ms)")  # fmt: skip
    if figures.honest_errors or figures.honest_unknown:
        found.append(f"honest clients: errors {figures.honest_errors}, "
                     f"unknown {figures.honest_unknown}")  # fmt: skip
    if figures.recover_s >= RECOVER_BOUND_S:
        found.append(f"recovered after {figures.recover_s} s (bound {RECOVER_BOUND_S} s)")
    if figures.non_json_answers or figures.server_errors:
        found.append(f"{figures.non_json_answers} non-JSON, {figures.server_errors} 5xx answers")
    if answers.get("big_header") != {"431": injected.get("big_header", 0)}:
        found.append(f"oversized headers answered {answers.get('big_header')}")
    no_retry_after = figures.rate_limited_without_retry_after
    if answers.get("flood_key", {}).get("429", 0) == 0 or no_retry_after:
        found.append(f"flood past the rate limit answered {answers.get('flood_key')}, "
                     f"{no_retry_after} 429s without Retry-After")  # fmt: skip
    if not set(answers.get("flood_unknown_key", {})) <= {"401", "429"}:
        found.append(f"unknown keys answered {answers.get('flood_unknown_key')}")
    trickled = answers.get("trickle_body", {})
    if trickled.get("408", 0) < config.trickling_bodies or not set(trickled) <= {"408", "429"}:
        found.append(f"trickled bodies answered {trickled}")
    return found


def raise_file_limit(config: AbuseConfig) -> str | None:
    """Raise this process's file limit to what the drill holds; why not, when it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = config.idle_connections + config.trickling_heads + config.trickling_bodies + 512
    if soft < needed <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    elif soft < needed:
        return f"the drill holds {needed} connections; this process may open {soft} files"
    return None


def run(stage: Stage) -> Figures:
    config = AbuseConfig(seconds=stage.seconds, seed=stage.seed)
    reason = raise_file_limit(config)
    if reason is not None:
        return Figures.skipped_round(NAME, stage.seed, stage.round, reason)
    with fresh_service(stage, NAME, 2, **service_env(stage.seconds)) as (service, dsn, env):
        abuse, history = run_abuse(service.url, stage.root_key, config)

        def extra(verdict: Verdict) -> None:
            for problem in problems(abuse, config):
                verdict.flag(problem)

        figures = judge(stage, NAME, history, dsn, env, extra)
        answered_abuse = "; ".join(
            f"{kind} {dict(counts)}" for kind, counts in abuse.abuse_answers.items()
        )
        figures.notes = (
            f"/health: {abuse.health_probes} probes, {abuse.health_failures} failed, max "
            f"{abuse.health_max_ms} ms, p99 {abuse.health_p99_ms} ms; honest p99 "
            f"{abuse.honest_p99_ms} ms; abusers answered: {answered_abuse}"
        )
        return figures


DRILLS = (
    Drill(5, NAME, "idle and trickling connections, huge headers, floods past the rate limit",
          run),
)  # fmt: skip
