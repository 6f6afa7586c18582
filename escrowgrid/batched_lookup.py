"""Concurrent lookups by key that share one query: those asked for while every query slot is
busy go together in the next one."""

# Never answered from a query that started before the lookup was asked for: a row changed in
# between (a key revoked, an event appended) is always seen, which is what lets the key lookup
# batch at all (revocation is effective on the very next request).

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from escrowgrid.background import cancel_and_wait

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# One query for many keys: what it found, by key (a key it did not find may be left out).
Fetch = Callable[[list[K]], Awaitable[Mapping[K, V]]]


@dataclass(slots=True)
class _Want(Generic[K, V]):
    keys: Sequence[K]
    future: asyncio.Future[dict[K, V]]


class BatchedLookup(Generic[K, V]):
    """`in_flight` tasks, each taking every lookup queued by the time it is free into one fetch."""

    def __init__(
        self, fetch: Fetch[K, V], name: str, *, max_keys: int = 1000, in_flight: int = 4
    ) -> None:
        self._fetch = fetch
        self._name = name  # of its tasks, for debugging: name-0, name-1, ...
        self._max_keys = max_keys
        self._in_flight = in_flight
        self._queue: asyncio.Queue[_Want[K, V]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"{self._name}-{i}")
                for i in range(self._in_flight)
            ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def get(self, keys: Sequence[K]) -> dict[K, V]:
        """What the fetch found for these keys; not started, a fetch of their own."""
        if not self._tasks:
            return _only(keys, await self._fetch(list(dict.fromkeys(keys))))
        future: asyncio.Future[dict[K, V]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Want(keys, future))
        return await future

    async def _run(self) -> None:
        while True:
            wants = [await self._queue.get()]
            count = len(wants[0].keys)
            while count < self._max_keys and not self._queue.empty():
                wants.append(self._queue.get_nowait())
                count += len(wants[-1].keys)
            wanted = list(dict.fromkeys(key for want in wants for key in want.keys))
            try:
                found = await self._fetch(wanted)
            except Exception as exc:  # each waiter gets the failure; the lookup carries on
                for want in wants:
                    if not want.future.done():
                        want.future.set_exception(exc)
                continue
            for want in wants:
                if not want.future.done():
                    want.future.set_result(_only(want.keys, found))


def _only(keys: Sequence[K], found: Mapping[K, V]) -> dict[K, V]:
    return {key: found[key] for key in keys if key in found}
