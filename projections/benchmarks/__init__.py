"""Read-side benchmarks (figures for docs/read-side.md), each on its own durable PostgreSQL."""
