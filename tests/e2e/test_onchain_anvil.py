"""The on-chain commands against a real JSON-RPC node: anvil from npm, on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from escrowgrid.onchain.client import ChainClient
from tests.support.anvil import ANVIL_KEY, Anvil


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Anvil]:
    node = Anvil(tmp_path / "anvil.log").start()
    yield node
    node.stop()


def test_deploy_prints_the_address_of_a_working_contract(anvil: Anvil) -> None:
    env = {
        **os.environ,
        "ONCHAIN_RPC_URL": anvil.url,
        "ONCHAIN_PRIVATE_KEY": ANVIL_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-m", "escrowgrid.cli", "onchain", "deploy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    assert address.startswith("0x") and len(address) == 42
    assert ANVIL_KEY.removeprefix("0x") not in done.stdout + done.stderr
    client = ChainClient.connect(anvil.url, ANVIL_KEY, address)
    assert client.record_count() == 0
