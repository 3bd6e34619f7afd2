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
def scratch_database(purpose: str) -> Iterator[str]:
    """A new, migrated database for the block, named after the configured one
    (`<DATABASE_URL's name>_bench_<purpose>_<pid>`), and dropped after it.

    A database that already has the name is left alone and the next free name taken: only the
    database this block created is ever dropped. Yields the database's name.
    """
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    configured = settings.DATABASES["default"]["NAME"]
    name = _create_database(connection, f"{configured}_bench_{purpose}")
    connections.close_all()
    settings.DATABASES["default"]["NAME"] = connection.settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield name
    finally:
        # Connections a benchmark opened would keep the database from being dropped.
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = connection.settings_dict["NAME"] = configured
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE {connection.ops.quote_name(name)}")


def _create_database(connection, stem: str) -> str:
    """Create `<stem>_<pid>` (`<stem>_<pid>_2`… when taken) and return its name."""
    from django.db import DatabaseError

    for attempt in range(1, 100):
        tail = f"_{os.getpid()}" + (f"_{attempt}" if attempt > 1 else "")
        # PostgreSQL cuts names at 63 bytes: cut the stem here so the name dropped is the one made.
        name = stem[: 63 - len(tail)] + tail
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                continue
            try:
                cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
            except DatabaseError:
                continue  # created by someone else in between: never ours to drop
            return name
    raise RuntimeError(f"No free database name like {stem!r}.")
