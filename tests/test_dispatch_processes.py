"""Real `manage.py process_message_queue` processes sharing one queue, sending to a fake WAHA."""

import collections
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from scheduling.models import ScheduledWhatsAppMessage, Workshop
from sessions_app.models import Organization, WhatsAppGroup, WhatsAppSession
from tests.fake_waha import FakeWaha

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("postgres_only"),
    pytest.mark.slow,
]
ROOT = Path(__file__).resolve().parent.parent
Status = ScheduledWhatsAppMessage.Status


def make_queue(count: int, *, sessions: int) -> list[ScheduledWhatsAppMessage]:
    organization = Organization.objects.create(name="Aurora")
    now = timezone.now()
    events = []
    for index in range(sessions):
        session = WhatsAppSession.objects.create(
            organization=organization,
            phone_number=f"+55119876{index:05d}",
            status=WhatsAppSession.Status.CONNECTED,
            session_data={"session_name": f"aurora-{index}"},
        )
        group = WhatsAppGroup.objects.create(
            session=session, group_jid=f"1203630000000{index:05d}@g.us", name=f"G{index}"
        )
        workshop = Workshop.objects.create(
            organization=organization, title=f"W{index}", starts_at=now, whatsapp_session=session
        )
        events.append((group, workshop))
    return ScheduledWhatsAppMessage.objects.bulk_create(
        ScheduledWhatsAppMessage(
            group=events[i % sessions][0],
            workshop=events[i % sessions][1],
            body=f"message {i:05d}",
            send_at=now,
        )
        for i in range(count)
    )


def dispatcher(
    waha: FakeWaha, *args: str, lease: int = 120, env: dict[str, str] | None = None
) -> subprocess.Popen:
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "WHATSAPP_GATEWAY_BACKEND": "sessions_app.gateway.waha.GatewayBackend",
        "WHATSAPP_GATEWAY_URL": waha.url,
        "WHATSAPP_GATEWAY_API_KEY": waha.api_key,
        "WHATSAPP_GATEWAY_TIMEOUT": "2",
        "WHATSAPP_SEND_INTERVAL_SECONDS": "0",
        "WHATSAPP_SEND_JITTER_SECONDS": "0",
        "WHATSAPP_DISPATCH_LEASE_SECONDS": str(lease),
        "DJANGO_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "process_message_queue", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition, *, timeout: float, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(step)


def status_counts() -> dict[str, int]:
    return collections.Counter(ScheduledWhatsAppMessage.objects.values_list("status", flat=True))


def test_two_dispatchers_send_each_of_1000_messages_exactly_once():
    messages = make_queue(1000, sessions=10)

    # A few milliseconds per send keep both processes busy at the same time.
    with FakeWaha(delay=0.004) as waha:
        processes = [dispatcher(waha, "--batch", "50") for _ in range(2)]
        outputs = [process.communicate(timeout=120) for process in processes]
        sends = waha.sends()

    assert [p.returncode for p in processes] == [0, 0], outputs
    sent_by = [int(re.search(r"sent (\d+),", out).group(1)) for out, _ in outputs]
    assert sum(sent_by) == 1000
    assert min(sent_by) > 0, sent_by  # both took part
    texts = collections.Counter(s.json["text"] for s in sends)
    assert len(texts) == 1000
    assert set(texts.values()) == {1}
    assert status_counts() == {"sent": 1000}
    assert {m.body for m in messages} == set(texts)


def test_a_killed_dispatchers_claims_are_sent_by_another_after_the_lease():
    make_queue(200, sessions=4)

    with FakeWaha(delay=0.02) as waha:
        doomed = dispatcher(waha, "--batch", "100", lease=4)
        wait_until(lambda: len(waha.sends()) >= 20, timeout=30)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        stranded = ScheduledWhatsAppMessage.objects.filter(status=Status.SENDING).count()
        sent_by_doomed = set(
            ScheduledWhatsAppMessage.objects.filter(status=Status.SENT).values_list(
                "body", flat=True
            )
        )

        survivor = dispatcher(waha, "--loop", "--interval", "0.2", "--batch", "100", lease=4)
        wait_until(lambda: status_counts() == {"sent": 200}, timeout=60, step=0.2)
        survivor.send_signal(signal.SIGTERM)
        survivor.communicate(timeout=30)
        sends = waha.sends()

    assert stranded > 0  # the kill left claims behind
    assert survivor.returncode == 0
    texts = collections.Counter(s.json["text"] for s in sends)
    assert len(texts) == 200  # none lost
    # At least once: only a message the killed process sent but had not yet recorded can go
    # out twice; one it recorded as sent never does.
    assert all(texts[body] == 1 for body in sent_by_doomed)


def test_sigterm_finishes_the_send_in_flight_and_gives_the_other_claims_back():
    make_queue(40, sessions=2)

    with FakeWaha(delay=0.2) as waha:
        process = dispatcher(waha, "--loop", "--batch", "40")
        wait_until(lambda: len(waha.requests) >= 2, timeout=30)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
        accepted = len(waha.sends())
        requested = len(waha.requests)

    assert process.returncode == 0, err
    counts = status_counts()
    assert counts.get("sending", 0) == 0
    assert counts["sent"] == accepted == requested  # the send in flight completed and was kept
    assert counts["pending"] == 40 - accepted
    assert not ScheduledWhatsAppMessage.objects.exclude(claimed_by="").exists()
    assert set(
        ScheduledWhatsAppMessage.objects.filter(status=Status.PENDING).values_list(
            "attempts", flat=True
        )
    ) == {0}
