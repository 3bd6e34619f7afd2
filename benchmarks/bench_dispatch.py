"""Dispatch throughput: 10,000 due messages over 100 sessions, in-memory gateway, pacing off.

Prints, for 1 and 2 dispatcher processes sharing the queue, messages sent per second and SQL
statements per message (targets: at least 1,000 messages/s with 2 processes, at most 3
statements per message). Runs in a throwaway PostgreSQL database of its own.
"""

from __future__ import annotations

import multiprocessing
import time

from benchmarks import scratch_database, setup_django

MESSAGES = 10_000
SESSIONS = 100
BATCH = 200


def _fill() -> None:
    from django.db import connection

    from sessions_app.gateway.base import SESSION_NAME_KEY

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO organizations (id, name, created_at)
            VALUES ('00000000-0000-0000-0000-000000000001', 'Bench', now());
            INSERT INTO whatsapp_sessions (id, organization_id, phone_number, status,
                session_data, created_at, updated_at, connected_at)
            SELECT md5('s' || i)::uuid, '00000000-0000-0000-0000-000000000001',
                '+551198' || lpad(i::text, 7, '0'), 'connected',
                jsonb_build_object(%(name_key)s::text, 'bench-' || i), now(), now(), now()
            FROM generate_series(1, %(sessions)s) i;
            INSERT INTO whatsapp_groups (id, session_id, group_jid, name, is_active, created_at)
            SELECT md5('g' || i)::uuid, md5('s' || i)::uuid, '1203630' || lpad(i::text, 11, '0')
                || '@g.us', 'Group ' || i, true, now()
            FROM generate_series(1, %(sessions)s) i;
            INSERT INTO workshops (id, organization_id, title, starts_at, whatsapp_session_id,
                created_at, updated_at)
            SELECT md5('w' || i)::uuid, '00000000-0000-0000-0000-000000000001', 'Workshop ' || i,
                now(), md5('s' || i)::uuid, now(), now()
            FROM generate_series(1, %(sessions)s) i;
            INSERT INTO scheduled_whatsapp_messages (id, group_id, workshop_id, body, send_at,
                status, attempts, last_error, claimed_by, gateway_message_id, created_at,
                updated_at)
            SELECT gen_random_uuid(), md5('g' || (i %% %(sessions)s + 1))::uuid,
                md5('w' || (i %% %(sessions)s + 1))::uuid, 'Reminder ' || i,
                now() - interval '1 minute', 'pending', 0, '', '', '', now(), now()
            FROM generate_series(1, %(messages)s) i;
            ANALYZE;
            """,
            {"sessions": SESSIONS, "messages": MESSAGES, "name_key": SESSION_NAME_KEY},
        )


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scheduled_whatsapp_messages SET status = 'pending', attempts = 0, "
            "sent_at = NULL, gateway_message_id = '', claimed_by = '', lease_expires_at = NULL"
        )
        cursor.execute("VACUUM ANALYZE scheduled_whatsapp_messages")


def _worker(start, results) -> None:
    from django.db import connection

    from scheduling.services import DispatchOptions, dispatch_due_messages, dispatcher_id
    from sessions_app.gateway import get_gateway

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    options = DispatchOptions(batch_size=BATCH, send_interval_seconds=0, send_jitter_seconds=0)
    gateway = get_gateway("sessions_app.gateway.locmem.GatewayBackend")
    worker = dispatcher_id()
    sent = 0
    connection.ensure_connection()
    start.wait()
    with connection.execute_wrapper(count):
        while True:
            result = dispatch_due_messages(worker=worker, gateway=gateway, options=options)
            sent += result.sent
            if not result.claimed:
                break
    connection.close()
    results.put((sent, statements))


def _measure(processes: int) -> None:
    from django.db import connection, connections

    _reset()
    connections.close_all()  # each forked process opens its own connection
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(start, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    outcomes = [results.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - began
    for worker in workers:
        worker.join()
    sent = sum(s for s, _ in outcomes)
    statements = sum(n for _, n in outcomes)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM scheduled_whatsapp_messages WHERE status = 'sent'")
        (recorded,) = cursor.fetchone()
    check = "ok" if sent == recorded == MESSAGES else f"MISMATCH sent={sent} recorded={recorded}"
    print(
        f"  {processes} process{'es' if processes > 1 else '  '}  "
        f"{MESSAGES / elapsed:8.0f} messages/s  {statements / MESSAGES:5.3f} statements/message  "
        f"({elapsed:.2f} s, {check})",
        flush=True,
    )


def main() -> None:
    setup_django(quiet_logger="scheduling")
    from django.db import connection

    if connection.vendor != "postgresql":
        print("bench_dispatch: needs PostgreSQL (set DATABASE_URL); skipped")
        return
    with scratch_database("dispatch"):
        _fill()
        print(
            f"  {MESSAGES} due messages over {SESSIONS} sessions, batch {BATCH}, locmem gateway, "
            "pacing off (targets: >= 1000 messages/s with 2 processes, <= 3 statements/message)"
        )
        for processes in (1, 2):
            _measure(processes)


if __name__ == "__main__":
    main()
