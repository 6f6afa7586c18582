"""`escrowgrid bench floor`: its refusals, and a short real run of every case."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(
    *args: str, data: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"ESCROWGRID_DATA_DIR": str(data)} if data else {})}
    return subprocess.run(
        [sys.executable, "-m", "escrowgrid.cli", "bench", "floor", *args],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )  # fmt: skip


def test_counts_below_one_stop_before_anything_starts(tmp_path: Path) -> None:
    for args, message in [
        (["--rounds", "0"], "--rounds must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--concurrency", "-3"], "--concurrency must be at least 1"),
        (["--seconds", "0"], "--seconds must be more than 0"),
        (["--seconds", "nan"], "--seconds must be more than 0"),
    ]:
        done = cli(*args, data=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr
        assert not (tmp_path / "bench").exists()  # no database was started
    done = cli("--rounds", "x", data=tmp_path)
    assert done.returncode == 2
    assert "invalid int value" in done.stderr


def test_a_short_run_answers_every_case_and_counts_the_query_in_postgres(tmp_path: Path) -> None:
    done = cli("--seconds", "1", "--rounds", "1", "--workers", "1", "--concurrency", "4",
               data=tmp_path, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {
        cells[0]: cells[1:]
        for line in done.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| case")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert list(rows) == ["asgi", "litestar-get", "litestar-post", "litestar-post-query"]
    for case, (rate, _p99, errors, service_ms, _postgres_ms) in rows.items():
        assert float(rate.replace(",", "")) > 0, case
        assert errors == "0", case
        assert float(service_ms) > 0, case
    # Only the query case gives PostgreSQL work to do.
    assert float(rows["litestar-post-query"][4]) > 10 * float(rows["litestar-post"][4])
    assert "workers: 1; concurrency: 4; 1 rounds" in done.stdout
