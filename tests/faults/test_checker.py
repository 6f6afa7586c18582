"""The checker itself: it passes an honest history and names each kind of broken promise.

Guards: each mutation below is a failure the drills must be able to see (a checker that cannot
fail proves nothing). The history and the log are real: a short load on a real service.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import psycopg

from escrowgrid.drill.checker import (
    Verdict,
    _read_log,
    check,
    check_answers,
    check_commands,
    check_lifecycles,
)
from escrowgrid.drill.history import Attempt, History, Outcome
from escrowgrid.drill.stage import Script, Stage, fresh_service, play


def _quiet(script: Script) -> None:
    script.sleep_until(script.seconds)


def test_the_checker_passes_an_honest_history_and_names_each_broken_promise(
    stage: Callable[[float], Stage],
) -> None:
    on = stage(2)
    with fresh_service(on, "checker", workers=1) as (service, dsn, env):
        history = play(on, "checker", service, _quiet)
        verdict = check(history, dsn, env)
        assert verdict.ok, verdict.violations
        assert verdict.acknowledged > 10 and verdict.lost == verdict.duplicated == 0
        log = _read_log(dsn)
        acked = [c for c in history.commands if c.outcome is Outcome.ACKNOWLEDGED]
        move = next(c for c in acked if c.kind == "move")
        mine = [e for e in log if e.request_id and e.request_id.startswith(move.key + ".")]
        assert len(mine) == 1

        lost = Verdict()
        check_commands(history, [e for e in log if e not in mine], lost)
        assert lost.lost == 1 and "answered 2xx but not in the log" in lost.violations[0]

        twice = Verdict()
        check_commands(history, [*log, mine[0]], twice)
        assert twice.duplicated == 1 and "in the log 2 times" in twice.violations[0]

        refused = History(history.seed, [dataclasses.replace(move, attempts=[])])
        refused.commands[0].attempts.append(Attempt("x.1", 0, 1, status=400, error="no"))
        written = Verdict()
        check_commands(refused, log, written)
        assert any("refused, yet 1 event(s)" in v for v in written.violations)
        assert any("honest command refused" in v for v in written.violations)

        answers = History(history.seed, [dataclasses.replace(move, attempts=[])])
        answers.commands[0].attempts += [
            Attempt("x.1", 0, 1, status=500, error="Internal server error"),
            Attempt("x.2", 1, 2, status=503),
            Attempt("x.3", 2, 3, status=503, retry_after="1"),
        ]
        fives = Verdict()
        check_answers(answers, fives)
        assert len(fives.violations) == 2
        assert "500" in fives.violations[0] and "without Retry-After" in fives.violations[1]

        replayed = Verdict()
        check_lifecycles([*log, mine[0]], replayed)  # the same move applied twice
        assert any("not allowed" in v for v in replayed.violations), replayed.violations

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE positions SET holder_reference = 'tampered'")
        tampered = check(history, dsn, env)
        assert any("escrowgrid verify exited 1" in v for v in tampered.violations)
