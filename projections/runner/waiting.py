"""Read-your-writes: wait until every projection has passed a command's log position."""

# Wake-ups come from the runner of this process (signals.BUS) and, for runners in other
# processes, from LISTEN on `escrowgrid_projections`; nothing polls. The waiter keeps the
# latest known position of each projection; `wait_for` returns as soon as the smallest of them
# reaches the position asked for.

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from projections.registry import FOLLOWED_NAMES
from projections.runner import tracking
from projections.runner.connect import close_quietly, connect
from projections.runner.runner import MAX_BACKOFF, PROJECTIONS_CHANNEL
from projections.runner.signals import BUS

log = logging.getLogger("escrowgrid.projections")
_PRUNE_AT = 10_000  # abandoned waits (timed out while projections were stalled) are dropped


@dataclass
class _Group:
    reached: int = 0
    heap: list[tuple[int, int, asyncio.Future[bool]]] = field(default_factory=list)


class ProjectionWaiter:
    """Tracks every projection's position and wakes callers waiting for one to be reached."""

    def __init__(self, names: Iterable[str] | None = None) -> None:
        self._names = tuple(names or FOLLOWED_NAMES)
        self._positions = dict.fromkeys(self._names, 0)
        # One queue of waits per set of projections waited for (the set of all of them first):
        # the position that whole set has passed, and its waits, smallest position first.
        self._groups: dict[tuple[str, ...], _Group] = {self._names: _Group()}
        self._order = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def reached(self) -> int:
        """The position every projection has passed, as far as this waiter knows."""
        return self._groups[self._names].reached

    async def start(
        self, pool_or_conninfo: AsyncConnectionPool | str, *, ready_timeout: float = 5.0
    ) -> None:
        """Listen for progress on a dedicated connection; returns once positions are known
        (or after `ready_timeout` seconds without a database: it keeps trying)."""
        if self._task is not None:
            return
        conninfo = await _conninfo(pool_or_conninfo)
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = BUS.subscribe(self._from_other_thread)
        self._task = asyncio.create_task(self._listen(conninfo), name="projection-waiter")
        with contextlib.suppress(TimeoutError):
            # Wait a little for the first read of the tracking table; without a database the
            # waiter still starts, and wait_for simply returns False until it is reachable.
            async with asyncio.timeout(ready_timeout):
                await self._ready.wait()

    async def stop(self) -> None:
        """Stop listening; pending waits return False."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=10.0)  # never hang a shutdown
            self._task = None
        for group in self._groups.values():
            for _, _, future in group.heap:
                if not future.done():
                    future.set_result(False)
            group.heap.clear()

    async def wait_for(
        self, position: int, timeout: float = 5.0, names: Iterable[str] | None = None
    ) -> bool:
        """True once every projection (or every one of `names`) has passed `position`; False
        after `timeout` seconds."""
        if names is not None:
            names = tuple(names)
            if not names:
                return True
        group = self._group(names)
        if position <= group.reached:
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if len(group.heap) > _PRUNE_AT:
            group.heap = [entry for entry in group.heap if not entry[2].done()]
            heapq.heapify(group.heap)
        heapq.heappush(group.heap, (position, next(self._order), future))
        try:
            # asyncio.timeout: on 3.11 wait_for can swallow a cancellation racing its timeout.
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            return position <= group.reached
        finally:
            if not future.done():
                future.cancel()  # stays in the heap until its position comes or a prune

    def _group(self, names: Iterable[str] | None) -> _Group:
        key = self._names if names is None else tuple(sorted(set(names)))
        group = self._groups.get(key)
        if group is None:
            unknown = [n for n in key if n not in self._positions]
            if unknown:
                raise ValueError(f"not followed by this waiter: {', '.join(unknown)}")
            group = self._groups[key] = _Group(min(self._positions[n] for n in key))
        return group

    # -- updates ------------------------------------------------------------------------------

    def _from_other_thread(self, positions: Mapping[str, int]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._update(positions)
        else:
            loop.call_soon_threadsafe(self._update, dict(positions))

    def _update(self, positions: Mapping[str, int]) -> None:
        for name, position in positions.items():
            if name in self._positions and position > self._positions[name]:
                self._positions[name] = position
        for key, group in self._groups.items():
            reached = min(self._positions[n] for n in key)
            if reached <= group.reached:
                continue
            group.reached = reached
            while group.heap and group.heap[0][0] <= reached:
                _, _, future = heapq.heappop(group.heap)
                if not future.done():
                    future.set_result(True)

    async def _listen(self, conninfo: str) -> None:
        backoff = 0.5
        app = f"escrowgrid-waiter:{os.getpid()}"
        while True:
            conn: AsyncConnection[Any] | None = None
            try:
                conn = await connect(conninfo, app)
                await conn.execute(f"LISTEN {PROJECTIONS_CHANNEL}")
                # Read after LISTEN: progress committed in between is in one or the other.
                self._update(await tracking.read_positions(conn, self._names))
                self._ready.set()
                backoff = 0.5
                async for notify in conn.notifies():
                    self._update(_parse(notify.payload))
            except Exception as exc:  # keep listening whatever happens; waits time out meanwhile
                if not isinstance(exc, psycopg.Error | OSError):
                    log.exception("projection waiter failed; reconnecting")
                log.warning("projection waiter reconnecting", extra={"error": str(exc)})
                await close_quietly(conn)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except asyncio.CancelledError:
                await close_quietly(conn)
                raise


async def _conninfo(pool_or_conninfo: AsyncConnectionPool | str) -> str:
    if isinstance(pool_or_conninfo, str):
        return pool_or_conninfo
    info: Any = pool_or_conninfo.conninfo  # a string, or a (possibly async) function giving one
    if callable(info):
        info = info()
        if inspect.isawaitable(info):
            info = await info
    return str(info)


def _parse(payload: str) -> dict[str, int]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int)}
