"""Parley's load generator: `python -m bench` (see docs/benchmarks.md)."""
