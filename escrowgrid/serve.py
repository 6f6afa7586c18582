"""`escrowgrid serve`: resolve the database and root key, migrate, then run the HTTP server."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import resource
import secrets
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from escrowgrid import cluster_lease, migrations
from escrowgrid.config import Settings, StoreBackend
from escrowgrid.database import redact
from escrowgrid.embedded_pg import EmbeddedPostgres

log = logging.getLogger("escrowgrid.serve")
ROOT_KEY_FILE = "root-api-key"


def ensure_root_key(data_dir: Path) -> tuple[str, Path, bool]:
    """Read the generated root key from the data folder, creating it (mode 0600) on first start."""
    path = data_dir / ROOT_KEY_FILE
    if path.exists():
        return path.read_text().strip(), path, False
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key, path, True


def _tmpfs_dir() -> Path:
    shm = Path("/dev/shm")  # noqa: S108 - tmpfs for a throw-away cluster; the folder is mkdtemp-private
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return Path(tempfile.mkdtemp(prefix="escrowgrid-memory-", dir=base))


@contextlib.contextmanager
def database_for(settings: Settings) -> Iterator[str]:
    """Yield the connection string to use: DATABASE_URL, the shared private cluster, or a
    throw-away one (memory)."""
    if settings.store_backend is StoreBackend.MEMORY:
        cluster = EmbeddedPostgres(_tmpfs_dir())
        log.info("starting throw-away PostgreSQL", extra={"dataDir": str(cluster.data_dir)})
        try:
            cluster.start()
            yield cluster.dsn
        finally:
            cluster.destroy()
        return
    if settings.database_url is not None:
        log.info("using external PostgreSQL", extra={"database": redact(settings.database_url)})
        yield settings.database_url
        return
    # Shared with every other escrowgrid process on this data folder (a CLI command beside
    # `serve`): the last one to leave stops it.
    with cluster_lease.lease(EmbeddedPostgres(settings.data_dir / "postgres")) as dsn:
        yield dsn


def serve(settings: Settings) -> int:
    """Run the service until interrupted; return the process exit code."""
    root_key = settings.root_api_key
    if root_key is None:
        root_key, key_path, created = ensure_root_key(settings.data_dir)
        verb = "generated and stored in" if created else "read from"
        print(
            f"escrowgrid: root API key {verb} {key_path} (mode 0600). Use it as:\n"
            f'  curl -H "X-API-KEY: $(cat {key_path})" http://localhost:{settings.port}/institutions',
            file=sys.stderr,
        )
    with database_for(settings) as dsn:
        applied = migrations.migrate(dsn)
        if applied:
            log.info("migrations applied", extra={"migrations": applied})
        # Workers are separate processes: hand them the resolved settings through the environment.
        os.environ["DATABASE_URL"] = dsn
        os.environ["ROOT_API_KEY"] = root_key
        os.environ["STORE_BACKEND"] = (
            "memory" if settings.store_backend is StoreBackend.MEMORY else "postgres"
        )
        from escrowgrid.api.metrics import prepare_multiprocess

        prepare_multiprocess(settings)
        run_http(settings)
    return 0


# On SIGTERM: at most this long turning new connections away while the workers take the queued
# ones, then Granian's workers_kill_timeout for requests in flight: within stop_grace_period 20s.
DRAIN_SECONDS = 5.0


def run_http(settings: Settings) -> None:
    """Serve the app factory with Granian (measured against uvicorn: docs/performance.md)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    from escrowgrid import listen_socket
    from escrowgrid.api.request_limits import SERVER_HEAD_BYTES
    from escrowgrid.draining_server import DrainingGranian

    backlog = 2048
    server_class: Any = Granian
    if sys.platform == "linux":  # elsewhere Granian's own listener, without the drain
        listeners = []
        try:
            # The first binds the port (a busy one fails here); the rest join its group.
            port = settings.port
            for _ in range(settings.workers):
                listeners.append(listen_socket.bind(settings.host, port, backlog, reuse_port=True))
                port = listeners[0].getsockname()[1]  # PORT=0: the rest join the one chosen
        except OSError as exc:
            for sock in listeners:
                sock.close()
            message = f"escrowgrid: cannot listen on {settings.host}:{settings.port}: {exc}"
            raise SystemExit(message) from None
        server_class = functools.partial(DrainingGranian, listeners, DRAIN_SECONDS)
    server = server_class(
        target="escrowgrid.api.app:create_app_from_env",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        # HTTP/1.1 only and no WebSocket upgrades, as the original service: its clients speak
        # nothing else; an upgrade request then reaches the app (JSON) instead of Granian's
        # bodiless 403, and no connection is sniffed for HTTP/2 (docs/operations.md).
        http=HTTPModes.http1,
        websockets=False,
        workers=settings.workers,
        loop=Loops.auto,
        log_enabled=False,
        backlog=backlog,
        # Granian's default (backlog / workers = 2048) caps the connections a worker holds, open
        # or idle: 2048 clients that connect and send nothing starved /health for everyone
        # (tests/faults/test_abuse.py). Connections are cheap; the bound is the file limit.
        backpressure=connection_cap(),
        # Room for a request head over the app's own limits, so the app answers those with JSON
        # (escrowgrid/api/request_limits.py) instead of the parser's bodiless 431.
        http1_settings=HTTP1Settings(
            max_buffer_size=SERVER_HEAD_BYTES,
            # A head trickled byte by byte (slowloris) is dropped after this; bodies: body_deadline.
            header_read_timeout=settings.request_read_timeout_ms,
        ),
        # A worker that misses the stop signal (a race when Ctrl-C reaches the whole process
        # group) is killed after this many seconds instead of hanging the shutdown.
        workers_kill_timeout=5,
        # A worker that dies (OOM killer, SIGKILL, a crash in native code) is replaced; without
        # this Granian stops every other worker too and one crash takes the whole service down
        # (escrowgrid drill --only process-kill, docs/reliability.md).
        respawn_failed_workers=True,
    )
    # Called once the socket is bound, before the workers start: the URL answers from now on.
    server.on_startup(
        lambda: print(f"escrowgrid: listening on {listen_url(settings)}", file=sys.stderr)
    )
    server.serve()


FD_RESERVE = 512  # files a worker keeps besides client connections: pool, logs, the database


def connection_cap() -> int:
    """Client connections a worker may hold: its file limit (raised to the hard limit) less a
    reserve, so the server stops accepting before it runs out of files."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # workers inherit it
            soft = hard
    limit = 1 << 20 if soft == resource.RLIM_INFINITY else soft
    return max(64, limit - FD_RESERVE)


def listen_url(settings: Settings) -> str:
    """The URL to type into a browser on this machine (localhost for an all-interfaces bind)."""
    host = settings.host
    if host in {"", "0.0.0.0", "::"}:  # noqa: S104 - recognising the wildcard, not binding it
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"
