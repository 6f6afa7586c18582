"""Every write route has an action name for its refusals, one the command layer also uses."""

from __future__ import annotations

import re
from pathlib import Path

from litestar import Litestar

from escrowgrid.api.catalog import AssetController, AssetTemplateController
from escrowgrid.api.institutions import InstitutionController
from escrowgrid.api.positions import PositionController
from escrowgrid.api.refusal_audit import ACTIONS, COMMAND_METHODS

HANDLERS = Path(__file__).resolve().parents[2] / "escrowgrid" / "application"


def test_each_write_route_names_the_command_it_runs() -> None:
    app = Litestar(
        [InstitutionController, AssetTemplateController, AssetController, PositionController]
    )
    writes = {
        str(handler.operation_id)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if set(handler.http_methods) & COMMAND_METHODS
    }
    assert writes == set(ACTIONS)
    source = "".join(path.read_text() for path in sorted(HANDLERS.glob("*.py")))
    used = set(re.findall(r'_command\(ctx, "([a-z_.]+)"', source))
    assert set(ACTIONS.values()) == used
