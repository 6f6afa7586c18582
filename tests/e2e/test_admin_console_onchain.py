"""The console's on-chain records of a position, in Debian's Chromium, against a real service
whose publisher mirrors to anvil (admin-console/e2e/onchain.mjs)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from escrowgrid.onchain.client import ChainClient
from tests.e2e.test_admin_console import ROOT_KEY, SHOTS, _node, pytestmark  # noqa: F401
from tests.support.anvil import ANVIL_KEY, CHAIN_ID, Anvil
from tests.support.api import Api
from tests.support.server import ServerProcess


def _records(admin: Api, position_id: str) -> list[dict[str, Any]]:
    return list(admin.ok(admin.get(f"/positions/{position_id}/onchain"))["records"])


def _until(check: Any, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_the_position_page_shows_its_records_on_chain(database_url: str, tmp_path: Path) -> None:
    anvil = Anvil(tmp_path / "anvil.log").start()
    server: ServerProcess | None = None
    try:
        address = ChainClient.connect(anvil.url, ANVIL_KEY).deploy()
        env = {
            "DATABASE_URL": database_url,
            "ROOT_API_KEY": ROOT_KEY,
            "ESCROWGRID_DATA_DIR": str(tmp_path / "data"),
            "RATE_LIMIT_ENABLED": "false",
            "ONCHAIN_LEDGER_ENABLED": "true",
            "ONCHAIN_RPC_URL": anvil.url,
            "ONCHAIN_PRIVATE_KEY": ANVIL_KEY,
            "ONCHAIN_CONTRACT_ADDRESS": address,
            "ONCHAIN_CHAIN_ID": str(CHAIN_ID),
            "ONCHAIN_RETRY_DELAY_MS": "200",
            "ONCHAIN_MAX_RETRIES": "100",
        }
        server = ServerProcess(env, tmp_path / "server.log").start()
        api = Api(server.url, ROOT_KEY)
        inst = api.institution()
        admin = api.as_key(api.key(inst["id"])["apiKey"])
        config = {
            "currency": "USD",
            "region": "US",
            "onchain": {"enabled": True, "chainId": CHAIN_ID},
        }
        template = admin.ok(admin.post("/asset-templates", {
            "code": "CONSTR_ESCROW", "name": "On chain", "vertical": "CONSTRUCTION",
            "region": "US", "config": config,
        }), 201)  # fmt: skip
        mirrored = admin.position(admin.asset(template["id"])["id"])["id"]
        assert admin.move(mirrored, "FUNDED").status_code == 200
        plain = admin.position(admin.asset(admin.template()["id"])["id"])["id"]
        _until(lambda: [r["status"] for r in _records(admin, mirrored)] == ["published"] * 2)
        # The node goes away: the next move is queued, its failed attempts shown with the error.
        anvil.stop()
        assert admin.move(mirrored, "PARTIALLY_RELEASED", amount="2.5").status_code == 200
        _until(lambda: (_records(admin, mirrored)[-1]["attempts"] or 0) >= 1)
        out = _node("onchain.mjs", {
            "CONSOLE_URL": server.url + "/console/", "API_URL": server.url, "ROOT_KEY": ROOT_KEY,
            "ONCHAIN_ID": mirrored, "PLAIN_ID": plain, "SHOTS_DIR": str(SHOTS),
        })  # fmt: skip
        statuses = json.loads(out.strip().splitlines()[-1])["statuses"]
        assert statuses == ["published", "published", "pending"]
        assert ANVIL_KEY.removeprefix("0x") not in server.output()
    finally:
        if server is not None:
            server.stop()
        anvil.stop()
