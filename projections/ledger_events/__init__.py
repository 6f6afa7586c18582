"""Read model `ledger_events` (the ledger feed): projector, queries and answer shapes."""
