"""Benchmarks: `make bench` runs every `benchmarks/bench_*.py` module's `main()` in name order.

Each module sets Django up itself and prints its own figures. The runner first loads the test
environment's defaults (`tests/env.py`: production-like settings, the in-memory gateway), so
a benchmark measures what the tests exercise, with DEBUG's query log off.
"""

import contextlib
import logging
import os
from collections.abc import Iterator


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


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[None]:
    """A new, migrated database beside the configured one for the block, dropped after it."""
    from django.conf import settings
    from django.db import connection, connections

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"{name}_{os.getpid()}"
    old_name = settings.DATABASES["default"]["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        # Connections a benchmark opened would keep the database from being dropped.
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)
