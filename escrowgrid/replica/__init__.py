"""An optional streaming replica for queries: how far it has replayed, when reads may use it."""
