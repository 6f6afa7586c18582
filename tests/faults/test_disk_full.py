"""Drill 7: the database's volume fills up under load, then space returns.

The drill database lives in a tablespace on a small tmpfs mounted for this test only (root is
needed to mount it), inside the tests' own temporary cluster: filling it touches no other
database and not the WAL. Longer with ESCROWGRID_DRILL_DISK_FULL_SECONDS.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from escrowgrid.drill.checker import Verdict, check
from escrowgrid.drill.disk import (
    RECOVER_BOUND_S,
    VOLUME_MB,
    DiskConfig,
    DiskFigures,
    database_on_volume,
    run_disk_full,
    small_volume,
    unavailable,
)
from escrowgrid.embedded_pg import SYSTEM_USER
from tests.conftest import ROOT_KEY
from tests.support.cluster import TEMPLATE_DB, PgCluster, scratch_dir
from tests.support.server import ServerProcess

FULL_SECONDS = float(os.environ.get("ESCROWGRID_DRILL_DISK_FULL_SECONDS", "8"))
SEED = int(os.environ.get("ESCROWGRID_DRILL_SEED", "16"))
CONFIG = DiskConfig(seed=SEED, full_s=FULL_SECONDS)

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture(scope="module")
def served_on_volume(
    cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Path, dict[str, str]]]:
    """The service on a database whose every table lives on a small volume of its own."""
    holder = scratch_dir("escrowgrid-drill-volume-")
    holder.chmod(0o711)  # the server user reaches the volume through it
    server_user = pwd.getpwnam(SYSTEM_USER)
    folder = tmp_path_factory.mktemp("disk")
    with (
        small_volume(
            holder / "volume", VOLUME_MB, (server_user.pw_uid, server_user.pw_gid)
        ) as volume,
        database_on_volume(cluster.pg.admin_dsn(), volume, TEMPLATE_DB, "escrowgrid") as name,
    ):
        env = {
            "DATABASE_URL": cluster.dsn(name),
            "ROOT_API_KEY": ROOT_KEY,
            "ESCROWGRID_DATA_DIR": str(folder / "data"),
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "warning",
        }
        proc = ServerProcess(env, folder / "server.log").start()
        try:
            yield proc, volume, env
        finally:
            proc.stop()
    holder.rmdir()


@pytest.fixture(scope="module")
def judged(
    served_on_volume: tuple[ServerProcess, Path, dict[str, str]],
) -> tuple[DiskFigures, Verdict]:
    """The drill's figures and the core checker's verdict on the honest clients' history."""
    proc, volume, env = served_on_volume
    result, history = run_disk_full(proc.url, ROOT_KEY, volume, CONFIG)
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    verdict = check(history, env["DATABASE_URL"], {**os.environ, **env})
    print(verdict)
    return result, verdict


@pytest.fixture(scope="module")
def figures(judged: tuple[DiskFigures, Verdict]) -> DiskFigures:
    return judged[0]


def test_a_full_volume_is_a_503_with_retry_after_and_no_other_error(figures: DiskFigures) -> None:
    assert figures.ballast_mib > 0, figures
    assert figures.statuses["full"].get("503", 0) > 0, figures
    assert set(figures.statuses["full"]) <= {"200", "201", "503"}, figures
    assert figures.unavailable_without_retry_after == 0, figures
    assert (figures.server_errors, figures.non_json_answers) == (0, 0), figures


def test_nothing_acknowledged_is_lost_or_doubled(judged: tuple[DiskFigures, Verdict]) -> None:
    figures, verdict = judged
    assert figures.acknowledged > 0, figures
    assert verdict.acknowledged == figures.acknowledged, verdict
    assert (verdict.lost, verdict.duplicated) == (0, 0), verdict


def test_the_service_recovers_when_space_returns(figures: DiskFigures) -> None:
    assert figures.recover_s < RECOVER_BOUND_S, figures
    assert set(figures.statuses["after"]) <= {"200", "201", "503"}, figures
    assert figures.statuses["after"].get("201", 0) > 0, figures


def test_the_log_and_the_read_models_verify_afterwards(
    judged: tuple[DiskFigures, Verdict],
) -> None:
    # The core checker ran `escrowgrid verify` and replayed every position's lifecycle.
    _, verdict = judged
    assert verdict.violations == [], verdict
