"""Drill 2: PostgreSQL fast restart and immediate (crash) stop mid-load.

The service is never restarted: it must answer 503 with Retry-After while the database is away,
/ready must say 503 then, and 200 again once the database is back.
"""

from __future__ import annotations

import time

from escrowgrid.drill.checker import Verdict
from escrowgrid.drill.cluster import DrillCluster
from escrowgrid.drill.faults import crash_database, ready, restart_database, wait_until
from escrowgrid.drill.history import History
from escrowgrid.drill.processes import ServiceProcess
from escrowgrid.drill.registry import Drill
from escrowgrid.drill.report import Figures
from escrowgrid.drill.stage import Script, Stage, fresh_service, judge, play, probes_within

NAME = "database-restart"


def run(stage: Stage) -> Figures:
    away: list[tuple[float, float]] = []  # when the database was certainly down
    with fresh_service(stage, NAME) as (service, dsn, env):
        pid = service.proc.pid if service.proc else None
        history = play(
            stage, NAME, service, lambda script: _faults(script, stage.cluster, service, away)
        )

        def extra(verdict: Verdict) -> None:
            if not service.running or service.proc is None or service.proc.pid != pid:
                verdict.flag("the service did not survive the database restarts by itself")
            _check_ready(history, away, verdict)

        return judge(stage, NAME, history, dsn, env, extra)


def _faults(
    script: Script, cluster: DrillCluster, service: ServiceProcess, away: list[tuple[float, float]]
) -> None:
    script.sleep_until(script.rng.uniform(1.0, 2.0))
    turn = 0
    while script.now() < script.seconds - 3:
        if turn % 2 == 0:
            with script.fault("PostgreSQL fast restart") as fault:
                restart_database(cluster)
                wait_until(lambda: ready(service), 30, "/ready 200 after the restart")
                script.recovered(fault)
        else:
            # Longer than /ready takes to give up on an empty pool (2.5 s), so probes fit inside.
            down = script.rng.uniform(3.0, 4.0)
            with script.fault("PostgreSQL immediate stop (crash)", f"down {down:.1f} s") as fault:
                crash_database(cluster)
                stopped = script.now()
                time.sleep(down)
                away.append((stopped, script.now()))
                script.lifted(fault)
                cluster.pg.start()  # crash recovery from the WAL
                wait_until(lambda: ready(service), 30, "/ready 200 after crash recovery")
                script.recovered(fault)
        turn += 1
        script.sleep_until(script.now() + script.rng.uniform(1.0, 2.0))


def _check_ready(history: History, away: list[tuple[float, float]], verdict: Verdict) -> None:
    """/ready is 503 while the database is down and 200 at the end."""
    for start, end in away:
        inside = probes_within(history, start, end)
        if not inside:
            verdict.flag(f"no /ready probe while the database was down ({start:.1f}-{end:.1f} s)")
        wrong = [s for s in inside if s != 503]
        if wrong:
            verdict.flag(f"/ready answered {wrong} while the database was down")
    last = max(history.ready_probes, default=None)  # the last one sent
    if last is not None and last[2] != 200:
        verdict.flag(f"/ready is {last[2]} after the database came back")


DRILLS = (
    Drill(2, NAME, "PostgreSQL fast restart and immediate stop mid-load; no service restart", run),
)
