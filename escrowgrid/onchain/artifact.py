"""The compiled EscrowLedger contract (ABI and bytecode), committed beside its source."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec


class ContractArtifact(msgspec.Struct, frozen=True):
    compiler: str
    abi: list[dict[str, Any]]
    bytecode: str


def load_artifact() -> ContractArtifact:
    """The committed build of EscrowLedger.sol (tests/unit checks it matches a fresh compile)."""
    raw = resources.files("escrowgrid.onchain").joinpath("contract/EscrowLedger.json").read_bytes()
    return msgspec.json.decode(raw, type=ContractArtifact)
