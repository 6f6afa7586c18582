"""Every drill: each module of this package may declare `DRILLS`; they are found, not listed.

A new drill is a new module (e.g. `escrowgrid/drill/abuse.py`) with
`DRILLS = (Drill(5, "slow-clients", "...", run),)`: no other file changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from escrowgrid.drill.report import Figures
    from escrowgrid.drill.stage import Stage


@dataclass(frozen=True)
class Drill:
    """A fault under load: `run` plays one round on a stage and returns its figures."""

    number: int  # the numbering; drills run in this order
    name: str  # what `--only` takes
    summary: str
    run: Callable[[Stage], Figures]


class UnknownDrill(ValueError):
    """`--only` named a drill that does not exist."""


def all_drills() -> tuple[Drill, ...]:
    import escrowgrid.drill as package

    found: list[Drill] = []
    for module in pkgutil.iter_modules(package.__path__):
        loaded = importlib.import_module(f"{package.__name__}.{module.name}")
        found.extend(getattr(loaded, "DRILLS", ()))
    return tuple(sorted(found, key=lambda d: (d.number, d.name)))


def select(names: Iterable[str] = ()) -> tuple[Drill, ...]:
    """The named drills (all of them for none), in their order."""
    drills = all_drills()
    wanted = list(names)
    known = {d.name for d in drills}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UnknownDrill(f"unknown drill(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(d for d in drills if not wanted or d.name in wanted)
