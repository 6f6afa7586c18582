"""Benchmarks: measured figures for docs/performance.md, never timed assertions in tests."""
