"""Where a drill round plays: the cluster, a fresh database and service, the load, the script.

A round is: prepare the world over HTTP, start the load, run the drill's fault script (blocking
calls, in a thread) while /ready is probed, stop the load, then check the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from escrowgrid.drill.checker import Verdict, check
from escrowgrid.drill.cluster import DrillCluster
from escrowgrid.drill.faults import FaultError
from escrowgrid.drill.history import FaultRecord, History
from escrowgrid.drill.load import Clock, Load, prepare_world
from escrowgrid.drill.processes import ServiceProcess
from escrowgrid.drill.report import Figures, figures
from escrowgrid.drill.wire import Client, TransportError

PROBE_EVERY = 0.25
PROBE_TIMEOUT = 5.0


@dataclass
class Stage:
    """What a round gets from the campaign: the seed, its number, the time it has, a cluster."""

    seed: int
    round: int
    seconds: float  # the load's duration (the fault script's schedule fits in it)
    folder: Path
    cluster: DrillCluster
    root_key: str
    clients: int = 8

    def rng(self, drill: str) -> random.Random:
        """The fault schedule's random stream: a function of seed, drill and round only."""
        return random.Random(f"{self.seed}/{drill}/{self.round}/faults")

    def prefix(self, drill: str) -> str:
        return f"s{self.seed}-{drill}-r{self.round}"

    def env(self, dsn: str, **extra: str) -> dict[str, str]:
        """The service's environment, as an operator sets it."""
        return {
            **os.environ,
            "DATABASE_URL": dsn,
            "ROOT_API_KEY": self.root_key,
            "RATE_LIMIT_ENABLED": "false",
            "ESCROWGRID_DATA_DIR": str(self.folder / "data"),
            "LOG_LEVEL": "warning",
            **extra,
        }

    def log(self, drill: str, what: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{drill}-r{self.round}-{what}.log"


@dataclass
class Script:
    """What a fault script uses: the drill's clock, its random stream, the fault records."""

    clock: Clock
    history: History
    rng: random.Random
    seconds: float
    problems: list[str] = field(default_factory=list)

    def now(self) -> float:
        return self.clock.now()

    def sleep_until(self, moment: float) -> None:
        time.sleep(max(0.0, moment - self.now()))

    @contextlib.contextmanager
    def fault(self, name: str, detail: str = "") -> Iterator[FaultRecord]:
        """Record a fault from now; the script sets `repaired` when its recovery condition held."""
        record = FaultRecord(name, self.now(), detail=detail)
        self.history.faults.append(record)
        yield record

    def lifted(self, record: FaultRecord) -> None:
        """The drill stops causing the fault (the database starts again, the slots are freed)."""
        record.lifted = self.now()

    def recovered(self, record: FaultRecord) -> None:
        record.repaired = self.now()


FaultScript = Callable[[Script], None]


def play(
    stage: Stage,
    drill: str,
    service: ServiceProcess,
    script: FaultScript,
    template: dict[str, Any] | None = None,
) -> History:
    """Run the load against `service` while `script` injects faults; return the history."""
    history = History(stage.seed)
    clock = Clock()
    runner = Script(clock, history, stage.rng(drill), stage.seconds)
    asyncio.run(_drive(stage, drill, service, runner, script, template))
    for problem in runner.problems:
        history.faults.append(FaultRecord(f"script failed: {problem}", runner.now()))
    return history


async def _drive(
    stage: Stage,
    drill: str,
    service: ServiceProcess,
    runner: Script,
    script: FaultScript,
    template: dict[str, Any] | None,
) -> None:
    name = f"Drill {drill} {stage.round}"
    world = await prepare_world(service.port, stage.root_key, name, template)
    load = Load(world, runner.history, runner.clock, stage.prefix(drill))
    loading = asyncio.create_task(load.run(stage.clients))
    probing = asyncio.create_task(_probe_ready(service, runner))
    try:
        await asyncio.to_thread(_guarded, script, runner)
    finally:
        load.stop()
        await loading
        probing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probing


def _guarded(script: FaultScript, runner: Script) -> None:
    try:
        script(runner)
    except FaultError as exc:
        runner.problems.append(str(exc))


async def _probe_ready(service: ServiceProcess, runner: Script) -> None:
    """/ready every quarter second, each probe on its own connection and not waiting for the
    previous one (a 503 may take the pool's timeout): (sent, answered, status)."""
    flying: set[asyncio.Task[None]] = set()
    try:
        while True:
            task = asyncio.create_task(_probe_once(service.port, runner))
            flying.add(task)
            task.add_done_callback(flying.discard)
            await asyncio.sleep(PROBE_EVERY)
    finally:
        for task in list(flying):
            task.cancel()
        await asyncio.gather(*flying, return_exceptions=True)


async def _probe_once(port: int, runner: Script) -> None:
    client = Client("127.0.0.1", port, {})
    sent = runner.now()
    try:
        answer = await client.request("GET", "/ready", timeout=PROBE_TIMEOUT)
        runner.history.ready_probes.append((sent, runner.now(), answer.status))
    except TransportError as exc:
        status = None if exc.kind == "timeout" else -1
        runner.history.ready_probes.append((sent, runner.now(), status))
    finally:
        await client.close()


@contextlib.contextmanager
def fresh_service(
    stage: Stage, drill: str, workers: int = 2, **extra: str
) -> Iterator[tuple[ServiceProcess, str, dict[str, str]]]:
    """`escrowgrid serve` on a new database of the drill cluster: (service, dsn, its env)."""
    dsn = stage.cluster.new_database()
    env = stage.env(dsn, **extra)
    service = ServiceProcess(env, stage.log(drill, "serve"), workers=workers)
    try:
        service.start()
        yield service, dsn, env
    finally:
        service.stop()
        stage.cluster.drop_database(dsn)


def probes_within(history: History, start: float, end: float) -> list[int | None]:
    """The /ready answers to probes sent and answered between `start` and `end`."""
    return [s for sent, got, s in history.ready_probes if start <= sent and got <= end]


def judge(
    stage: Stage,
    drill: str,
    history: History,
    dsn: str,
    env: Mapping[str, str],
    extra: Callable[[Verdict], None] | None = None,
) -> Figures:
    """The checker's verdict (plus the drill's own checks) as the round's figures."""
    verdict = check(history, dsn, env)
    if extra is not None:
        extra(verdict)
    hung = [at for at, _, status in history.ready_probes if status is None]
    if hung:
        verdict.flag(f"/ready did not answer within {PROBE_TIMEOUT} s at {hung[:5]}")
    return figures(drill, stage.round, history, verdict)
