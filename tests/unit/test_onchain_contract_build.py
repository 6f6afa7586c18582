"""The committed ABI and bytecode are exactly what the pinned solc-js makes of the source."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from escrowgrid.onchain.artifact import load_artifact

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "escrowgrid" / "onchain" / "contract"


def test_the_committed_build_matches_a_fresh_compile_with_the_pinned_solc() -> None:
    node = shutil.which("node")
    assert node, "node is required (tests/run.sh installs the compiler with npm ci)"
    assert (CONTRACT_DIR / "node_modules" / "solc").is_dir(), (
        f"run `npm ci` in {CONTRACT_DIR} (tests/run.sh does)"
    )
    fresh = json.loads(
        subprocess.run(
            [node, "compile.js"], cwd=CONTRACT_DIR, capture_output=True, check=True, text=True
        ).stdout
    )
    committed = load_artifact()
    pinned = json.loads((CONTRACT_DIR / "package.json").read_text())["dependencies"]["solc"]
    assert fresh["compiler"].startswith(pinned + "+")
    assert committed.compiler == fresh["compiler"]
    assert committed.abi == fresh["abi"]
    assert committed.bytecode == fresh["bytecode"]


def test_the_contract_keeps_the_original_call_and_adds_batch_and_anchor() -> None:
    functions = {f["name"]: f for f in load_artifact().abi if f["type"] == "function"}
    record = [i["name"] for i in functions["recordPositionEvent"]["inputs"]]
    assert record == ["logPosition", "eventHash", "positionId", "kind", "payloadJson"]
    assert {"recordPositionEvents", "anchorDigest", "getRecord", "getAnchor", "isRecorded"} <= set(
        functions
    )
