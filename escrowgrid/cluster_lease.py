"""Share the private cluster between processes: each user holds a lease, the last one out stops it.

Two flock files in the cluster's data folder: every process using the cluster holds a shared
lock on `users.lock` for as long as it uses it; starting and stopping happen under an exclusive
lock on `start.lock`, so two processes never start it at once and none stops it while another
is between starting it and taking its shared lock. The kernel drops a crashed holder's locks."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from escrowgrid.embedded_pg import EmbeddedPostgres

log = logging.getLogger("escrowgrid.cluster")
START_LOCK = "start.lock"
USERS_LOCK = "users.lock"
# Present while the running cluster was started through a lease: one started by hand (pg_ctl)
# or by anything else is not ours to stop.
STARTED_MARK = "started-by-escrowgrid"


def _open_lock(path: Path) -> int:
    # os.open's descriptors are not inherited by subprocesses (PEP 446): postgres, started by
    # pg_ctl from this process, must never hold a user's lock.
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


@contextlib.contextmanager
def lease(cluster: EmbeddedPostgres) -> Iterator[str]:
    """Use the cluster, starting it if it is down; yield its connection string.

    On exit, stop it only if a lease started it and no other process holds one."""
    folder = cluster.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    mark = folder / STARTED_MARK
    users = _open_lock(folder / USERS_LOCK)
    try:
        with _exclusive(folder / START_LOCK):
            if not cluster.is_running():
                # Marked before starting: a start that fails half-way still leaves it ours.
                mark.write_text(f"{os.getpid()}\n")
                log.info("starting private PostgreSQL", extra={"dataDir": str(folder)})
            cluster.start()
            fcntl.flock(users, fcntl.LOCK_SH)
        yield cluster.dsn
    finally:
        try:
            with _exclusive(folder / START_LOCK):
                _stop_if_last(cluster, users, mark)
        finally:
            os.close(users)


def _stop_if_last(cluster: EmbeddedPostgres, users: int, mark: Path) -> None:
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("private PostgreSQL left running: another process uses it")
        return
    if not mark.exists():
        log.info("private PostgreSQL left running: escrowgrid did not start it")
        return
    log.info("stopping private PostgreSQL")
    cluster.stop()
    mark.unlink()
