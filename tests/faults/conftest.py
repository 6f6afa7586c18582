"""The fault tier's own PostgreSQL: the drills stop, crash and fill it (not the session's)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from escrowgrid.drill.cluster import DrillCluster
from escrowgrid.drill.stage import Stage

# Fixed, so CI is repeatable; ESCROWGRID_DRILL_SEED replays another run's seed.
SEED = int(os.environ.get("ESCROWGRID_DRILL_SEED", "16"))


@pytest.fixture(scope="package")
def drill_cluster() -> Iterator[DrillCluster]:
    cluster = DrillCluster().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def stage(drill_cluster: DrillCluster, tmp_path: Path) -> Callable[[float], Stage]:
    def make(seconds: float) -> Stage:
        return Stage(SEED, 1, seconds, tmp_path, drill_cluster, secrets.token_urlsafe(24))

    return make
