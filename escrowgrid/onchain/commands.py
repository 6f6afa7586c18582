"""`escrowgrid onchain ...`: deploy, run, status, retry."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Protocol, TextIO

from escrowgrid.config import OnchainSettings


class Follower(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `onchain` command group."""
    onchain = sub.add_parser("onchain", help="the on-chain mirror of the log (docs/onchain.md)")
    onchain_sub = onchain.add_subparsers(dest="onchain_command", required=True)
    onchain_sub.add_parser(
        "deploy", help="deploy EscrowLedger with ONCHAIN_PRIVATE_KEY to ONCHAIN_RPC_URL"
    )
    onchain_sub.add_parser("run", help="the publisher alone: queue and send eligible events")
    status = onchain_sub.add_parser("status", help="position, lag, pending, failed, last tx")
    status.add_argument("--json", action="store_true")
    onchain_sub.add_parser("retry", help="put events marked failed back in the queue")


def deploy(settings: OnchainSettings, out: TextIO = sys.stdout) -> int:
    """Deploy the contract and print its address; 1 when the chain failed, 2 misconfigured."""
    from escrowgrid.onchain.client import ChainClient, ChainError

    if not settings.rpc_url or not settings.private_key:
        print("escrowgrid: ONCHAIN_RPC_URL and ONCHAIN_PRIVATE_KEY are required", file=sys.stderr)
        return 2
    try:
        address = ChainClient.connect(settings.rpc_url, settings.private_key).deploy()
    except ChainError as exc:
        print(f"escrowgrid: {exc}", file=sys.stderr)
        return 1
    print(address, file=out)
    return 0


def run(
    args: argparse.Namespace,
    settings: OnchainSettings,
    dsn: str,
    out: TextIO = sys.stdout,
    *,
    scrape: Follower | None = None,
) -> int:
    """`run` (with its /metrics endpoint `scrape`), `status` or `retry` on the database `dsn`."""
    if args.onchain_command == "run":
        asyncio.run(_publish(settings, dsn, scrape))
        return 0
    return asyncio.run(_database_command(args, dsn, out))


async def _publish(settings: OnchainSettings, dsn: str, scrape: Follower | None) -> None:
    from escrowgrid.onchain.publisher import Publisher

    if scrape is not None:
        await scrape.start()
    try:
        await Publisher(dsn, settings).run()
    finally:
        if scrape is not None:
            await scrape.stop()


async def _database_command(args: argparse.Namespace, dsn: str, out: TextIO) -> int:
    from escrowgrid.onchain import queue
    from projections.runner.connect import connect

    conn = await connect(dsn, "escrowgrid-onchain-cli")
    try:
        if args.onchain_command == "retry":
            count = await queue.retry_failed(conn)
            print(f"escrowgrid: {count} failed event(s) queued again", file=out)
            return 0
        now = await queue.status(conn)
    finally:
        await conn.close()
    shown = {
        "position": now.tracked or 0,
        "head": now.head,
        "lag": max(0, now.head - (now.tracked or 0)),
        "pending": now.pending,
        "failed": now.failed,
        "published": now.published,
        "lastPublishedPosition": now.last_published_position,
        "lastTx": None if now.last_tx is None else "0x" + now.last_tx,
    }
    if args.json:
        print(json.dumps(shown), file=out)
    else:
        for key, value in shown.items():
            print(f"{key:22} {value}", file=out)
    return 0


def verify_chain(settings: OnchainSettings, dsn: str, out: TextIO = sys.stdout) -> int:
    """Read the anchors back from the contract and prove the log up to each one unchanged."""
    from escrowgrid.onchain.anchors import check_anchors
    from escrowgrid.onchain.publisher import client_for
    from projections.runner.connect import connect

    async def check() -> tuple[int, list[str]]:
        conn = await connect(dsn, "escrowgrid-verify-chain")
        try:
            return await check_anchors(conn, client_for(settings)())
        finally:
            await conn.close()

    proved, problems = asyncio.run(check())
    for problem in problems:
        print(f"chain: {problem}", file=out)
    print(f"chain: {proved} anchor(s) on chain match the log", file=out)
    return 1 if problems else 0
