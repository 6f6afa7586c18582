"""A real JSON-RPC node for the on-chain tests: anvil from npm on a free loopback port."""

from __future__ import annotations

from escrowgrid.onchain.devnode import ANVIL_KEY, BINARY, CHAIN_ID, Anvil, free_port

__all__ = ["ANVIL_KEY", "BINARY", "CHAIN_ID", "Anvil", "free_port"]
