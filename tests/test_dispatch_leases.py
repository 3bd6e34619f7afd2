"""The dispatcher's claim and lease against other connections, each step made to happen.

Another connection holds a row lock, or a send is held in the fake gateway (a real HTTP
server on loopback) while the lease runs out and a second dispatcher takes over; nothing here
depends on two processes happening to collide.
"""

import datetime as dt
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from scheduling.models import ScheduledWhatsAppMessage
from scheduling.services import DispatchOptions, claim_due_messages, dispatch_due_messages
from sessions_app.gateway import get_gateway
from tests.factories import ScheduledWhatsAppMessageFactory, WorkshopFactory
from tests.fake_waha import FakeWaha
from tests.migration_helpers import second_connection

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]
Status = ScheduledWhatsAppMessage.Status
UNPACED = DispatchOptions(send_interval_seconds=0, send_jitter_seconds=0)
# Long enough for any machine, short enough that a regression fails instead of hanging.
LOCK_TIMEOUT = "2s"
WAIT_SECONDS = 30


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.02)


def due_messages(count: int) -> list[ScheduledWhatsAppMessage]:
    """`count` due messages of one workshop, the first one due first."""
    workshop = WorkshopFactory()
    now = timezone.now()
    return [
        ScheduledWhatsAppMessageFactory(
            workshop=workshop, body=f"message {i}", send_at=now - dt.timedelta(minutes=count - i)
        )
        for i in range(count)
    ]


def rows(messages) -> list[tuple]:
    return list(
        ScheduledWhatsAppMessage.objects.filter(pk__in=[m.pk for m in messages])
        .order_by("send_at")
        .values_list("body", "status", "claimed_by", "attempts", "gateway_message_id")
    )


def lock_row(other: psycopg.Connection, message) -> None:
    other.execute(
        "SELECT id FROM scheduled_whatsapp_messages WHERE id = %s FOR UPDATE", [message.pk]
    )


class TestClaimSkipsLockedRows:
    @pytest.fixture(autouse=True)
    def lock_timeout(self):
        # A claim that waits for a lock ends in an error, not in a hang.
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        yield
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    def test_a_row_another_connection_locks_is_skipped_without_waiting(self):
        first, second, third = due_messages(3)
        with second_connection() as other:
            lock_row(other, second)
            claimed, _ = claim_due_messages(worker="w", options=UNPACED)
            other.rollback()

        assert [message.id for message in claimed] == [first.pk, third.pk]
        assert [row[:3] for row in rows([first, second, third])] == [
            ("message 0", Status.SENDING, "w"),
            ("message 1", Status.PENDING, ""),
            ("message 2", Status.SENDING, "w"),
        ]

    def test_the_skipped_row_is_claimed_once_the_lock_is_gone(self):
        (message,) = due_messages(1)
        with second_connection() as other:
            lock_row(other, message)
            assert claim_due_messages(worker="w", options=UNPACED)[0] == []
            other.rollback()

        claimed, _ = claim_due_messages(worker="w", options=UNPACED)
        assert [m.id for m in claimed] == [message.pk]


class HeldWaha(FakeWaha):
    """A fake WAHA whose sends wait, one by one in arrival order, for `release(n)`."""

    def __init__(self, *, held: int) -> None:
        super().__init__()
        self.gates = [threading.Event() for _ in range(held)]
        self.answers: list[tuple[str, str]] = []  # (text, message id) per accepted send
        self._arrivals = 0

    def release(self, n: int) -> None:
        self.gates[n].set()

    def __exit__(self, *exc) -> None:
        # A failed test lets its held sends go, so no dispatcher is left waiting.
        for gate in self.gates:
            gate.set()
        super().__exit__(*exc)

    def send_requests(self) -> int:
        with self._lock:
            return self._arrivals

    def route(self, method, path, query, body, request):
        if path != "/api/sendText":
            return super().route(method, path, query, body, request)
        with self._lock:
            arrival = self._arrivals
            self._arrivals += 1
        if arrival < len(self.gates):
            assert self.gates[arrival].wait(WAIT_SECONDS), "a held send was never released"
        status, answer = super().route(method, path, query, body, request)
        with self._lock:
            self.answers.append((body["text"], answer["id"]))
        return status, answer


class Dispatcher(threading.Thread):
    """One dispatcher pass in a thread, with its own database connection."""

    def __init__(self, waha: FakeWaha, *, worker: str, lease_seconds: float) -> None:
        super().__init__(daemon=True)
        self.gateway = get_gateway(
            "sessions_app.gateway.waha.GatewayBackend",
            base_url=waha.url,
            api_key=waha.api_key,
            timeout=WAIT_SECONDS,
        )
        self.worker = worker
        self.options = DispatchOptions(
            lease_seconds=lease_seconds, send_interval_seconds=0, send_jitter_seconds=0
        )
        self.result = None

    def run(self) -> None:
        try:
            # The database's clock: the lease runs out in real time.
            self.result = dispatch_due_messages(
                worker=self.worker, gateway=self.gateway, options=self.options
            )
        finally:
            connection.close()

    def finish(self) -> None:
        self.join(WAIT_SECONDS)
        assert not self.is_alive(), f"dispatcher {self.worker} did not finish"


def lease_has_run_out(message) -> bool:
    return ScheduledWhatsAppMessage.objects.filter(
        pk=message.pk, status=Status.SENDING, lease_expires_at__lt=Now()
    ).exists()


class TestLeaseRunsOutDuringASend:
    # The dispatcher stops sending at half of it: time enough to claim and start the first send.
    LEASE = 2.0

    def held_past_its_lease(self, waha: HeldWaha, messages) -> Dispatcher:
        """Dispatcher a, its first send held in the gateway until its lease has run out."""
        a = Dispatcher(waha, worker="a", lease_seconds=self.LEASE)
        a.start()
        wait_until(lambda: waha.send_requests() == 1, "a's first send")
        wait_until(lambda: lease_has_run_out(messages[0]), "a's lease to run out")
        return a

    def test_the_late_outcome_is_kept_and_the_rest_is_given_back_unsent(self):
        messages = due_messages(3)
        with HeldWaha(held=1) as waha:
            a = self.held_past_its_lease(waha, messages)
            waha.release(0)
            a.finish()

            # Nobody took the row over: the send that outlived the lease is recorded, once.
            # The others were not sent past the lease; they are back, no attempt counted.
            assert (a.result.sent, a.result.released) == (1, 2)
            ((text, message_id),) = waha.answers
            assert text == "message 0"
            assert rows(messages) == [
                ("message 0", Status.SENT, "", 1, message_id),
                ("message 1", Status.PENDING, "", 0, ""),
                ("message 2", Status.PENDING, "", 0, ""),
            ]

            b = Dispatcher(waha, worker="b", lease_seconds=60)
            b.start()
            b.finish()

        assert sorted(text for text, _id in waha.answers) == ["message 0", "message 1", "message 2"]
        assert {row[1] for row in rows(messages)} == {Status.SENT}

    def test_a_dispatcher_that_took_over_keeps_the_rows_and_writes_their_outcome(self):
        messages = due_messages(3)
        with HeldWaha(held=2) as waha:
            a = self.held_past_its_lease(waha, messages)

            # b claims every row a's lease no longer covers, and sends the first one again.
            b = Dispatcher(waha, worker="b", lease_seconds=60)
            b.start()
            wait_until(lambda: waha.send_requests() == 2, "b's first send")

            # a's send is accepted while b still holds the rows: none of a's outcomes is written.
            waha.release(0)
            a.finish()
            assert (a.result.sent, a.result.released) == (1, 2)
            assert rows(messages) == [
                ("message 0", Status.SENDING, "b", 0, ""),
                ("message 1", Status.SENDING, "b", 0, ""),
                ("message 2", Status.SENDING, "b", 0, ""),
            ]

            waha.release(1)
            b.finish()

        assert (b.result.claimed, b.result.sent) == (3, 3)
        # At least once: the row a lost went out twice, and b's send is the one recorded.
        a_id, b_id = [message_id for text, message_id in waha.answers if text == "message 0"]
        assert sorted(text for text, _id in waha.answers) == [
            "message 0",
            "message 0",
            "message 1",
            "message 2",
        ]
        assert rows(messages)[0] == ("message 0", Status.SENT, "", 1, b_id)
        assert a_id != b_id
        assert [row[1:4] for row in rows(messages)[1:]] == [(Status.SENT, "", 1)] * 2
