"""Check an `escrowgrid verify --export` file offline: every hash chain and the ledger digest."""

# Standard library only, so an auditor can read all of it and run it anywhere:
#
#     python -m projections.rebuilding.offline_check ledger.jsonl [--upto POSITION]
#
# For each event, in file (log) order:
#     frame(b)  = len(b) as 4 bytes big-endian, then b
#     hash      = sha256(prev || frame(stream uuid, 16 bytes) || frame(version, 8 bytes BE)
#                        || frame(topic, UTF-8) || frame(state) || frame(meta, UTF-8))
#                 where prev is the stream's previous hash, or 32 zero bytes for its first event
#     digest    = sha256(digest || position as 8 bytes big-endian || hash), from 32 zero bytes

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import uuid
from collections.abc import Iterable

ZERO = bytes(32)


def _frame(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def event_hash(prev: bytes | None, line: dict[str, object]) -> bytes:
    """The hash an event must carry, from its exported fields."""
    body = _frame(
        uuid.UUID(str(line["streamId"])).bytes,
        int(str(line["version"])).to_bytes(8, "big"),
        str(line["topic"]).encode(),
        base64.b64decode(str(line["state"])),
        str(line["meta"]).encode(),
    )
    return hashlib.sha256((prev or ZERO) + body).digest()


def check(lines: Iterable[str], upto: int | None = None) -> tuple[int, int, bytes]:
    """(events checked, last position, digest); ValueError names the first bad event."""
    heads: dict[str, tuple[int, bytes]] = {}
    digest, position, count = ZERO, 0, 0
    for text in lines:
        if not text.strip():
            continue
        line = json.loads(text)
        at = int(line["position"])
        if upto is not None and at > upto:
            break
        if at <= position:
            raise ValueError(f"position {at}: not after {position}")
        stream = str(line["streamId"])
        version, prev = heads.get(stream, (0, None))
        if int(line["version"]) != version + 1:
            raise ValueError(f"position {at}: version {line['version']} follows {version}")
        stated_prev = None if line["prevHash"] is None else bytes.fromhex(line["prevHash"])
        if stated_prev != prev:
            raise ValueError(f"position {at}: prevHash is not the stream's previous hash")
        expected = event_hash(prev, line)
        if expected.hex() != line["hash"]:
            raise ValueError(f"position {at}: hash does not match the event's content")
        heads[stream] = (version + 1, expected)
        digest = hashlib.sha256(digest + at.to_bytes(8, "big") + expected).digest()
        position, count = at, count + 1
    return count, position, digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("export", help="file written by `escrowgrid verify --export`")
    parser.add_argument("--upto", type=int, help="stop after this log position")
    args = parser.parse_args(argv)
    with open(args.export, encoding="utf-8") as lines:
        try:
            count, position, digest = check(lines, args.upto)
        except ValueError as exc:
            print(f"FAIL {exc}")
            return 1
    print(f"ok   {count} events, chains intact; ledger digest {position}:{digest.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
