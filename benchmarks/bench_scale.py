"""The staff pages, the webhook and the sweep on the scale data set (`benchmarks.scale_data`).

Builds the data set at a tenth of `BENCH_SCALE` and measures the staff pages (for their query
counts), then at `BENCH_SCALE` (default 1: 20,000 sessions, a million messages) and measures
the pages, the webhook through gunicorn and the sweep. Each size lives in a throwaway database
of its own, named after DATABASE_URL's.
"""

from __future__ import annotations

import time

from benchmarks import scratch_database, setup_django


def _build(scale: float):
    from django.db import connection

    from benchmarks.scale_data import build_scale_data

    started = time.perf_counter()
    with connection.cursor() as cursor:
        size = build_scale_data(cursor, scale=scale)
    elapsed = time.perf_counter() - started
    print(
        f"  data set at scale {scale:g}: {size.organizations:,} organizations, "
        f"{size.organizations * 10:,} sessions, {size.messages:,} messages, "
        f"{size.workshops:,} workshops, {size.webinars:,} webinars, {size.campaigns:,} "
        f"campaigns, {size.organizations * 20:,} groups, {size.organizations * 2:,} migrations"
        f" built in {elapsed:.1f} s (target < 60 s)",
        flush=True,
    )
    return size


def main() -> None:
    setup_django(quiet_logger="sessions_app")
    from django.db import connection

    from benchmarks import staff_pages, sweep_load, webhook_load
    from benchmarks.scale_data import scale_from_environment

    if connection.vendor != "postgresql":
        print("bench_scale: needs PostgreSQL (set DATABASE_URL); skipped")
        return
    scale = scale_from_environment()
    with scratch_database("scale_tenth"):
        _build(scale / 10)
        tenth = staff_pages.measure_pages(staff_pages.staff_users())
    with scratch_database("scale"):
        size = _build(scale)
        full = staff_pages.measure_pages(staff_pages.staff_users())
        print(f"  staff pages, median of {staff_pages.ROUNDS} requests in-process:")
        staff_pages.print_pages(full, tenth)
        webhook_load.measure_webhook(size.organizations)
        # Last: it reconnects phones, changing the data set.
        sweep_load.measure_sweep(size.organizations)


if __name__ == "__main__":
    main()
