"""The apps `escrowgrid bench floor` serves: the stack's own cost, with none of ours in it.

Run as `python -m escrowgrid.bench.floor_apps CASE PORT WORKERS` (FLOOR_DATABASE_URL for the
query case): Granian as `escrowgrid serve` runs it (ASGI, HTTP/1.1, uvloop), serving one of
CASES. Every case answers GET /ready for the bench's readiness wait.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import msgspec
from litestar import Litestar, get, post
from litestar.datastructures import State
from psycopg_pool import AsyncConnectionPool

CASES = ("asgi", "litestar-get", "litestar-post", "litestar-post-query")
_OK = b'{"ok":true}'


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Granian's floor: a fixed JSON answer, the request body read to its end."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = scope["method"] == "POST"
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_OK))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _OK})


class Body(msgspec.Struct):
    """The shape of a small command: two strings, decoded and validated by Litestar."""

    name: str
    amount: str


@get("/ready")
async def ready() -> dict[str, Any]:
    return {"ok": True}


@post("/x", status_code=201)
async def decode_body(data: Body) -> dict[str, Any]:
    return {"name": data.name, "amount": data.amount}


@post("/query", status_code=201)
async def one_query(data: Body, state: State) -> dict[str, Any]:
    async with state.pool.connection() as conn:
        cur = await conn.execute("SELECT %s::text", (data.name,))
        row = await cur.fetchone()
    return {"name": row[0] if row else None, "amount": data.amount}


def litestar_app() -> Litestar:
    """Litestar with no middleware or dependency of ours; the pool serves the query case."""
    url = os.environ.get("FLOOR_DATABASE_URL")
    pool = AsyncConnectionPool(url, min_size=4, max_size=8, open=False) if url else None

    async def open_pool() -> None:
        if pool is not None:
            await pool.open()

    async def close_pool() -> None:
        if pool is not None:
            await pool.close()

    return Litestar(
        [ready, decode_body, one_query],
        state=State({"pool": pool}),
        on_startup=[open_pool],
        on_shutdown=[close_pool],
        debug=False,
        logging_config=None,
    )


def serve(case: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops

    target, factory = (
        ("escrowgrid.bench.floor_apps:asgi_app", False)
        if case == "asgi"
        else ("escrowgrid.bench.floor_apps:litestar_app", True)
    )
    Granian(
        target=target,
        factory=factory,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=workers,
        loop=Loops.auto,
        log_enabled=False,
    ).serve()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
