"""Drills 1-4 in their short form: real service, real PostgreSQL, real kills, checked history.

Each round fails on any lost or duplicated command, any 5xx but a 503 with Retry-After, a read
model that differs from a rebuild, a broken lifecycle, or `escrowgrid verify` failing.
Replay a failure: `escrowgrid drill --seed <seed> --only <drill> --seconds <s>`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from escrowgrid.database import CHECKOUT_TIMEOUT_S
from escrowgrid.drill import chain
from escrowgrid.drill.registry import select
from escrowgrid.drill.report import Figures, row
from escrowgrid.drill.stage import Stage
from tests.faults.conftest import SEED


def _play(name: str, stage: Stage) -> Figures:
    (drill,) = select([name])
    figures = drill.run(stage)
    shown = f"seed {SEED}: {row(figures)}\n" + "\n".join(figures.violations)
    assert figures.violations == [], shown
    assert figures.acknowledged > 0 and figures.lost == 0 and figures.duplicated == 0, shown
    return figures


def test_sigkill_of_a_worker_and_of_the_whole_service(stage: Callable[[float], Stage]) -> None:
    figures = _play("process-kill", stage(9))
    assert figures.fault_kinds["SIGKILL of one API worker"] >= 1
    assert figures.fault_kinds["SIGKILL of the whole service"] >= 1
    assert figures.answers.get("reset", 0) + figures.answers.get("refused", 0) > 0


def test_postgresql_fast_restart_and_crash_stop(stage: Callable[[float], Stage]) -> None:
    figures = _play("database-restart", stage(10))
    assert figures.fault_kinds["PostgreSQL fast restart"] >= 1
    assert figures.fault_kinds["PostgreSQL immediate stop (crash)"] >= 1
    assert figures.answers.get("503", 0) > 0  # the service said so while the database was away


@pytest.mark.skipif(chain.available() is not None, reason=str(chain.available()))
def test_sigkill_of_the_projection_runner_and_the_publisher(
    stage: Callable[[float], Stage],
) -> None:
    figures = _play("follower-kill", stage(12))
    assert figures.fault_kinds["SIGKILL of the projection runner"] >= 1
    assert figures.fault_kinds["SIGKILL of the on-chain publisher"] >= 1
    assert figures.faults >= 3


def test_connection_slots_taken_by_other_clients(stage: Callable[[float], Stage]) -> None:
    figures = _play("connection-exhaustion", stage(10))
    assert figures.faults >= 1
    assert figures.answers.get("503", 0) > 0
    assert figures.slowest_s < CHECKOUT_TIMEOUT_S + 3  # the pool's timeout, then 503
