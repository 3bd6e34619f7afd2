"""Signed WAHA webhooks through the real gunicorn server on loopback, against the scale data set.

2,000 `session.status` reports, each a connected session of the data set confirming its status
and phone (each with its own event id and a later time), sent by 8 clients at once over kept-
alive connections to gunicorn with 2 workers and the production settings' defaults.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPORTS = 2_000
CLIENTS = 8
WORKERS = 2
TARGET_RATE = 300
TARGET_P99_MS = 50
SECRET = "benchmark-webhook-secret"
REPO = Path(__file__).resolve().parent.parent


def _reports(organizations: int, label: str) -> list[bytes]:
    """One report per connected session, round the data set's organizations and phones."""
    from benchmarks.scale_data import LIVE_SESSIONS

    reports = []
    started = int(time.time() * 1000)
    for n in range(REPORTS):
        organization = 1 + n % organizations
        session = LIVE_SESSIONS[n // organizations % len(LIVE_SESSIONS)]
        slot = (session - 1) // 2 if session <= 4 else session - 3
        phone = f"55119{(organization - 1) * 7 + slot:08d}"
        reports.append(
            json.dumps(
                {
                    "id": f"evt_bench_{label}_{n}",
                    "timestamp": started + n,
                    "event": "session.status",
                    "session": f"org{organization}-{session}",
                    "me": {"id": f"{phone}@c.us", "pushName": "Bench"},
                    "payload": {"status": "WORKING"},
                }
            ).encode()
        )
    return reports


def _database_url() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(port: int, log) -> subprocess.Popen:
    # The test environment's defaults (`tests/env.py`, already in os.environ) cover every
    # variable production requires; these make it the benchmark's server.
    env = {
        **os.environ,
        "DJANGO_ENV_FILE": "/nonexistent.env",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-not-for-production-0123",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": _database_url(),
        "WHATSAPP_WEBHOOK_SECRET": SECRET,
        "DJANGO_LOG_LEVEL": "WARNING",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(WORKERS),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _client(port: int, work: queue.Queue, latencies: list, failures: list) -> None:
    from sessions_app.services.gateway_status import webhook_signature

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        try:
            body = work.get_nowait()
        except queue.Empty:
            break
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Hmac": webhook_signature(body, secret=SECRET),
        }
        started = time.perf_counter()
        connection.request("POST", "/webhooks/whatsapp/", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            failures.append(f"{response.status} {answer[:200]!r}")
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.close()


def _send_all(port: int, reports: list[bytes]) -> tuple[float, list[float], list[str]]:
    work: queue.Queue = queue.Queue()
    for body in reports:
        work.put(body)
    latencies: list[float] = []
    failures: list[str] = []
    clients = [
        threading.Thread(target=_client, args=(port, work, latencies, failures))
        for _ in range(CLIENTS)
    ]
    started = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return time.perf_counter() - started, latencies, failures


def measure_webhook(organizations: int) -> None:
    from django.db import connections

    connections.close_all()
    port = _free_port()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-gunicorn-{os.getpid()}.log"
    with log_path.open("w") as log:
        process = _start_gunicorn(port, log)
    try:
        _wait_until_up(port, process)
        # A first pass warms both workers (imports, connections), then the measured one.
        _send_all(port, _reports(organizations, "warm")[: CLIENTS * 10])
        elapsed, latencies, failures = _send_all(port, _reports(organizations, "run"))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    latencies.sort()
    rate = len(latencies) / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    settings_note = ", ".join(
        f"{name}={os.environ.get(name, 'default')}"
        for name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")
    )
    print(
        f"  webhook: {len(latencies):,} signed reports, {CLIENTS} concurrent, gunicorn "
        f"{WORKERS} workers ({settings_note})",
        flush=True,
    )
    print(f"    {rate:8.0f} requests/s   (target >= {TARGET_RATE})")
    print(f"    {p50:8.1f} ms p50")
    print(f"    {p99:8.1f} ms p99        (target < {TARGET_P99_MS})")
    if failures:
        print(f"    {len(failures)} FAILED, e.g. {failures[0]} (log: {log_path})")
    else:
        log_path.unlink(missing_ok=True)
