"""The real service started as a process, for end-to-end tests over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "escrowgrid.cli")
# What would point the service at another database or key than the default path's own.
_NOT_DEFAULT = ("DATABASE_URL", "STORE_BACKEND", "ROOT_API_KEY", "ESCROWGRID_DATA_DIR", "PORT")


def default_path_env(data_dir: Path) -> dict[str, str]:
    """The environment of a user who set nothing but the data folder (embedded PostgreSQL)."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_DEFAULT}
    return {**env, "ESCROWGRID_DATA_DIR": str(data_dir), "LOG_LEVEL": "warning"}


def run_cli(
    env: Mapping[str, str],
    *args: str,
    command: Sequence[str] = CLI,
    cwd: Path = REPO,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """One `escrowgrid ...` command as a user types it, with exactly the given environment."""
    return subprocess.run(
        [*command, *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def stop_group(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 30.0
) -> None:
    """Signal the process group (Ctrl-C reaches the whole foreground group); SIGKILL if it hangs."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def assert_clean_stop(log: str) -> None:
    """The server's output after a stop: no worker killed with work in flight, no traceback."""
    assert "worker killed after the stop timeout" not in log, log[-3000:]
    # Python's note that a signal's wakeup byte was dropped is harmless now that the stop signal
    # is repeated (escrowgrid/draining_server.py); any other traceback is not.
    noted = "Exception ignored when trying to write to the signal wakeup fd:\nTraceback"
    assert "Traceback" not in log.replace(noted, ""), log[-3000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`escrowgrid serve` in a subprocess with its output captured to a file."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path = REPO,
        *,
        command: Sequence[str] = CLI,
        inherit_env: bool = True,
    ) -> None:
        self.port = int(env.get("PORT", "0")) or free_port()
        base = {**os.environ, "LOG_LEVEL": "info"} if inherit_env else {}
        self.env = {**base, **env, "PORT": str(self.port)}
        self.log_path = log_path
        self.cwd = cwd
        self.command = tuple(command)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*self.command, "serve"],
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer /health in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        assert self.proc is not None
        stop_group(self.proc, sig, timeout)
        self._log.close()
        return self.proc.returncode
