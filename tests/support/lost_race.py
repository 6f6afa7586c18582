"""A real lost race: another client's move commits between a command's load and its append.

The appender appends each batch under `LOCK TABLE events IN EXCLUSIVE MODE` (db/migrations/0001
`append_batch`), one batch in flight. Holding that lock from a session of our own keeps the
competing move waiting inside its batch; a command that arrives meanwhile loads the stream at the
old version (reads are not blocked) and queues for the next batch. Once that load has finished,
releasing the lock lets the competing move commit first, and the late command meets a new head:
the server's own 409, nothing faked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import psycopg

# The command side's stream load (escrowgrid/eventlog/reader.py `load_streams`); no read runs it.
LOAD_QUERY = "SELECT stream_id, version, topic, state FROM events WHERE stream_id = ANY("
WAIT_S = 15.0


def _until(what: str, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {WAIT_S}s waiting for {what}")
        time.sleep(0.005)


class LostRace:
    """Holds the event table's lock around a competing move; see the module docstring."""

    def __init__(self, superuser_dsn: str) -> None:
        self._lock = psycopg.connect(superuser_dsn)
        self._watch = psycopg.connect(superuser_dsn, autocommit=True)
        self._since: datetime | None = None
        self._loads: dict[int, datetime] = {}  # backends seen running a load: since when
        self._competing: threading.Thread | None = None
        self.competing: httpx.Response | None = None

    def hold(self, url: str, key: str, body: dict[str, Any]) -> None:
        """Take the lock, send the competing move over the API, wait until its batch waits."""
        self._lock.execute("LOCK TABLE events IN EXCLUSIVE MODE")

        def send() -> None:
            self.competing = httpx.post(url, json=body, headers={"X-API-KEY": key}, timeout=60)

        self._competing = threading.Thread(target=send, daemon=True)
        self._competing.start()
        _until("the competing move's batch to wait for the lock", self._batch_waits)
        # Every load that started before now, the competing move's included, is behind us.
        self._since = self._scalar("SELECT clock_timestamp()")

    def let_go(self) -> httpx.Response:
        """Once a command has loaded the stream since `hold`, let go: the competing answer."""
        assert self._competing is not None, "hold() first"
        _until("the late command to load the stream", self._loaded_since_hold)
        self._lock.commit()
        self._competing.join(timeout=60)
        assert self.competing is not None, "the competing move got no answer"
        return self.competing

    def close(self) -> None:
        self._lock.close()  # rolls back: the lock goes even when the race was abandoned
        self._watch.close()
        if self._competing is not None:
            self._competing.join(timeout=60)

    def _batch_waits(self) -> bool:
        return bool(
            self._scalar(
                "SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass"
                " AND mode = 'ExclusiveLock' AND NOT granted"
            )
        )

    def _loaded_since_hold(self) -> bool:
        """A load that started after `hold` has finished, so its snapshot predates the commit."""
        rows = self._watch.execute(
            "SELECT pid, state, query_start, starts_with(query, %s) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query_start > %s",
            (LOAD_QUERY, self._since),
        ).fetchall()
        for pid, state, started, loading in rows:
            if loading:
                if state == "idle":
                    return True
                self._loads.setdefault(pid, started)
            elif pid in self._loads and started > self._loads[pid]:
                return True  # the backend went on to another query: the load is over
        return False

    def _scalar(self, sql: str, params: tuple[object, ...] = ()) -> Any:
        row = self._watch.execute(sql, params).fetchone()
        assert row is not None
        return row[0]
