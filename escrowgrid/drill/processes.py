"""The service and its followers as processes, started the way users start them, and killed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

CLI = (sys.executable, "-m", "escrowgrid.cli")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of one GET, or None when nothing answered in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            line = sock.recv(64)
    except OSError:
        return None
    parts = line.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


class CommandProcess:
    """`escrowgrid ARGS...` in its own process group, output appended to a log file."""

    def __init__(self, args: tuple[str, ...], env: Mapping[str, str], log: Path) -> None:
        self.args = args
        self.env = dict(env)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CommandProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [*CLI, *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: no handler runs, nothing is flushed or closed."""
        self._signal(signal.SIGKILL)
        self._reap(10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT (Ctrl-C) to the group; SIGKILL if it does not end in time."""
        if self.running:
            self._signal(signal.SIGINT)
            if not self._reap(timeout):
                self.kill()
        self.proc = None

    def _signal(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def _reap(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class ServiceProcess(CommandProcess):
    """`escrowgrid serve` with several HTTP workers on a fixed port (it comes back on the same)."""

    def __init__(self, env: Mapping[str, str], log: Path, workers: int = 2) -> None:
        self.port = free_port()
        full = {**env, "PORT": str(self.port), "WEB_CONCURRENCY": str(workers)}
        super().__init__(("serve",), full, log)
        self.workers = workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"escrowgrid serve exited:\n{self.tail()}")
            if http_status(self.port, "/ready") == 200 and len(self.worker_pids()) >= self.workers:
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"escrowgrid serve was not ready in {timeout} s:\n{self.tail()}")

    def worker_pids(self) -> list[int]:
        """The HTTP workers: Granian forks them as the direct children of `escrowgrid serve`."""
        if self.proc is None:
            return []
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        return sorted(c.pid for c in children if _alive(c))


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:  # it died between the listing and the look
        return False
