"""`escrowgrid bench http --against REF|URL`: its arguments, and a short real A/B."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from escrowgrid.bench.ab import Against, AgainstError, parse_against, run_ab
from escrowgrid.bench.http import HttpBenchConfig
from tests.conftest import ROOT_KEY
from tests.support.server import ServerProcess


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENCH_AGAINST_ROOT_KEY": ""}
    return subprocess.run(
        [sys.executable, "-m", "escrowgrid.cli", "bench", "http", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_a_url_needs_its_root_key_and_a_base_url() -> None:
    with pytest.raises(AgainstError, match="root API key"):
        parse_against("http://127.0.0.1:4000")
    with pytest.raises(AgainstError, match="only http://"):
        parse_against("https://example.test", root_key="k")
    with pytest.raises(AgainstError, match="base URL"):
        parse_against("http://127.0.0.1:4000/positions", root_key="k")
    assert parse_against("http://127.0.0.1:4000/", root_key="k") == Against(
        host="127.0.0.1", port=4000, root_key="k"
    )


def test_a_ref_must_name_a_commit_of_this_repository() -> None:
    assert parse_against("HEAD") == Against(ref="HEAD")
    with pytest.raises(AgainstError, match="neither an http:// URL nor a git ref"):
        parse_against("no-such-branch-anywhere")
    with pytest.raises(AgainstError, match="not a git ref"):
        parse_against("--upload-pack=x")


def test_bad_arguments_stop_before_anything_starts() -> None:
    for args, message in [
        (["--against", "http://127.0.0.1:1"], "root API key"),
        (["--against", "no-such-branch-anywhere"], "neither an http:// URL"),
        (["--against", "HEAD", "--rounds", "0"], "--rounds must be at least 1"),
        (["--against", "HEAD", "--pg-stats"], "no --pg-stats"),
        (
            ["--against", "http://127.0.0.1:1", "--against-root-key", "k", "--runner", "separate"],
            "needs --against REF",
        ),
    ]:
        done = cli(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr


def test_a_short_ab_against_a_running_server(api_server: ServerProcess, tmp_path: Path) -> None:
    """A = the test server by its URL, B = this checkout served on a fresh database."""
    config = HttpBenchConfig(seconds=0.6, concurrency=2, workers=1)
    against = parse_against(api_server.url, root_key=ROOT_KEY)
    text = run_ab(config, against, 1, tmp_path)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()}
    assert "A1" in rows and "B1" in rows, text
    assert all(f"| {name} |" in text for name in ("creates/s", "moves/s", "reads/s")), text
    for line in text.splitlines():
        if line.startswith(("| creates/s", "| moves/s", "| reads/s")):
            a, b, ratio = (cell.strip() for cell in line.strip("|").split("|")[1:])
            assert float(a.replace(",", "")) > 0 and float(b.replace(",", "")) > 0, line
            assert ratio.endswith("x"), line
    assert f"A = http://127.0.0.1:{api_server.port}" in text
    non_2xx = next(line for line in text.splitlines() if line.startswith("| non-2xx"))
    assert non_2xx.split("|")[2].strip() == "0.0" and non_2xx.split("|")[3].strip() == "0.0"


def test_a_short_ab_against_a_ref_with_the_runner_in_its_own_process(tmp_path: Path) -> None:
    """Both sides served from their trees with `escrowgrid projections run` beside `serve`
    (without it the seeding fails: keys are issued to institutions the read model shows)."""
    config = HttpBenchConfig(seconds=0.6, concurrency=2, workers=1, runner="separate")
    text = run_ab(config, parse_against("HEAD"), 1, tmp_path)
    assert "projection runner: separate" in text, text
    lag = next(line for line in text.splitlines() if line.startswith("| projection lag p99"))
    a, b = (float(cell.strip().replace(",", "")) for cell in lag.strip("|").split("|")[1:3])
    assert 0 <= a < 5000 and 0 <= b < 5000, lag
    non_2xx = next(line for line in text.splitlines() if line.startswith("| non-2xx"))
    assert non_2xx.split("|")[2].strip() == "0.0" and non_2xx.split("|")[3].strip() == "0.0"
