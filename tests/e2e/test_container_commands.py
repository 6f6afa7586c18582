"""Every container command of docker-compose.yml run outside a container, as the compose file
and Dockerfile give it (tests/support/stack.py), then the seed document's verification steps
against it, and a graceful stop with requests in flight."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from tests.support.api import Api
from tests.support.deploy import REPO
from tests.support.server import assert_clean_stop
from tests.support.stack import Image, Stack

CHECKLIST: list[str] = []


@pytest.fixture(scope="module")
def stack(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # As a .env would: the load test posts more than the default 1000 requests a minute.
    dotenv = {"RATE_LIMIT_MAX_REQUESTS": "100000"}
    running = Stack(tmp_path_factory.mktemp("stack"), image, dotenv).up()
    yield running
    running.down()
    report = tmp_path_factory.getbasetemp() / "deployment-checklist.txt"
    report.write_text("\n".join(CHECKLIST) + "\n")
    print("\n" + "\n".join(CHECKLIST))


def check(line: str) -> None:
    CHECKLIST.append(line)


def root_key(stack: Stack) -> str:
    return str(stack.compose["services"]["api"]["environment"]["ROOT_API_KEY"])


def test_the_image_carries_migrations_and_no_checkout(image: Image) -> None:
    site = next((image.venv / "lib").glob("python3*/site-packages"))
    assert sorted(p.name for p in (site / "escrowgrid" / "db_migrations").glob("*.sql"))
    assert not (site / "escrowgrid.egg-link").exists()
    direct = json.loads(next(site.glob("escrowgrid-*.dist-info")).joinpath("direct_url.json")
                        .read_text()) if next(site.glob("escrowgrid-*.dist-info")).joinpath(
                        "direct_url.json").exists() else {}  # fmt: skip
    assert "dir_info" not in direct or not direct["dir_info"].get("editable")


def test_services_run_and_the_seed_verification_passes(stack: Stack) -> None:
    ps = {name: "running" if s.proc.poll() is None else f"exited {s.proc.returncode}"
          for name, s in stack.services.items()}  # fmt: skip
    check(f"$ docker compose ps  (outside containers: the processes)  {ps}")
    assert ps == {"migrate": "exited 0", "projector": "running", "api": "running"}
    check(f"[x] migrate: {stack.services['migrate'].output().strip().splitlines()[-1]}")

    health = httpx.get(stack.url + "/health", timeout=5)
    check(f"$ curl {stack.url}/health -> {health.status_code} {health.text}")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": "taas-platform", "storeBackend": "postgres"}
    ready = httpx.get(stack.url + "/ready", timeout=5)
    check(f"$ curl {stack.url}/ready -> {ready.status_code} {ready.text}")
    assert ready.status_code == 200 and ready.json()["ok"] is True

    probe = stack.healthcheck("api")
    check(f"[x] api health check (compose test command): exit {probe.returncode}")
    assert probe.returncode == 0, probe.stderr
    probe = stack.healthcheck("db")
    check(f"[x] db health check (pg_isready): {probe.stdout.strip()}")
    assert probe.returncode == 0

    url = stack.db.url()
    dt = subprocess.run(["psql", "-X", url, "-c", r"\dt"], capture_output=True, text=True,
                        timeout=30)  # fmt: skip
    check(f'$ psql "{url}" -c "\\dt"\n{dt.stdout.rstrip()}')
    assert dt.returncode == 0, dt.stderr
    for table in ("events", "schema_migrations", "positions", "institutions"):
        assert re.search(rf"\|\s+{table}\s+\|", dt.stdout), table

    env = stack.environment("api")
    check(f"[x] environment: NODE_ENV={env['NODE_ENV']} STORE_BACKEND={env['STORE_BACKEND']} "
          f"PROJECTIONS_INLINE={env['PROJECTIONS_INLINE']} RATE_LIMIT_ENABLED="
          f"{env['RATE_LIMIT_ENABLED']}")  # fmt: skip


def test_writes_are_projected_by_the_projector_service(stack: Stack) -> None:
    api = Api(stack.url, root_key(stack))
    world = api.world()
    admin: Api = world["admin"]
    position = admin.position(world["asset"]["id"])
    admin.ok(admin.move(position["id"], "FUNDED"))
    # The API runs no runner (PROJECTIONS_INLINE=false): the read answers from the projector's work.
    assert admin.ok(admin.get(f"/positions/{position['id']}"))["state"] == "FUNDED"
    check("[x] write through the API, read back: projected by the projector service")


def test_the_scrape_sees_every_figure_the_alerts_and_dashboard_use(stack: Stack) -> None:
    scrape = httpx.get(
        stack.url + "/metrics/prometheus",
        headers={"Authorization": f"Bearer {root_key(stack)}"},
        timeout=10,
    )
    assert scrape.status_code == 200, scrape.text
    text = scrape.text
    assert re.search(r"^escrowgrid_database_ready 1\.0$", text, re.M), text[-2000:]
    assert re.search(r'^escrowgrid_projection_lag_seconds\{projection="positions"\}', text, re.M)
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    queries = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads((REPO / "deploy/grafana/escrowgrid-dashboard.json").read_text())
    queries += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    names = {n for q in queries for n in re.findall(r"\b([a-z_]+)(?=\{|\[)", q)}
    names -= {"up", "escrowgrid_onchain_failed_total"}  # Prometheus's; the publisher's
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert names <= exposed, names - exposed
    check(f"[x] /metrics/prometheus with the bearer root key: {sorted(names)} exposed")


def _client_load(
    url: str, key: str, asset: str, stop: threading.Event, out: dict[str, Any]
) -> None:
    with httpx.Client(base_url=url, headers={"X-API-KEY": key, "Connection": "close"},
                      timeout=30) as client:  # fmt: skip
        while not stop.is_set():
            body = {"assetId": asset, "holderReference": "h", "currency": "USD", "amount": "5"}
            sent = time.monotonic()
            try:
                response = client.post("/positions", json=body)
            except httpx.ConnectError:
                out["refused"] += 1  # the listener is closed: not in flight, nothing lost
                time.sleep(0.01)
                continue
            except httpx.HTTPError as exc:
                out["broken"].append((sent, repr(exc)))
                continue
            if response.status_code == 201:
                out["created"].append((response.json()["id"], sent, time.monotonic()))
            else:
                out["other"].append((response.status_code, response.text[:200]))


def test_sigterm_drains_requests_in_flight_and_stops_within_the_grace_period(
    stack: Stack,
) -> None:
    api = Api(stack.url, root_key(stack))
    world = api.world()
    admin_key, asset = world["admin_key"], world["asset"]["id"]
    out: dict[str, Any] = {"created": [], "refused": 0, "broken": [], "other": []}
    stop = threading.Event()
    workers = [threading.Thread(target=_client_load, args=(stack.url, admin_key, asset, stop, out))
               for _ in range(12)]  # fmt: skip
    for worker in workers:
        worker.start()
    time.sleep(3)
    grace = _seconds(stack.compose["services"]["api"]["stop_grace_period"])
    assert stack.compose["services"]["api"]["stop_signal"] == "SIGTERM"
    api_proc = stack.services["api"].proc
    before = len(out["created"])
    signalled = time.monotonic()
    api_proc.send_signal(signal.SIGTERM)  # docker stop: the signal to PID 1 only
    term_at = signalled
    api_code = api_proc.wait(grace)
    api_seconds = time.monotonic() - signalled
    projector = stack.services["projector"].proc
    projector.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    projector_code = projector.wait(_seconds(stack.compose["services"]["projector"]
                                             ["stop_grace_period"]))  # fmt: skip
    projector_seconds = time.monotonic() - signalled
    stop.set()
    for worker in workers:
        worker.join(30)
    log = stack.services["api"].output()
    assert before > 0
    in_flight = sum(1 for _, sent, done in out["created"] if sent < term_at < done)
    assert in_flight > 0, "no request was in flight at SIGTERM: the test proves nothing"
    # No request is cut off or left unanswered, in flight at SIGTERM or sent after it: the API
    # turns new connections away (they are refused once it exits) and answers every one it took
    # (escrowgrid/draining_server.py).
    assert out["broken"] == [], out["broken"][:5]
    assert out["other"] == [], out["other"][:5]
    assert api_code == 0, log[-3000:]
    assert projector_code == 0, stack.services["projector"].output()[-3000:]
    assert_clean_stop(log)
    # Nothing lost: every 201 is in the database, and nothing committed went unanswered.
    with psycopg.connect(stack.db.url()) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM events WHERE topic LIKE %s AND tenant_id = %s",
            ("%Position.Created", world["institution"]["id"]),
        ).fetchone()
    assert rows is not None and rows[0] == len(out["created"])
    check(f"[x] SIGTERM with 12 clients posting: api exited {api_code} in {api_seconds:.1f}s, "
          f"projector exited {projector_code} in {projector_seconds:.1f}s (grace {grace:.0f}s); "
          f"{len(out['created'])} answered 201 = {rows[0]} in the log, "
          f"{in_flight} of them in flight at SIGTERM; none reset or unanswered; "
          f"{out['refused']} refused after the listener closed")  # fmt: skip


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)s", text)
    assert match, text
    return float(match.group(1))


def test_checklist_written(tmp_path: Path) -> None:
    assert CHECKLIST
