"""The injections, and the conditions that say a fault is over: each blocks until done."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator

import psycopg

from escrowgrid.drill.cluster import DrillCluster
from escrowgrid.drill.processes import CommandProcess, ServiceProcess, http_status

HOG_APPLICATION = "escrowgrid-drill-hog"


class FaultError(RuntimeError):
    """The drill could not inject a fault or the system did not recover within its bound."""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise FaultError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def kill_worker(service: ServiceProcess, index: int) -> int:
    """SIGKILL one HTTP worker (the `index`-th by pid); return its pid."""
    workers = service.worker_pids()
    if not workers:
        raise FaultError("the service has no workers to kill")
    pid = workers[index % len(workers)]
    os.kill(pid, signal.SIGKILL)
    return pid


def workers_back(service: ServiceProcess, killed: int) -> bool:
    """All workers are up again (the killed one replaced) and the service is ready."""
    pids = service.worker_pids()
    return (
        len(pids) >= service.workers
        and killed not in pids
        and http_status(service.port, "/ready") == 200
    )


def kill_service(service: ServiceProcess) -> None:
    """SIGKILL the whole service (its main process and every worker) at once."""
    service.kill()


def ready(service: ServiceProcess) -> bool:
    return http_status(service.port, "/ready") == 200


def crash_and_restart(process: CommandProcess, pause: float) -> None:
    """SIGKILL a follower process, wait `pause` seconds, start it again as before."""
    process.kill()
    time.sleep(pause)
    process.start()


def crash_database(cluster: DrillCluster) -> None:
    """`pg_ctl stop -m immediate`: every server process is killed, no checkpoint; the next start
    recovers from the WAL."""
    cluster.stop("immediate")


def restart_database(cluster: DrillCluster) -> None:
    """`pg_ctl stop -m fast` then start: sessions are cut, open transactions roll back."""
    cluster.restart("fast")


@contextlib.contextmanager
def connections_exhausted(cluster: DrillCluster, dsn: str) -> Iterator[int]:
    """Other clients hold every connection slot PostgreSQL has for ordinary roles, and the
    service's own sessions are cut (as an idle timeout or a failover does), so it has to connect
    into a full server. Yields how many connections the other clients hold.

    The slots are taken on another database of the cluster (max_connections is per cluster)
    while the service's database refuses new sessions for a moment, so the service cannot win
    back a slot freed by the cut."""
    name = cluster.database_name(dsn)
    hog: list[psycopg.Connection[tuple[object, ...]]] = []
    # Open until the end: closing it earlier would free a slot for the service.
    with cluster.admin() as admin:
        try:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            try:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                _wait_gone(admin, name)
                # A session the database refuses holds a slot for a moment too: fill again after
                # those have gone, or the service gets their slots back.
                for _ in range(10):
                    _fill(hog, cluster.dsn("postgres"), cluster.max_connections)
                    time.sleep(0.05)
            finally:
                admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
            yield len(hog)
        finally:
            for conn in hog:
                with contextlib.suppress(psycopg.Error):
                    conn.close()


def _wait_gone(admin: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    def gone() -> bool:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
        return row is not None and row[0] == 0

    wait_until(gone, 10, f"every session of {name} ended")


def _fill(hog: list[psycopg.Connection[tuple[object, ...]]], dsn: str, limit: int) -> None:
    while len(hog) < limit:
        try:
            hog.append(psycopg.connect(dsn, application_name=HOG_APPLICATION, connect_timeout=5))
        except psycopg.OperationalError:
            return  # "sorry, too many clients already": every slot is taken
