"""Read model `ledger_digest`: projector and its query."""
