"""The append-only event log in PostgreSQL: appending, reading, following, verifying."""
