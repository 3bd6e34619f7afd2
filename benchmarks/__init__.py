"""Benchmarks: `make bench` runs every `benchmarks/bench_*.py` module's `main()` in name order.

Each module sets Django up itself and prints its own figures. The runner first loads the test
environment's defaults (`tests/env.py`: production-like settings, the in-memory gateway), so
a benchmark measures what the tests exercise, with DEBUG's query log off.
"""

import logging
import os


def setup_django(*, quiet_logger: str) -> None:
    """Django set up for timing: DEBUG's per-statement bookkeeping off, `quiet_logger` silenced."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key-not-for-production-0123")
    import django
    from django.apps import apps

    import tests.env  # noqa: F401  (the harmless defaults production settings require)

    if not apps.ready:
        django.setup()
    from django.conf import settings

    settings.DEBUG = False
    logging.getLogger(quiet_logger).setLevel(logging.WARNING)
