"""24 simultaneous moves on one position over HTTP: one terminal move wins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.api import Api

TARGETS = ["RELEASED", "CANCELLED", "EXPIRED"]


def test_one_terminal_move_wins(api: Api) -> None:
    w = api.world()
    admin: Api = w["admin"]
    for _ in range(3):
        pos = admin.position(w["asset"]["id"])
        admin.ok(admin.move(pos["id"], "FUNDED"))

        def attempt(i: int, pid: str = pos["id"]) -> httpx.Response:
            with httpx.Client(base_url=admin.base_url, headers=dict(admin.http.headers)) as c:
                return c.post(f"/positions/{pid}/transition", json={"toState": TARGETS[i % 3]})

        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(attempt, range(24)))
        statuses = [r.status_code for r in results]
        assert all(s < 500 for s in statuses), statuses
        final = admin.ok(admin.get(f"/positions/{pos['id']}"))
        winners = [r for r in results if r.status_code == 200 and len(r.json()["events"]) == 2]
        # Answers of 200 are the winner or no-op repeats of the winner's state.
        assert len({r.json()["state"] for r in results if r.status_code == 200}) == 1
        assert winners and all(r.json()["state"] == final["state"] for r in winners)
        assert all(s in (200, 400, 409) for s in statuses)
        ledger = admin.ok(admin.get("/ledger-events", params={"positionId": pos["id"]}))
        terminal = [e for e in ledger if e["newState"] in TARGETS]
        assert len(terminal) == 1 and terminal[0]["newState"] == final["state"]
