"""The errors a command raises besides the domain's own."""

from __future__ import annotations


class CommandError(Exception):
    """A command refused for a reason outside the domain rules."""


class NotFound(CommandError):
    """The addressed aggregate does not exist (or is not of the expected kind)."""


class Forbidden(CommandError):
    """The actor may not do this (another institution's data, or a read-only key)."""
