"""Fault drills: load with idempotent commands, inject faults, check the history."""
