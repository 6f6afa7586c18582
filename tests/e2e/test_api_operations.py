"""Operations over real HTTP: rate limits, metrics across workers, CORS, security headers, docs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT_KEY
from tests.support.cluster import PgCluster
from tests.support.server import ServerProcess

ROOT = {"X-API-KEY": ROOT_KEY}
HOUR_MS = 3_600_000
CONSOLE = "https://console.example"


def _serve(
    cluster: PgCluster, factory: pytest.TempPathFactory, env: dict[str, str]
) -> Iterator[ServerProcess]:
    name = cluster.new_database()
    folder = factory.mktemp("ops")
    proc = ServerProcess(
        {
            "DATABASE_URL": cluster.dsn(name),
            "ROOT_API_KEY": ROOT_KEY,
            "ESCROWGRID_DATA_DIR": str(folder / "data"),
            **env,
        },
        folder / "server.log",
    ).start()
    try:
        yield proc
    finally:
        proc.stop()
        cluster.drop_database(name)


@pytest.fixture(scope="module")
def plain(cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Defaults: one worker, docs not public, no CORS_ALLOWED_ORIGINS."""
    yield from _serve(cluster, tmp_path_factory, {})


@pytest.fixture(scope="module")
def two_workers(
    cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from _serve(
        cluster,
        tmp_path_factory,
        {"WEB_CONCURRENCY": "2", "CORS_ALLOWED_ORIGINS": CONSOLE, "PUBLIC_DOCS_ENABLED": "true"},
    )


@pytest.fixture(scope="module")
def limited(
    cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from _serve(
        cluster,
        tmp_path_factory,
        {"WEB_CONCURRENCY": "2", "RATE_LIMIT_MAX_REQUESTS": "5", "RATE_LIMIT_WINDOW_MS": "3600000"},
    )


def _clear_of_window_edge(window_ms: int, needed_s: float = 30.0) -> None:
    """Fixed windows restart on the clock: do not let one restart in the middle of a test."""
    left = window_ms - (time.time() * 1000) % window_ms
    if left < needed_s * 1000:
        time.sleep(left / 1000 + 0.5)


def create_institution(server: ServerProcess, name: str = "Acme") -> dict[str, Any]:
    r = httpx.post(
        server.url + "/institutions", json={"name": name, "regions": ["US"]}, headers=ROOT
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def create_key(
    server: ServerProcess, institution_id: str, headers: dict[str, str] = ROOT
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/institutions/{institution_id}/api-keys",
        json={"label": "ops-test", "role": "admin"},
        headers=headers,
    )


def key_for(server: ServerProcess, institution_id: str) -> dict[str, str]:
    r = create_key(server, institution_id)
    assert r.status_code == 201, r.text
    return {"X-API-KEY": r.json()["apiKey"]}


def samples(text: str, name: str) -> dict[str, float]:
    """`{labels}: value` of one metric in Prometheus text."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, value = line.rsplit(" ", 1)
            found[labels[len(name) :]] = float(value)
    return found


# -- rate limits --------------------------------------------------------------------------


def test_per_key_limit_answers_429_with_retry_after(limited: ServerProcess) -> None:
    _clear_of_window_edge(HOUR_MS)
    inst = create_institution(limited)  # root: 1 of 5
    first, second = key_for(limited, inst["id"]), key_for(limited, inst["id"])  # root: 3 of 5
    url = limited.url + "/institutions"
    answers = [httpx.get(url, headers=first) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["4", "3", "2", "1", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "5" for r in answers)
    refused = httpx.get(url, headers=first)
    assert refused.status_code == 429
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= 3600
    body = refused.json()
    assert body["error"] == "Rate limit exceeded"
    assert body["limit"] == 5 and body["retryAfterSeconds"] == retry
    assert "x-request-id" in refused.headers
    # Other keys have their own windows, root included; no key at all is auth's 401.
    assert httpx.get(url, headers=second).status_code == 200
    assert [httpx.get(url, headers=ROOT).status_code for _ in range(3)] == [200, 200, 429]
    assert httpx.get(url).status_code == 401


def test_strict_limits_hold_across_two_workers(two_workers: ServerProcess) -> None:
    _clear_of_window_edge(HOUR_MS)
    inst = create_institution(two_workers, "Strict One")
    created = [create_key(two_workers, inst["id"]) for _ in range(5)]
    assert [r.status_code for r in created] == [201] * 5
    admin = {"X-API-KEY": created[0].json()["apiKey"]}
    refused = create_key(two_workers, inst["id"])
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.json()["error"] == "Rate limit exceeded" and refused.json()["limit"] == 5
    # The budget is the institution's, whoever asks; another institution has its own.
    assert create_key(two_workers, inst["id"], admin).status_code == 429
    other = create_institution(two_workers, "Strict Two")
    assert create_key(two_workers, other["id"]).status_code == 201
    # Institution creation: 10 an hour (2 made above).
    statuses = [
        httpx.post(
            two_workers.url + "/institutions",
            json={"name": f"I{i}", "regions": ["US"]},
            headers=ROOT,
        ).status_code
        for i in range(9)
    ]
    assert statuses == [201] * 8 + [429]


# -- metrics ------------------------------------------------------------------------------


def test_metrics_text_holds_the_contract_names_with_route_templates(plain: ServerProcess) -> None:
    inst = create_institution(plain, "Metrics Co")
    assert httpx.get(f"{plain.url}/institutions/{inst['id']}", headers=ROOT).status_code == 200
    r = httpx.get(plain.url + "/metrics", headers=ROOT)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert inst["id"] not in text
    for name in ("http_requests_total", "taas_requests_total"):
        series = samples(text, name)
        key = '{method="GET",route="/institutions/{id}",status="200"}'
        assert series.get(key, 0) >= 1, sorted(series)
        assert series.get('{method="POST",route="/institutions",status="201"}', 0) >= 1
    assert samples(text, "http_request_duration_seconds_count")
    assert samples(text, "escrowgrid_events_appended_total")[""] >= 1
    assert "escrowgrid_projection_lag_events" in text
    assert httpx.get(plain.url + "/metrics/prometheus", headers=ROOT).text.count("# TYPE") > 3


def test_projection_gauges_are_one_series_per_projection_across_workers(
    two_workers: ServerProcess,
) -> None:
    for _ in range(6):  # requests land on either worker; both runners publish their lag
        text = httpx.get(two_workers.url + "/metrics/prometheus", headers=ROOT).text
    for name in (
        "escrowgrid_projection_lag_events",
        "escrowgrid_projection_lag_seconds",
        "escrowgrid_projection_position",
    ):
        series = samples(text, name)
        assert '{projection="positions"}' in series, sorted(series)
        assert not [labels for labels in series if "pid=" in labels], sorted(series)


def test_metrics_json_snapshot(plain: ServerProcess) -> None:
    httpx.get(plain.url + "/no/such/route", headers=ROOT)
    r = httpx.get(plain.url + "/metrics", headers={**ROOT, "Accept": "application/json"})
    assert r.status_code == 200
    body = r.json()
    for field in ("totalRequests", "totalErrors", "requestsByStatus", "requestsByMethod"):
        assert field in body
    assert body["totalRequests"] >= 2 and body["totalErrors"] >= 1
    assert body["requestsByStatus"]["404"] >= 1 and body["requestsByMethod"]["GET"] >= 1
    assert body["averageDurationMs"] > 0


def test_metrics_need_the_root_key(plain: ServerProcess) -> None:
    inst = create_institution(plain, "Not Root")
    admin = key_for(plain, inst["id"])
    for path in ("/metrics", "/metrics/prometheus"):
        assert httpx.get(plain.url + path).status_code == 401
        r = httpx.get(plain.url + path, headers=admin)
        assert r.status_code == 403 and r.json() == {"error": "Forbidden"}


def test_metrics_aggregate_every_worker(two_workers: ServerProcess, tmp_path: Path) -> None:
    for _ in range(40):  # a new connection each: the kernel spreads them over both workers
        assert httpx.get(two_workers.url + "/health").status_code == 200
    key = '{method="GET",route="/health",status="200"}'
    for _ in range(6):
        text = httpx.get(two_workers.url + "/metrics", headers=ROOT).text
        assert samples(text, "http_requests_total")[key] >= 40
    folder = Path(two_workers.env["ESCROWGRID_DATA_DIR"]) / "prometheus-multiproc"
    pids = {re.sub(r"\D", "", p.name) for p in folder.glob("counter_*.db")}
    assert len(pids) >= 2, pids


# -- CORS, security headers, docs -------------------------------------------------------------


def test_cors_preflight_allowed_and_denied(two_workers: ServerProcess) -> None:
    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            two_workers.url + "/positions",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-api-key, idempotency-key",
            },
        )

    allowed = preflight(CONSOLE)
    assert 200 <= allowed.status_code < 300
    assert allowed.headers["access-control-allow-origin"] == CONSOLE
    headers = allowed.headers["access-control-allow-headers"].lower()
    for name in ("content-type", "x-api-key", "authorization", "idempotency-key", "x-request-id"):
        assert name in headers
    for method in ("GET", "POST", "PUT", "OPTIONS"):
        assert method in allowed.headers["access-control-allow-methods"]
    denied = preflight("https://evil.example")
    assert denied.status_code >= 400 and "access-control-allow-origin" not in denied.headers
    assert denied.headers["content-type"].startswith("application/json")
    simple = httpx.get(two_workers.url + "/institutions", headers={**ROOT, "Origin": CONSOLE})
    assert simple.headers["access-control-allow-origin"] == CONSOLE
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


def test_security_headers_on_a_json_answer(plain: ServerProcess) -> None:
    r = httpx.get(plain.url + "/institutions", headers=ROOT)
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "strict-transport-security" not in r.headers  # not production


def test_docs_are_served_by_the_service(two_workers: ServerProcess) -> None:
    page = httpx.get(two_workers.url + "/docs")  # PUBLIC_DOCS_ENABLED=true: no key
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(ref.endswith(".js") for ref in refs) and any(ref.endswith(".css") for ref in refs)
    assert not re.search(r"https?://", page.text), "the explorer must not need the internet"
    for ref in refs:
        if not ref.startswith("data:"):
            assert ref.startswith("/"), ref
            asset = httpx.get(two_workers.url + ref)
            assert asset.status_code == 200 and len(asset.content) > 100, ref
    doc = httpx.get(two_workers.url + "/openapi.json")
    assert doc.status_code == 200
    spec = doc.json()
    assert spec["openapi"].startswith("3.1.") and spec["info"]["title"] == "escrowgrid"
    assert "/institutions" in spec["paths"]


def test_docs_need_a_key_unless_public(plain: ServerProcess) -> None:
    assert httpx.get(plain.url + "/openapi.json").status_code == 401
    assert httpx.get(plain.url + "/docs").status_code == 401
    r = httpx.get(plain.url + "/openapi.json", headers=ROOT)
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.1.")
