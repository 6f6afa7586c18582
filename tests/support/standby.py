"""A primary cluster and a real streaming standby made from it (`pg_basebackup -R`), for the
replica tests: pause its replay, stop it, start it again."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psycopg

from escrowgrid.embedded_pg import DB_NAME, DB_USER, EmbeddedPostgres
from tests.support.cluster import FAST_SETTINGS, scratch_dir

PRIMARY_PORT = 5432
STANDBY_PORT = 5433


class _Server(EmbeddedPostgres):
    """A private cluster on a port of its own (each also has its own socket folder)."""

    def __init__(self, data_dir: Path, port: int, settings: dict[str, str]) -> None:
        super().__init__(data_dir, settings={**settings, "port": str(port)})
        self.port = port

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}@/{DB_NAME}?host={self.socket_dir}&port={self.port}"

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def base_backup_of(self, primary: _Server) -> None:
        """Fill this cluster's (empty) data folder from `primary`, set up to stream from it."""
        self._make_reachable()
        self._own(self.pgdata)
        source = f"host={primary.socket_dir} port={primary.port} user=postgres"
        self._run(
            "pg_basebackup", "-D", str(self.pgdata), "-d", source,
            "-R", "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip


class StreamingPair:
    """The primary (wal_level=replica) and its hot standby, both running."""

    def __init__(self, base: Path, primary: _Server, standby: _Server) -> None:
        self.base = base
        self.primary = primary
        self.standby = standby

    @classmethod
    def start(cls) -> StreamingPair:
        base = scratch_dir("escrowgrid-replica-")
        primary = _Server(
            base / "primary", PRIMARY_PORT,
            {**FAST_SETTINGS, "wal_level": "replica", "max_wal_senders": "4"},
        )  # fmt: skip
        primary.start()
        standby = _Server(base / "standby", STANDBY_PORT, {**FAST_SETTINGS, "hot_standby": "on"})
        try:
            standby.base_backup_of(primary)
            standby.start()
        except Exception:
            primary.destroy()
            shutil.rmtree(base, ignore_errors=True)
            raise
        return cls(base, primary, standby)

    def _on_standby(self, sql: str) -> object:
        with psycopg.connect(self.standby.admin_dsn(), autocommit=True) as conn:
            row = conn.execute(sql).fetchone()
        return None if row is None else row[0]

    def pause_replay(self) -> None:
        """The standby stops applying WAL (it still receives it and answers queries)."""
        self._on_standby("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 10
        while self._on_standby("SELECT pg_get_wal_replay_pause_state()") != "paused":
            assert time.monotonic() < deadline, "replay did not pause"
            time.sleep(0.01)

    def resume_replay(self) -> None:
        self._on_standby("SELECT pg_wal_replay_resume()")

    def stop_standby(self) -> None:
        self.standby.stop()

    def start_standby(self) -> None:
        self.standby.start()

    def standby_running(self) -> bool:
        return self.standby.is_running()

    def cut_standby_connections(self, user: str, keep_application: str) -> int:
        """Terminate `user`'s sessions on the standby but those whose application_name starts
        with `keep_application` (as a firewall dropping idle connections would); how many."""
        with psycopg.connect(self.standby.admin_dsn(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE usename = %s AND application_name NOT LIKE %s",
                (user, keep_application + "%"),
            ).fetchall()
        return len(rows)

    def replay_paused(self) -> bool:
        return self._on_standby("SELECT pg_get_wal_replay_pause_state()") != "not paused"

    def on_primary(self, sql: str, params: tuple[object, ...] = ()) -> None:
        """A statement on the primary's application database, behind the service's back."""
        with psycopg.connect(self.primary.admin_dsn(DB_NAME), autocommit=True) as conn:
            conn.execute(sql, params)

    def stop(self) -> None:
        try:
            self.standby.destroy()
        finally:
            self.primary.destroy()
            shutil.rmtree(self.base, ignore_errors=True)
