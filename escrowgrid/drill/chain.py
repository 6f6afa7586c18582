"""A local chain for the publisher drill: anvil (npm, escrowgrid/onchain/contract) and the
contract deployed by `escrowgrid onchain deploy`, as docs/onchain.md sets it up."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from escrowgrid.drill.processes import CLI, free_port

ANVIL = (
    Path(__file__).resolve().parents[1] / "onchain" / "contract" / "node_modules" / ".bin" / "anvil"
)
# anvil's first development account: public, printed by anvil at every start.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CHAIN_ID = 31337


def available() -> str | None:
    """None when the publisher drill can run, else why not."""
    if not ANVIL.exists():
        return f"anvil is not installed (npm ci in {ANVIL.parents[2]})"
    try:
        import web3  # noqa: F401
    except ImportError:
        return "web3 is not installed (pip install 'escrowgrid[onchain]')"
    return None


class LocalChain:
    """One anvil node on a free loopback port, with EscrowLedger deployed."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.address = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str]) -> LocalChain:
        args = [str(ANVIL), "--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - the pinned npm binary
                [*args, "--chain-id", str(CHAIN_ID)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not start: {self.log.read_text()[-1000:]}")
            time.sleep(0.1)
        deployed = subprocess.run(  # noqa: S603 - our own CLI
            [*CLI, "onchain", "deploy"],
            env={**env, **self.settings()},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if deployed.returncode != 0:
            raise RuntimeError(f"escrowgrid onchain deploy failed: {deployed.stderr[-1000:]}")
        self.address = deployed.stdout.strip()
        return self

    def settings(self) -> dict[str, str]:
        """The publisher's environment for this node (retries quick: the drill is short)."""
        env = {
            "ONCHAIN_RPC_URL": self.url,
            "ONCHAIN_PRIVATE_KEY": DEV_KEY,
            "ONCHAIN_CHAIN_ID": str(CHAIN_ID),
            "ONCHAIN_RETRY_DELAY_MS": "100",
            "ONCHAIN_MAX_RETRIES": "100",
            "ONCHAIN_RETRY_BATCH_SIZE": "50",
        }
        if self.address:
            env["ONCHAIN_CONTRACT_ADDRESS"] = self.address
        return env

    def _answers(self) -> bool:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        request = urllib.request.Request(  # noqa: S310 - our own loopback node
            self.url, body.encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                return True
        except OSError:
            return False

    def recorded_positions(self) -> list[int]:
        from escrowgrid.onchain.client import ChainClient

        return ChainClient.connect(self.url, DEV_KEY, self.address).recorded_positions()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
