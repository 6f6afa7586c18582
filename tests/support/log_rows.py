"""What a running server's event log holds, read straight from its database."""

from __future__ import annotations

import psycopg

from tests.support.server import ServerProcess


def event_count(server: ServerProcess, stream_id: str | None = None) -> int:
    """Events in the log (of one stream, if given)."""
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        if stream_id is None:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        else:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE stream_id = %s::uuid", (stream_id,)
            ).fetchone()
    assert row is not None
    return int(row[0])
