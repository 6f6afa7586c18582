"""Every route guard runs on the event loop: Litestar sends a sync guard to a worker thread."""

from __future__ import annotations

import inspect

from escrowgrid.api.media_type import require_json_body
from tests.support.routes import built_litestar


def test_every_guard_of_every_route_is_a_coroutine_function() -> None:
    # A sync guard costs a thread hop and a loop wake-up on every request (docs/performance.md,
    # issue 15's second wave); the guards never block, so they must all be `async def`.
    litestar = built_litestar()
    sync: set[str] = set()
    checked = 0
    for route in litestar.routes:
        for handler in getattr(route, "route_handlers", []):
            for layer in handler.ownership_layers:
                for guard in layer.guards or []:
                    checked += 1
                    if not inspect.iscoroutinefunction(guard):
                        sync.add(f"{guard.__module__}.{guard.__qualname__}")
    assert checked > 0
    assert not sync, f"sync guards (run in a thread per request): {sorted(sync)}"


def test_the_json_body_guard_runs_on_the_routes_that_take_a_body_and_no_other() -> None:
    # Litestar copies the route handler for each guard on every request (docs/performance.md,
    # issue 15's third wave): a GET must run no guard it does not need.
    litestar = built_litestar()
    wrong: list[str] = []
    body_routes = 0
    for route in litestar.routes:
        for handler in getattr(route, "route_handlers", []):
            takes_body = "data" in handler.parsed_fn_signature.parameters
            body_routes += takes_body
            guarded = any(
                require_json_body in (layer.guards or []) for layer in handler.ownership_layers
            )
            if guarded != takes_body:
                wrong.append(f"{sorted(handler.http_methods)} {route.path} body={takes_body}")
    assert body_routes == 7
    assert not wrong, f"routes where the JSON body guard is missing or needless: {wrong}"
