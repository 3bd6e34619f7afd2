"""Benchmarks: `make bench` runs every `benchmarks/bench_*.py` module's `main()` in name order.

Each module sets Django up itself and prints its own figures.
"""
