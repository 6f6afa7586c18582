"""Read model `audit_events` (the audit trail, refused commands too): projector, queries, shapes."""
