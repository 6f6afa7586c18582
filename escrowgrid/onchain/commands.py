"""`escrowgrid onchain ...`: deploy (and, as the publisher grows, run, status, retry)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from escrowgrid.config import OnchainSettings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `onchain` command group."""
    onchain = sub.add_parser("onchain", help="the on-chain mirror of the log (docs/onchain.md)")
    onchain_sub = onchain.add_subparsers(dest="onchain_command", required=True)
    onchain_sub.add_parser(
        "deploy", help="deploy EscrowLedger with ONCHAIN_PRIVATE_KEY to ONCHAIN_RPC_URL"
    )


def run(args: argparse.Namespace, settings: OnchainSettings, out: TextIO = sys.stdout) -> int:
    """Run one `onchain` command; 0 on success, 1 when the chain failed, 2 when misconfigured."""
    from escrowgrid.onchain.client import ChainClient, ChainError

    if not settings.rpc_url or not settings.private_key:
        print("escrowgrid: ONCHAIN_RPC_URL and ONCHAIN_PRIVATE_KEY are required", file=sys.stderr)
        return 2
    try:
        client = ChainClient.connect(settings.rpc_url, settings.private_key)
        if args.onchain_command == "deploy":
            address = client.deploy()
            print(address, file=out)
            return 0
    except ChainError as exc:
        print(f"escrowgrid: {exc}", file=sys.stderr)
        return 1
    return 2
