"""The injections, and the conditions that say a fault is over: each blocks until done."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator

import psycopg
import psutil

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
        and all(_alive(p) for p in pids)
        and http_status(service.port, "/ready") == 200
    )


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_service(service: ServiceProcess) -> None:
    """SIGKILL the whole service (its main process and every worker) at once."""
    service.kill()


def ready(service: ServiceProcess) -> bool:
    return http_status(service.port, "/ready") == 200


def kill_process(process: CommandProcess) -> None:
    process.kill()


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
    into a full server. Yields how many connections the hog holds."""
    hog: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        with cluster.admin() as admin:
            for _ in range(100):  # the service reconnects meanwhile: cut it again until full
                _fill(hog, dsn, cluster.max_connections)
                cut = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE backend_type = 'client backend' AND usename <> 'postgres'"
                    " AND application_name <> %s",
                    (HOG_APPLICATION,),
                ).fetchone()
                if cut is not None and cut[0] == 0:
                    break
                time.sleep(0.02)
            else:
                raise FaultError("could not take every connection slot from the service")
        yield len(hog)
    finally:
        for conn in hog:
            with contextlib.suppress(psycopg.Error):
                conn.close()


def _fill(hog: list[psycopg.Connection[tuple[object, ...]]], dsn: str, limit: int) -> None:
    while len(hog) < limit:
        try:
            hog.append(psycopg.connect(dsn, application_name=HOG_APPLICATION, connect_timeout=5))
        except psycopg.OperationalError:
            return  # "sorry, too many clients already": every slot is taken
