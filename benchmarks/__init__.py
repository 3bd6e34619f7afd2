"""Benchmarks: `make bench` runs every `benchmarks/bench_*.py` module's `main()` in name order.

Each module sets Django up itself and prints its own figures. The runner first loads the test
environment's defaults (`tests/env.py`: production-like settings, the in-memory gateway), so
a benchmark measures what the tests exercise, with DEBUG's query log off.
"""
