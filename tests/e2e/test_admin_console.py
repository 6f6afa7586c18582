"""The admin console in Debian's Chromium against a real `escrowgrid serve` (admin-console/e2e).

Every screen, cross-checked through the REST API by the scenario itself, a real lost race included
(the scenario asks this test to hold the appender's lock: tests/support/lost_race.py); then one
stored event is altered in PostgreSQL behind the immutability trigger and the timeline must show
which one broke.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.cluster import PgCluster, served_database
from tests.support.lost_race import LostRace
from tests.support.server import REPO, ServerProcess

CONSOLE = REPO / "admin-console"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ROOT_KEY = "console-root-key-0123456789abcdef"
# Screenshots go to a scratch folder; `CONSOLE_SHOTS_DIR=docs/console` refreshes the docs' own.
# Resolved here: node runs in admin-console/, where a relative folder would land otherwise.
SHOTS = Path(
    os.environ.get("CONSOLE_SHOTS_DIR", Path(tempfile.gettempdir()) / "escrowgrid-console-shots")
).resolve()

pytestmark = pytest.mark.skipif(
    not (CONSOLE / "node_modules").is_dir()
    or not (CONSOLE / "dist" / "index.html").is_file()
    or not CHROMIUM.exists()
    or shutil.which("node") is None,
    reason="needs admin-console built (npm ci && npm run build), node and /usr/bin/chromium:"
    " tests/run.sh prepares them",
)


@pytest.fixture(scope="module")
def console_server(
    cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    with served_database(cluster, tmp_path_factory.mktemp("console"), ROOT_KEY) as (proc, name):
        yield proc, cluster.pg.admin_dsn(name)


def _node(script: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["node", f"e2e/{script}"],
        cwd=CONSOLE,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _node_answering(script: str, env: dict[str, str], race: LostRace, log: Path) -> None:
    """Run a scenario that asks for the lost race (asker in admin-console/e2e/browser.mjs)."""
    with log.open("w") as errors:
        proc = subprocess.Popen(
            ["node", f"e2e/{script}"],
            cwd=CONSOLE,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        watchdog = threading.Timer(600, proc.kill)
        watchdog.start()
        out: list[str] = []
        try:
            assert proc.stdin is not None and proc.stdout is not None
            for line in proc.stdout:
                out.append(line)
                ask = json.loads(line) if line.startswith('{"ask"') else None
                if ask is None:
                    continue
                answer: dict[str, object] = {}
                if ask["ask"] == "hold":
                    race.hold(ask["url"], ask["key"], ask["body"])
                elif ask["ask"] == "let-go":
                    moved = race.let_go()
                    answer = {
                        "status": moved.status_code,
                        "requestId": moved.headers["x-request-id"],
                    }
                proc.stdin.write(json.dumps(answer) + "\n")
                proc.stdin.flush()
            proc.stdin.close()
            code = proc.wait()
        finally:
            watchdog.cancel()
            proc.kill()
            race.close()
    assert code == 0, f"{script} failed:\n{''.join(out)}\n{log.read_text()}"


def _refusal(superuser_dsn: str, request_id: str) -> tuple[object, ...]:
    """The audit trail's row for a refused request (written in batches, after the answer)."""
    deadline = time.monotonic() + 10
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT status, action, error_code FROM command_refusals WHERE request_id = %s",
                (request_id,),
            ).fetchone()
            if row is not None or time.monotonic() > deadline:
                assert row is not None, f"no refusal recorded for request {request_id}"
                return tuple(row)
            time.sleep(0.1)


def test_every_screen_then_a_tampered_event(
    console_server: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, superuser_dsn = console_server
    env = {
        "CONSOLE_URL": server.url + "/console/",
        "API_URL": server.url,
        "ROOT_KEY": ROOT_KEY,
        "SHOTS_DIR": str(SHOTS),
        "OUT": str(tmp_path / "report.json"),
    }
    _node_answering("console.mjs", env, LostRace(superuser_dsn), tmp_path / "console.stderr")
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["axe"]) >= {"sign-in", "institutions", "positions", "position", "ledger"}
    position_id = report["positionId"]

    # The lost race was the server's: its 409 is in the audit trail, the winner's event in the log.
    race = report["conflict"]
    assert _refusal(superuser_dsn, race["requestId"]) == (409, "position.move", "conflict")
    events = httpx.get(
        f"{server.url}/positions/{position_id}/history", headers={"X-API-KEY": ROOT_KEY}
    ).json()["events"]
    assert events[3]["meta"]["requestId"] == race["competingRequestId"]

    # Alter version 3 (the partial release) as the superuser, past the no-update trigger.
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        changed = conn.execute(
            "UPDATE events SET state = convert_to('{\"tampered\":true}', 'UTF8')"
            " WHERE stream_id = %s AND version = 3",
            (position_id,),
        ).rowcount
    assert changed == 1
    # The service's own check agrees with the browser's.
    history = httpx.get(
        f"{server.url}/positions/{position_id}/history", headers={"X-API-KEY": ROOT_KEY}
    ).json()
    assert history["chain"]["valid"] is False
    out = _node("tampered.mjs", {**env, "POSITION_ID": position_id, "BROKEN_VERSION": "3"})
    assert json.loads(out.strip().splitlines()[-1])["verdicts"][2] == "broken"
