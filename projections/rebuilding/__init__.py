"""Rebuilding read models beside the live tables and checking them against the log (verify)."""
