"""Drill 1: SIGKILL of one API worker, and of the whole service, mid-load; then restart."""

from __future__ import annotations

import functools

from escrowgrid.drill.faults import kill_service, kill_worker, wait_until, workers_back
from escrowgrid.drill.processes import ServiceProcess
from escrowgrid.drill.registry import Drill
from escrowgrid.drill.report import Figures
from escrowgrid.drill.stage import Script, Stage, fresh_service, judge, play

NAME = "process-kill"


def run(stage: Stage) -> Figures:
    with fresh_service(stage, NAME) as (service, dsn, env):
        history = play(stage, NAME, service, lambda script: _faults(script, service))
        return judge(stage, NAME, history, dsn, env)


def _faults(script: Script, service: ServiceProcess) -> None:
    """Alternate: one worker (the server replaces it), then the whole service (restarted)."""
    script.sleep_until(script.rng.uniform(1.0, 2.0))
    turn = 0
    while script.now() < script.seconds - 2:
        if turn % 2 == 0:
            with script.fault("SIGKILL of one API worker") as fault:
                pid = kill_worker(service, script.rng.randrange(service.workers))
                wait_until(
                    functools.partial(workers_back, service, pid),
                    30,
                    "the killed worker replaced",
                )
                script.recovered(fault)
        else:
            with script.fault("SIGKILL of the whole service") as fault:
                kill_service(service)
                service.start()  # what a supervisor (systemd, compose) does
                script.recovered(fault)
        turn += 1
        script.sleep_until(script.now() + script.rng.uniform(1.0, 2.5))


DRILLS = (Drill(1, NAME, "SIGKILL of an API worker and of the whole service, mid-load", run),)
