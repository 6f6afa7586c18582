"""The default path, as a new user runs it: no DATABASE_URL, the private PostgreSQL in the data
folder, shared by `escrowgrid serve` and the commands run beside it in other processes."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from escrowgrid.embedded_pg import EmbeddedPostgres
from tests.support.server import CLI, REPO, ServerProcess, default_path_env, run_cli

COMMANDS = (
    ("projections", "status"),
    ("projections", "rebuild"),
    ("verify",),
    ("db", "migrate"),
)


def private_cluster(data_dir: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(data_dir / "postgres")


def wait_until(check: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not reached in {timeout}s")


def assert_service_works(server: ServerProcess, data_dir: Path) -> None:
    ready = httpx.get(server.url + "/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    key = (data_dir / "root-api-key").read_text().strip()
    created = httpx.post(
        server.url + "/institutions",
        json={"name": "Default path", "regions": ["EU_UK"]},
        headers={"X-API-KEY": key},
        timeout=10,
    )
    assert created.status_code == 201, created.text


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    cluster = private_cluster(folder)
    if cluster.initialised and cluster.is_running():  # a failed test must not leave it behind
        cluster.stop()


def start_serve(data_dir: Path, log: Path) -> ServerProcess:
    return ServerProcess(default_path_env(data_dir), log, inherit_env=False).start(timeout=120)


def test_commands_beside_serve_leave_its_database_running(data_dir: Path, tmp_path: Path) -> None:
    env = default_path_env(data_dir)
    server = start_serve(data_dir, tmp_path / "serve.log")
    try:
        for args in COMMANDS:
            done = run_cli(env, *args)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            assert_service_works(server, data_dir)
        assert private_cluster(data_dir).is_running()
    finally:
        assert server.stop() == 0, server.output()
    assert f"escrowgrid: listening on http://localhost:{server.port}" in server.output()
    assert not private_cluster(data_dir).is_running(), "serve was its last user: it stops it"


def test_a_command_alone_starts_and_stops_its_own_cluster(data_dir: Path) -> None:
    env = default_path_env(data_dir)
    for args in (("db", "migrate"), ("projections", "status")):
        done = run_cli(env, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert not private_cluster(data_dir).is_running(), args


def test_serve_keeps_the_cluster_a_command_started(data_dir: Path, tmp_path: Path) -> None:
    env = default_path_env(data_dir)
    runner = subprocess.Popen(
        [*CLI, "projections", "run"], env=env, cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: private_cluster(data_dir).initialised, timeout=120)
        wait_until(private_cluster(data_dir).is_running, timeout=120)
        server = start_serve(data_dir, tmp_path / "serve.log")
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(60)
    try:
        assert_service_works(server, data_dir)
    finally:
        assert server.stop() == 0, server.output()
    assert not private_cluster(data_dir).is_running()


def test_two_commands_starting_the_cluster_at_once_both_succeed(data_dir: Path) -> None:
    env = default_path_env(data_dir)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    procs = [
        subprocess.Popen([*CLI, "db", "migrate"], env=env, cwd=REPO, text=True, **pipes)
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=180) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert not private_cluster(data_dir).is_running()


def test_a_cluster_started_by_hand_is_left_running(data_dir: Path) -> None:
    cluster = private_cluster(data_dir)
    cluster.start()
    done = run_cli(default_path_env(data_dir), "db", "migrate")
    assert done.returncode == 0, done.stderr
    assert cluster.is_running(), "escrowgrid did not start it, so it does not stop it"
