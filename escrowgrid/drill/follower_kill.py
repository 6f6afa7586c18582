"""Drill 3: SIGKILL of the projection runner and of the on-chain publisher, each its own process,
again and again while the log grows.

Each must resume from its tracking position without loss or duplication: the read models equal
a rebuild (the checker), and every on-chain position's event is queued once and on the chain once,
in log order per position.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import random
from collections import defaultdict

import psycopg

from escrowgrid.drill import chain
from escrowgrid.drill.checker import POSITION_TOPIC, Verdict
from escrowgrid.drill.faults import crash_and_restart, wait_until
from escrowgrid.drill.processes import CommandProcess
from escrowgrid.drill.registry import Drill
from escrowgrid.drill.report import Figures
from escrowgrid.drill.stage import Script, Stage, fresh_service, judge, play
from projections.registry import NAMES

NAME = "follower-kill"
DRAIN_TIMEOUT_S = 180.0


def run(stage: Stage) -> Figures:
    missing = chain.available()
    node = None if missing else chain.LocalChain(stage.log(NAME, "anvil")).start(os.environ)
    try:
        with fresh_service(stage, NAME, PROJECTIONS_INLINE="false") as (service, dsn, env):
            runner = CommandProcess(("projections", "run"), env, stage.log(NAME, "projections"))
            publisher = None
            template = None
            if node is not None:
                publisher_env = {**env, **node.settings()}
                publisher = CommandProcess(
                    ("onchain", "run"), publisher_env, stage.log(NAME, "onchain")
                )
                template = {"onchain": {"enabled": True, "chainId": chain.CHAIN_ID}}
                publisher.start()
            runner.start()
            try:
                history = play(
                    stage,
                    NAME,
                    service,
                    lambda script: _faults(script, dsn, runner, publisher),
                    template,
                )

                def extra(verdict: Verdict) -> None:
                    if node is None:
                        verdict.flag(f"the publisher half did not run: {missing}")
                    else:
                        _check_chain(dsn, node, verdict)

                return judge(stage, NAME, history, dsn, env, extra)
            finally:
                runner.stop()
                if publisher is not None:
                    publisher.stop()
    finally:
        if node is not None:
            node.stop()


def _faults(
    script: Script, dsn: str, runner: CommandProcess, publisher: CommandProcess | None
) -> None:
    """Each follower killed on its own schedule (two threads), each time once it has recovered."""
    rng = script.rng
    plans = [(runner, "projection runner", random.Random(rng.random()))]
    if publisher is not None:
        plans.append((publisher, "on-chain publisher", random.Random(rng.random())))
    with concurrent.futures.ThreadPoolExecutor(len(plans)) as pool:
        for done in [pool.submit(_kill_often, script, dsn, *plan) for plan in plans]:
            done.result()


def _kill_often(
    script: Script, dsn: str, target: CommandProcess, name: str, rng: random.Random
) -> None:
    is_runner = name == "projection runner"
    back = _projected_past if is_runner else _published_past
    what = "read models" if is_runner else "the chain"
    what += " past the log's head at the kill"
    script.sleep_until(rng.uniform(1.0, 2.0))
    while script.now() < script.seconds - 2:
        head = _scalar(dsn, _HEAD)
        with script.fault(f"SIGKILL of the {name}") as fault:
            crash_and_restart(target, rng.uniform(0.0, 0.5))
            wait_until(functools.partial(back, dsn, head), 60, what)
            script.recovered(fault)
        script.sleep_until(script.now() + rng.uniform(0.2, 1.0))


_HEAD = "SELECT coalesce(max(position), 0) FROM events"
_OPEN = "SELECT count(*) FROM onchain_outbox WHERE status <> 'published'"


def _scalar(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _published_past(dsn: str, head: int) -> bool:
    """Every on-chain event up to `head` queued (outbox tracking) and confirmed on chain."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(max(position), 0) FROM projection_tracking"
            "        WHERE name = 'onchain_outbox'),"
            " (SELECT count(*) FROM onchain_outbox WHERE status <> 'published'"
            "        AND log_position <= %s)",
            (head,),
        ).fetchone()
    return row is not None and int(row[0]) >= head and int(row[1]) == 0


def _projected_past(dsn: str, head: int) -> bool:
    return _projected(dsn) >= head


def _projected(dsn: str) -> int:
    """The lowest position any read model has reached."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT name, position FROM projection_tracking WHERE name = ANY(%s)", (list(NAMES),)
        ).fetchall()
    tracked = {str(n): int(p) for n, p in rows}
    return min(tracked.get(n, 0) for n in NAMES)


def _check_chain(dsn: str, node: chain.LocalChain, verdict: Verdict) -> None:
    """Every on-chain position's event queued once, published, on the chain once, in order."""
    try:
        head = _scalar(dsn, _HEAD)
        wait_until(functools.partial(_published_past, dsn, head), DRAIN_TIMEOUT_S, "all on chain")
    except RuntimeError as exc:
        verdict.flag(f"{exc} ({_scalar(dsn, _OPEN)} rows open)")
        return
    with psycopg.connect(dsn) as conn:
        logged = [
            int(p)
            for (p,) in conn.execute(
                "SELECT position FROM events WHERE topic LIKE %s ORDER BY position",
                (POSITION_TOPIC + "%",),
            ).fetchall()
        ]
        queued: dict[int, str] = dict(
            conn.execute("SELECT log_position, position_id::text FROM onchain_outbox").fetchall()
        )
    if sorted(queued) != logged:
        verdict.flag(f"outbox holds {len(queued)} events, the log {len(logged)} eligible ones")
    on_chain = node.recorded_positions()
    if sorted(on_chain) != logged:
        extra = len(on_chain) - len(set(on_chain))
        verdict.flag(f"chain holds {len(on_chain)} records ({extra} repeated), log {len(logged)}")
    per_position: dict[str, list[int]] = defaultdict(list)
    for position in on_chain:
        per_position[queued.get(position, "?")].append(position)
    unordered = [p for p, seen in per_position.items() if seen != sorted(seen)]
    if unordered:
        verdict.flag(f"chain order differs from the log for positions {unordered[:5]}")


DRILLS = (
    Drill(3, NAME, "SIGKILL of the projection runner and the on-chain publisher, many times", run),
)
