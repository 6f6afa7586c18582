"""The service as a user runs it: one process, real HTTP, real PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import ROOT_KEY
from tests.support.cluster import PgCluster
from tests.support.server import REPO, ServerProcess


def _log_lines(proc: ServerProcess) -> list[dict[str, object]]:
    lines = []
    for line in proc.output().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_health_and_request_id(server: ServerProcess) -> None:
    r = httpx.get(server.url + "/health", headers={"X-Request-Id": "e2e-req-1"})
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "service": "taas-platform", "storeBackend": "postgres"}
    assert r.headers["x-request-id"] == "e2e-req-1"
    generated = httpx.get(server.url + "/health").headers["x-request-id"]
    assert len(generated) == 36
    r = httpx.get(server.url + "/ready", headers={"X-Correlation-Id": "corr-9"})
    assert r.status_code == 200 and r.json()["db"] == {"ok": True}
    assert r.headers["x-request-id"] == "corr-9"


def test_unknown_route_and_wrong_method_are_json(server: ServerProcess) -> None:
    key = {"X-API-KEY": ROOT_KEY}
    r = httpx.get(server.url + "/no/such/route", headers=key)
    assert r.status_code == 404 and r.json() == {"error": "Not found"}
    assert "x-request-id" in r.headers
    # Without a key the answer does not reveal which routes exist.
    r = httpx.get(server.url + "/no/such/route")
    assert r.status_code == 401 and "x-request-id" in r.headers
    r = httpx.delete(server.url + "/health")
    assert r.status_code == 405 and r.json()["error"] == "Method not allowed"


def test_one_json_log_line_per_request_without_secrets(cluster: PgCluster, tmp_path: Path) -> None:
    name = cluster.new_database()
    secret_pw = "pw-must-not-leak-7731"
    url = f"postgresql://escrowgrid:{secret_pw}@/{name}?host={cluster.pg.socket_dir}"
    proc = ServerProcess(
        {"DATABASE_URL": url, "ROOT_API_KEY": ROOT_KEY, "ESCROWGRID_DATA_DIR": str(tmp_path)},
        tmp_path / "server.log",
    ).start()
    try:
        httpx.get(
            proc.url + "/health", headers={"X-Request-Id": "log-check-1", "X-API-KEY": ROOT_KEY}
        )
        time.sleep(0.3)
    finally:
        proc.stop()
        cluster.drop_database(name)
    entries = [e for e in _log_lines(proc) if e.get("type") == "request"]
    mine = [e for e in entries if e["requestId"] == "log-check-1"]
    assert len(mine) == 1
    entry = mine[0]
    for key in (
        "type",
        "method",
        "path",
        "status",
        "durationMs",
        "requestId",
        "apiKeyId",
        "institutionId",
    ):
        assert key in entry
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/health", 200)
    text = proc.output()
    assert secret_pw not in text
    assert ROOT_KEY not in text


def test_ready_follows_the_database_down_and_up(tmp_path: Path) -> None:
    own = PgCluster.start("escrowgrid-ready-")
    try:
        own.prepare_template()
        name = own.new_database()
        proc = ServerProcess(
            {
                "DATABASE_URL": own.dsn(name),
                "ROOT_API_KEY": ROOT_KEY,
                "ESCROWGRID_DATA_DIR": str(tmp_path),
            },
            tmp_path / "server.log",
        ).start()
        try:
            assert httpx.get(proc.url + "/ready").status_code == 200
            own.pg.stop()
            r = httpx.get(proc.url + "/ready", timeout=10)
            assert r.status_code == 503
            body = r.json()
            assert body["ok"] is False and body["storeBackend"] == "postgres"
            assert body["db"]["ok"] is False and body["db"]["error"]
            assert httpx.get(proc.url + "/health").status_code == 200
            own.pg.start()
            deadline = time.monotonic() + 20
            status = 0
            while time.monotonic() < deadline:
                status = httpx.get(proc.url + "/ready", timeout=10).status_code
                if status == 200:
                    break
                time.sleep(0.2)
            assert status == 200
        finally:
            proc.stop()
    finally:
        own.stop()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"STORE_BACKEND": "mongo"}, "STORE_BACKEND"),
        ({"RATE_LIMIT_MAX_REQUESTS": "-1"}, "RATE_LIMIT_MAX_REQUESTS"),
        ({"STORE_BACKEND": "postgres"}, "DATABASE_URL"),
    ],
)
def test_bad_configuration_stops_the_start_with_one_line(
    env: dict[str, str], variable: str, tmp_path: Path
) -> None:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "STORE_BACKEND", "PORT"}
    }
    result = subprocess.run(
        [sys.executable, "-m", "escrowgrid.cli", "serve"],
        env={**clean, "ESCROWGRID_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and "accepted" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "postgres").exists()


def _no_db_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": "",
        "ROOT_API_KEY": "",
        "STORE_BACKEND": "",
        "ESCROWGRID_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }


def test_embedded_default_keeps_data_and_root_key_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ServerProcess(_no_db_env(tmp_path), tmp_path / "first.log").start(timeout=120)
    key_file = data / "root-api-key"
    try:
        assert httpx.get(first.url + "/ready").json()["ok"] is True
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 32
        assert key not in first.output()
        assert str(key_file) in first.output()
        socket_dir = data / "postgres" / "run"
        with psycopg.connect(f"postgresql://escrowgrid@/escrowgrid?host={socket_dir}") as conn:
            conn.execute("CREATE TABLE restart_marker (note text)")
            conn.execute("INSERT INTO restart_marker VALUES ('kept')")
    finally:
        assert first.stop() == 0
    pgdata = data / "postgres" / "pgdata"
    assert not (pgdata / "postmaster.pid").exists(), "Ctrl-C must stop the private PostgreSQL"
    second = ServerProcess(_no_db_env(tmp_path), tmp_path / "second.log").start(timeout=120)
    try:
        with psycopg.connect(f"postgresql://escrowgrid@/escrowgrid?host={socket_dir}") as conn:
            assert conn.execute("SELECT note FROM restart_marker").fetchone() == ("kept",)
        assert key_file.read_text().strip() == key
    finally:
        assert second.stop() == 0
    assert not (pgdata / "postmaster.pid").exists()


def test_memory_backend_is_thrown_away_at_exit(tmp_path: Path) -> None:
    proc = ServerProcess(_no_db_env(tmp_path, STORE_BACKEND="memory"), tmp_path / "mem.log").start(
        timeout=120
    )
    try:
        assert httpx.get(proc.url + "/health").json()["storeBackend"] == "memory"
        assert httpx.get(proc.url + "/ready").json()["storeBackend"] == "memory"
    finally:
        assert proc.stop() == 0
    started = [e for e in _log_lines(proc) if e.get("message") == "starting throw-away PostgreSQL"]
    assert len(started) == 1
    cluster_dir = Path(str(started[0]["dataDir"]))
    assert not cluster_dir.exists()
    assert not (tmp_path / "data" / "postgres").exists()
