"""What a worker does once its services have started, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from escrowgrid.api.app import create_app
from escrowgrid.config import load_settings


def test_a_started_worker_leaves_what_it_built_out_of_the_collector_s_sight(
    database_url: str,
) -> None:
    """Full collections walked every object of the app and its services (about 60 ms each in
    `bench http`); after start-up those are frozen, and a collection walks only the rest."""
    settings = load_settings({
        "STORE_BACKEND": "postgres", "DATABASE_URL": database_url,
        "ROOT_API_KEY": "worker-start-root-key", "RATE_LIMIT_ENABLED": "false",
        "PROJECTIONS_INLINE": "false",
    })  # fmt: skip
    gc.unfreeze()
    app = create_app(settings)

    async def go() -> tuple[int, int, list[str]]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: list[str] = []
        started = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])
            if message["type"] == "lifespan.startup.complete":
                started.set()

        before = gc.get_freeze_count()
        await inbox.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

        async def serve() -> None:
            await app(scope, inbox.get, send)

        task = asyncio.create_task(serve())
        await asyncio.wait_for(started.wait(), 30)
        frozen = gc.get_freeze_count()
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 30)
        return before, frozen, sent

    try:
        before, frozen, sent = asyncio.run(go())
    finally:
        gc.unfreeze()  # the test process's own collector as it was
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert before == 0 and frozen > 10_000
