"""The sweep (`migrate_sessions --auto`) on the scale data set: idle, then 500 reconnected phones.

Idle: nothing is left to move, and the sweep only looks. Then 500 organizations' fifth phone
drops and comes back as a new connected session, made connected by `QuerySet.update` (no
signal), which the sweep has to finish: every phone's workshops, webinars, campaigns, groups and
pending messages move, each phone in its own transaction.
"""

from __future__ import annotations

import statistics
import time

PHONES = 500
ROUNDS = 5
TARGET_IDLE_MS = 20
TARGET_PER_PHONE_MS = 5
RECONNECTED_SESSION = 5  # the data set's first single-session connected phone
NEW_SESSION = 11


def _counting():
    from django.db import connection

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    return connection.execute_wrapper(count), statements


def _sweep():
    from sessions_app.services.migration import sweep_references

    wrapper, statements = _counting()
    with wrapper:
        started = time.perf_counter()
        report = sweep_references()
        elapsed = time.perf_counter() - started
    return elapsed, statements[0], report


def _reconnect(first: int, last: int) -> None:
    """Organizations `first`..`last`: session 5 disconnects; a new connected session of its phone
    appears, written straight to the table as a gateway sync that sends no signal would."""
    from django.db import connection

    from benchmarks.scale_data import _id, sql_strings
    from sessions_app.gateway.base import SESSION_NAME_KEY

    name_key = sql_strings([SESSION_NAME_KEY])

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE whatsapp_sessions SET status = 'disconnected', disconnected_at = now()
            WHERE id IN (SELECT {_id("session", "o", str(RECONNECTED_SESSION))}
                         FROM generate_series({first}, {last}) AS o);
            INSERT INTO whatsapp_sessions (id, organization_id, phone_number, status,
                session_data, connected_at, created_at, updated_at)
            SELECT {_id("session", "o", str(NEW_SESSION))}, s.organization_id, s.phone_number,
                   'connected', jsonb_build_object({name_key}, 'org' || o || '-new'),
                   now(), now(), now()
            FROM generate_series({first}, {last}) AS o
            JOIN whatsapp_sessions s
              ON s.id = {_id("session", "o", str(RECONNECTED_SESSION))};
            ANALYZE whatsapp_sessions;
            """
        )


def measure_sweep(organizations: int) -> None:
    phones = min(PHONES, organizations)
    _sweep()  # warm-up
    idle = []
    idle_statements = 0
    for _ in range(ROUNDS):
        elapsed, idle_statements, report = _sweep()
        assert not report.results and not report.failures, report
        idle.append(elapsed)
    print(f"  sweep (migrate_sessions --auto) on the data set, median of {ROUNDS} idle runs:")
    print(
        f"    idle scan  {statistics.median(idle) * 1000:8.1f} ms  (target < {TARGET_IDLE_MS} ms)"
        f"   {idle_statements} statements"
    )
    # A small batch first: the statements per phone must not depend on how many there are.
    first = 1
    for batch in (phones // 10, phones):
        _reconnect(first, first + batch - 1)
        first += batch
        elapsed, statements, report = _sweep()
        moved = sum(result.total for result in report.results)
        check = "ok" if len(report.results) == batch and not report.failures else "MISMATCH"
        print(
            f"    {batch:4d} reconnected phones: {elapsed:6.2f} s, {len(report.results)} "
            f"migrations, {moved:,} rows moved ({check})"
        )
        print(
            f"         per phone {elapsed / batch * 1000:8.2f} ms  "
            f"(target <= {TARGET_PER_PHONE_MS} ms)   "
            f"{(statements - idle_statements) / batch:.1f} statements (target: the same for "
            "any number of phones)",
            flush=True,
        )
