"""A local development chain: anvil from npm (escrowgrid/onchain/contract), on loopback."""

# For the tests and `escrowgrid bench onchain` only: a real JSON-RPC node on a free port. The
# binary comes with `npm ci` in escrowgrid/onchain/contract and is not part of the wheel.

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

BINARY = Path(__file__).resolve().parent / "contract" / "node_modules" / ".bin" / "anvil"
# anvil's first development account (public knowledge: anvil prints it at every start)
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CHAIN_ID = 31337


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """One anvil process; `stop` then `start` again on the same port simulates a node outage."""

    def __init__(
        self,
        log: Path,
        port: int | None = None,
        block_time: float | None = None,
        gas_limit: int | None = None,
    ) -> None:
        if not BINARY.exists():
            raise RuntimeError(f"anvil is missing: run `npm ci` in {BINARY.parents[2]}")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.block_time = block_time
        self.gas_limit = gas_limit
        self._state = log.with_suffix(".state.json")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Anvil:
        args = [str(BINARY), "--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        args += ["--chain-id", str(CHAIN_ID), "--state", str(self._state)]
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        if self.gas_limit is not None:
            args += ["--gas-limit", str(self.gas_limit)]
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"anvil exited: {self.log.read_text()[-2000:]}")
            try:
                self.rpc("eth_chainId")
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("anvil did not answer within 30 s")

    def rpc(self, method: str, *params: object) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(  # noqa: S310 - our own loopback node
            self.url, body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return json.loads(answer.read())["result"]

    def stop(self) -> None:
        """Stop the node; its chain is saved to the state file and loaded by the next start."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
