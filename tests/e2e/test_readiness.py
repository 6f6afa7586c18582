"""/ready tells a load balancer the truth: not ready while the schema is behind the code."""

from __future__ import annotations

import httpx
import psycopg

from escrowgrid import migrations
from tests.support.server import ServerProcess


def test_ready_is_503_while_the_schema_is_behind(server: ServerProcess, database_url: str) -> None:
    assert httpx.get(server.url + "/ready").status_code == 200
    shipped = migrations.discover()
    newest = shipped[-1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        # As if this code were deployed before its newest migration had run.
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (newest.version,))
        answer = httpx.get(server.url + "/ready")
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (newest.version, newest.name, newest.checksum),
        )
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["ok"] is False and body["storeBackend"] == "postgres"
    assert body["db"]["ok"] is False
    assert f"{len(shipped) - 1} of {len(shipped)} migrations applied" in body["db"]["error"]
    assert body["migrations"] == {"applied": len(shipped) - 1, "expected": len(shipped)}
    assert httpx.get(server.url + "/ready").status_code == 200


def test_ready_is_503_on_a_database_never_migrated(
    server: ServerProcess, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE schema_migrations RENAME TO schema_migrations_away")
        answer = httpx.get(server.url + "/ready")
        conn.execute("ALTER TABLE schema_migrations_away RENAME TO schema_migrations")
    assert answer.status_code == 503
    assert answer.json()["migrations"]["applied"] == 0
    assert "run `escrowgrid db migrate`" in answer.json()["db"]["error"]
    assert httpx.get(server.url + "/ready").status_code == 200


def test_head_health_and_ready_answer_as_get_does_without_a_body(
    server: ServerProcess, database_url: str
) -> None:
    # Load balancers and health checkers that probe with HEAD read the status alone.
    for path in ("/health", "/ready"):
        got = httpx.get(server.url + path)
        head = httpx.head(server.url + path, headers={"X-Request-Id": "probe-1"})
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["x-request-id"] == "probe-1"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE schema_migrations RENAME TO schema_migrations_away")
        head = httpx.head(server.url + "/ready")
        conn.execute("ALTER TABLE schema_migrations_away RENAME TO schema_migrations")
    assert (head.status_code, head.content) == (503, b"")
