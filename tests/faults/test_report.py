"""A drill that cannot run here (no root for drill 7's tmpfs, no schemathesis for drill 6) says
why in its row and fails nothing."""

from __future__ import annotations

from escrowgrid.drill.report import Figures, row, totals


def test_a_skipped_round_says_why_and_fails_nothing() -> None:
    skipped = Figures.skipped_round("disk-full", 7, 1, "mounting the small volume needs root")
    assert skipped.ok
    assert row(skipped) == "| disk-full | 7 | 1 | skipped: mounting the small volume needs root |"
    assert totals([skipped]).startswith("0 round(s) (1 skipped), 0 s under load")
