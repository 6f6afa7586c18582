"""Every route's dependencies resolve one at a time: no task group per request."""

from __future__ import annotations

from tests.support.routes import built_litestar


def test_no_route_resolves_two_dependencies_of_one_level() -> None:
    # Litestar resolves the providers of one dependency level concurrently: an anyio task group
    # and a task per provider, on every request (3-4% of a worker's samples on reads, issue 15).
    # The providers are chained so each level has one, which Litestar awaits inline.
    litestar = built_litestar()
    grouped: list[str] = []
    routes = 0
    for route in litestar.routes:
        for method, (_, kwargs_model) in getattr(route, "route_handler_map", {}).items():
            routes += 1
            for level in kwargs_model.dependency_batches:
                if len(level) > 1:
                    names = sorted(d.key for d in level)
                    grouped.append(f"{method} {route.path}: {names}")
    assert routes > 20
    assert not grouped, f"dependency levels resolved in a task group: {grouped}"
