"""Benchmarks: `python -m hack.bench.scale` and `python -m hack.bench.shards` (--help)."""
