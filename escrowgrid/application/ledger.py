"""All command handlers behind one object: what the API, the CLI and the tests call."""

from __future__ import annotations

from escrowgrid.application.catalog import CatalogCommands
from escrowgrid.application.institutions import InstitutionCommands
from escrowgrid.application.positions import PositionCommands


class Ledger(InstitutionCommands, CatalogCommands, PositionCommands):
    """Command handlers. Each loads what it needs, lets the domain decide, and appends."""
