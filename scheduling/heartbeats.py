"""The dispatcher's heartbeat: one row per dispatcher, written once per pass."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from scheduling.models import DispatcherHeartbeat

# A dispatcher not heard from for this long is gone (a stopped process, a lost machine).
HEARTBEAT_RETENTION = dt.timedelta(days=7)

_UPSERT_SQL = f"""
    WITH clock AS (SELECT COALESCE(%(now)s::timestamptz, statement_timestamp()) AS now),
    pruned AS (
        DELETE FROM {DispatcherHeartbeat._meta.db_table}
        WHERE last_pass_at < (SELECT now FROM clock) - %(retention)s * interval '1 second'
            AND dispatcher_id <> %(worker)s
    )
    INSERT INTO {DispatcherHeartbeat._meta.db_table} AS h
        (dispatcher_id, first_pass_at, last_pass_at, passes, sent, retried, failed)
    SELECT %(worker)s, now, now, 1, %(sent)s, %(retried)s, %(failed)s FROM clock
    ON CONFLICT (dispatcher_id) DO UPDATE SET
        last_pass_at = GREATEST(h.last_pass_at, EXCLUDED.last_pass_at),
        passes = h.passes + 1,
        sent = h.sent + EXCLUDED.sent,
        retried = h.retried + EXCLUDED.retried,
        failed = h.failed + EXCLUDED.failed
"""


def dispatcher_heartbeat_record(
    *, worker: str, sent: int = 0, retried: int = 0, failed: int = 0, now: dt.datetime | None = None
) -> None:
    """Note a finished pass of `worker`, in one statement, on the database's clock (`now` in
    tests), so dispatchers on machines whose clocks drift still agree."""
    if not worker:
        raise ValueError("A dispatcher heartbeat needs the dispatcher's id.")
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_SQL,
            {
                "now": now,
                "retention": HEARTBEAT_RETENTION.total_seconds(),
                "worker": worker,
                "sent": sent,
                "retried": retried,
                "failed": failed,
            },
        )
