"""Queries answered from the event log itself rather than from a read model."""
