"""BatchedLookup on its own: lookups share fetches, yet none is answered by a fetch that started
before it was asked for (what lets authentication batch and still see a revocation at once).
The fetch here is a dict behind an asyncio gate, standing in for one statement."""

from __future__ import annotations

import asyncio

import pytest

from escrowgrid.batched_lookup import BatchedLookup


class Table:
    """Rows by key; each fetch records its keys and, when gated, waits for the gate."""

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.fetches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def fetch(self, keys: list[str]) -> dict[str, int]:
        self.fetches.append(keys)
        snapshot = {k: self.rows[k] for k in keys if k in self.rows}  # read at the start
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return snapshot


def test_lookups_queued_while_the_slots_are_busy_share_one_fetch() -> None:
    async def go() -> None:
        table = Table({"a": 1, "b": 2, "c": 3})
        table.gate = asyncio.Event()
        lookup = BatchedLookup(table.fetch, "test", in_flight=1)
        await lookup.start()
        try:
            first = asyncio.create_task(lookup.get(["a"]))
            await table.entered.wait()  # the only slot is busy from here on
            rest = [asyncio.create_task(lookup.get([k])) for k in ("b", "c", "b", "zz")]
            await asyncio.sleep(0)
            table.gate.set()
            answers = [await first, *[await t for t in rest]]
        finally:
            await lookup.stop()
        assert answers == [{"a": 1}, {"b": 2}, {"c": 3}, {"b": 2}, {}]
        assert table.fetches == [["a"], ["b", "c", "zz"]]  # one fetch for the four, deduplicated

    asyncio.run(go())


def test_a_lookup_is_never_answered_by_a_fetch_that_started_before_it() -> None:
    async def go() -> None:
        table = Table({"key": 1})
        table.gate = asyncio.Event()
        lookup = BatchedLookup(table.fetch, "test", in_flight=1)
        await lookup.start()
        try:
            before = asyncio.create_task(lookup.get(["key"]))
            await table.entered.wait()  # that fetch has read the row
            table.rows["key"] = 2  # changed (a key revoked) after it started
            after = asyncio.create_task(lookup.get(["key"]))
            await asyncio.sleep(0)
            table.gate.set()
            assert await before == {"key": 1}
            assert await after == {"key": 2}
        finally:
            await lookup.stop()
        assert table.fetches == [["key"], ["key"]]

    asyncio.run(go())


def test_a_failed_fetch_fails_its_lookups_and_the_next_ones_go_on() -> None:
    async def go() -> None:
        calls = 0

        async def flaky(keys: list[str]) -> dict[str, int]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionError("database down")
            return dict.fromkeys(keys, 7)

        lookup = BatchedLookup(flaky, "test", in_flight=1)
        await lookup.start()
        try:
            with pytest.raises(ConnectionError):
                await lookup.get(["a"])
            assert await lookup.get(["a"]) == {"a": 7}
        finally:
            await lookup.stop()

    asyncio.run(go())


def test_not_started_each_lookup_fetches_for_itself() -> None:
    async def go() -> None:
        table = Table({"a": 1})
        lookup = BatchedLookup(table.fetch, "test")
        assert await lookup.get(["a", "a", "b"]) == {"a": 1}
        assert table.fetches == [["a", "b"]]

    asyncio.run(go())
