"""Drill 4: other clients take every PostgreSQL connection slot mid-load.

The service must answer 503 with Retry-After within a bound (not hang), /ready must be 503,
and once the slots are free again it must serve without a restart.
"""

from __future__ import annotations

import time

from escrowgrid.database import CHECKOUT_TIMEOUT_S
from escrowgrid.drill.checker import Verdict
from escrowgrid.drill.cluster import DrillCluster
from escrowgrid.drill.faults import connections_exhausted, ready, wait_until
from escrowgrid.drill.history import History
from escrowgrid.drill.processes import ServiceProcess
from escrowgrid.drill.registry import Drill
from escrowgrid.drill.report import Figures
from escrowgrid.drill.stage import Script, Stage, fresh_service, judge, play, probes_within

NAME = "connection-exhaustion"
# A refusal must come within the pool's checkout timeout (plus room for a loaded machine), not
# after a client or load balancer gave up on a hanging request.
ANSWER_BOUND_S = CHECKOUT_TIMEOUT_S + 3.0


def run(stage: Stage) -> Figures:
    full: list[tuple[float, float]] = []
    with fresh_service(stage, NAME) as (service, dsn, env):
        history = play(
            stage, NAME, service, lambda script: _faults(script, stage.cluster, dsn, service, full)
        )

        def extra(verdict: Verdict) -> None:
            _check_bounded(history, full, verdict)

        return judge(stage, NAME, history, dsn, env, extra)


def _faults(
    script: Script,
    cluster: DrillCluster,
    dsn: str,
    service: ServiceProcess,
    full: list[tuple[float, float]],
) -> None:
    script.sleep_until(script.rng.uniform(1.0, 2.0))
    while script.now() < script.seconds - 5:
        # Longer than /ready takes to give up on the pool (2.5 s), so probes fit inside.
        hold = script.rng.uniform(3.5, 4.5)
        with script.fault("max_connections taken by other clients") as fault:
            with connections_exhausted(cluster, dsn) as held:
                fault.detail = f"{held} connections held for {hold:.1f} s"
                since = script.now()
                time.sleep(hold)
                full.append((since, script.now()))
            script.lifted(fault)
            wait_until(lambda: ready(service), 30, "/ready 200 once the slots were free")
            script.recovered(fault)
        script.sleep_until(script.now() + script.rng.uniform(1.5, 2.5))


def _check_bounded(history: History, full: list[tuple[float, float]], verdict: Verdict) -> None:
    """Every answer within the bound; /ready 503 while the server was full."""
    for command, attempt in history.attempts():
        took = attempt.ended - attempt.started
        if took > ANSWER_BOUND_S:
            what = attempt.status if attempt.status is not None else attempt.failure
            verdict.flag(f"{attempt.request_id}: {what} after {took:.1f} s ({command.path})")
    for start, end in full:
        inside = probes_within(history, start, end)
        wrong = [s for s in inside if s != 503]
        if not inside or wrong:
            verdict.flag(f"/ready while the server was full ({start:.1f}-{end:.1f} s): {inside}")


DRILLS = (
    Drill(4, NAME, "every PostgreSQL connection slot taken by others: 503 fast, not a hang", run),
)
