"""While PostgreSQL is down every request that needs it is a JSON 503 with Retry-After, whichever
layer meets the outage first: the key lookup (admin key), a route's connection (root key, which
needs no lookup), a command's append. Never a 500; /health stays 200; all 2xx again after."""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
from pathlib import Path

import httpx

from escrowgrid.drill.checker import wait_caught_up
from escrowgrid.drill.cluster import DrillCluster
from escrowgrid.drill.faults import ready, wait_until
from escrowgrid.drill.processes import ServiceProcess


def test_every_layer_answers_503_with_retry_after_while_the_database_is_down(
    drill_cluster: DrillCluster, tmp_path: Path
) -> None:
    root_key = secrets.token_urlsafe(24)
    dsn = drill_cluster.new_database()
    env = {"DATABASE_URL": dsn, "ROOT_API_KEY": root_key, "RATE_LIMIT_ENABLED": "false"}
    service = ServiceProcess(
        {**os.environ, **env, "ESCROWGRID_DATA_DIR": str(tmp_path)},
        tmp_path / "serve.log",
    ).start()
    try:
        root = httpx.Client(base_url=service.url, headers={"X-API-KEY": root_key}, timeout=30)
        inst = root.post("/institutions", json={"name": "Away", "regions": ["US"]}).json()
        key = root.post(
            f"/institutions/{inst['id']}/api-keys", json={"label": "a", "role": "admin"}
        ).json()["apiKey"]
        admin = httpx.Client(base_url=service.url, headers={"X-API-KEY": key}, timeout=30)
        calls = [
            lambda: admin.get("/positions"),  # the key lookup meets the outage
            lambda: root.get("/institutions"),  # a route's connection meets it
            lambda: root.post("/institutions", json={"name": "B", "regions": ["US"]}),
            lambda: admin.post("/asset-templates", json={"code": "CONSTR_ESCROW"}),
        ]
        drill_cluster.stop("immediate")
        try:
            with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
                answers = list(pool.map(lambda call: call(), calls))
            away = httpx.get(service.url + "/ready", timeout=30)
            health = httpx.get(service.url + "/health", timeout=30)
        finally:
            drill_cluster.start()
        for answer in answers:
            assert answer.status_code == 503, (answer.request.url, answer.text)
            assert answer.headers["retry-after"] == "1"
            assert json.loads(answer.text) == {"error": "Service unavailable"}
        assert away.status_code == 503 and away.headers["retry-after"] == "1"
        assert health.status_code == 200
        wait_until(lambda: ready(service), 30, "/ready 200 again")
        # The runner commits asynchronously: a crash may take its last batch (the new key's row)
        # with it, re-projected once it has reconnected (docs/reliability.md).
        assert wait_caught_up(dsn) == {}
        # Enough requests to meet every worker and every pooled connection the restart cut,
        # including those of a worker that met no 503 during the outage.
        after = [admin.get("/positions").status_code for _ in range(20)]
        after += [root.get("/institutions").status_code for _ in range(20)]
        assert after == [200] * 40
    finally:
        service.stop()
        drill_cluster.drop_database(dsn)
