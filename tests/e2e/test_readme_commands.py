"""The README's first command and its curl lines, typed as written, in a copy of the checkout.

This is the path a new user takes: a fresh virtualenv, a plain (non-editable) `pip install .`,
no DATABASE_URL, the private PostgreSQL in `.data/`. Only the port may differ, when 4000 is
taken on this machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import REPO, free_port, stop_group

README = REPO / "README.md"
_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
# What the user's shell has: none of the settings a developer or CI may carry.
_DROPPED = ("DATABASE_URL", "ROOT_API_KEY", "STORE_BACKEND", "PORT", "VIRTUAL_ENV", "PYTHONPATH")


def readme_blocks() -> list[str]:
    return [block.strip() for block in _BLOCK.findall(README.read_text())]


def _port_4000_free() -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 4000))
        except OSError:
            return False
    return True


def _copy_checkout(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _wait_health(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"command 1 exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no /health after {timeout}s:\n{log.read_text(errors='replace')}")


@pytest.mark.slow
def test_readme_command_one_and_its_curl_lines_work_as_typed(tmp_path: Path) -> None:
    blocks = readme_blocks()
    install_and_serve, curls = blocks[0], blocks[1]
    assert "pip install ." in install_and_serve and "escrowgrid serve" in install_and_serve
    assert "bash tests/run.sh" in blocks, "command 2 is in the README as CI runs it"

    port = 4000 if _port_4000_free() else free_port()
    checkout = tmp_path / "escrowgrid"
    _copy_checkout(checkout)
    env = {
        k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("ESCROWGRID_")
    }
    if port != 4000:
        env["PORT"] = str(port)
    log = tmp_path / "command1.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", install_and_serve], cwd=checkout, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_health(f"http://127.0.0.1:{port}", proc, log, timeout=480)
        printed = log.read_text(errors="replace")
        assert f"http://localhost:{port}" in printed, "start-up prints the URL it listens on"
        key_file = checkout / ".data" / "root-api-key"
        assert key_file.stat().st_mode & 0o777 == 0o600

        answers = []
        for line in filter(None, (raw.strip() for raw in curls.splitlines())):
            typed = line.replace("localhost:4000", f"localhost:{port}")
            done = subprocess.run(
                ["bash", "-c", typed + " -sS --fail-with-body"], cwd=checkout, env=env,
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            answers.append(json.loads(done.stdout))
        assert answers[0]["status"] == "ok"
        assert answers[1]["ok"] is True

        where = "import escrowgrid; print(escrowgrid.__file__)"
        installed = subprocess.run(
            [str(checkout / ".venv/bin/python"), "-c", where],
            cwd="/", capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "site-packages" in installed, "command 1 is a plain install, not an editable one"
    finally:
        stop_group(proc, timeout=60)
    assert proc.returncode == 0, log.read_text(errors="replace")
    pgdata = checkout / ".data" / "postgres" / "pgdata"
    assert not (pgdata / "postmaster.pid").exists(), "Ctrl-C stops the private PostgreSQL too"
