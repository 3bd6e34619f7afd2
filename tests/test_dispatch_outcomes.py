"""What the dispatcher writes back on a message, and what Retry now resets (PostgreSQL)."""

import datetime as dt
import io
import socket

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling import services
from scheduling.models import ScheduledWhatsAppMessage
from scheduling.services import (
    DispatchOptions,
    claim_due_messages,
    dispatch_due_messages,
    dispatcher_id,
    messages_retry_now,
    release_claims,
)
from sessions_app.gateway import PermanentGatewayError, RetryableGatewayError, locmem
from tests.factories import (
    ScheduledWhatsAppMessageFactory,
    WebinarFactory,
    WhatsAppGroupFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]
Status = ScheduledWhatsAppMessage.Status


@pytest.fixture(autouse=True)
def gateway():
    locmem.reset()
    yield locmem
    locmem.reset()


def test_giving_up_after_a_single_attempt_says_attempt(gateway):
    message = ScheduledWhatsAppMessageFactory()
    gateway.failures[message.event.whatsapp_session.gateway_session_name] = RetryableGatewayError(
        "WAHA answered 503"
    )

    dispatch_due_messages(
        worker="w1",
        options=DispatchOptions(max_attempts=1, send_interval_seconds=0, send_jitter_seconds=0),
    )

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.FAILED, 1)
    assert message.last_error == "Gave up after 1 attempt: WAHA answered 503"


class TestRetryNow:
    def test_a_failed_message_is_due_at_once_with_fresh_attempts_and_its_last_error(self):
        long_ago = timezone.now() - dt.timedelta(days=2)
        message = ScheduledWhatsAppMessageFactory(
            status=Status.FAILED,
            attempts=5,
            last_error="Gave up after 5 attempts: WAHA answered 503",
            send_at=long_ago,
            next_attempt_at=long_ago,
        )
        ScheduledWhatsAppMessage.objects.filter(pk=message.pk).update(updated_at=long_ago)
        before = timezone.now()

        retried = messages_retry_now(queryset=ScheduledWhatsAppMessage.objects.all())

        message.refresh_from_db()
        assert retried == 1
        assert (message.status, message.attempts, message.last_error) == (
            Status.PENDING,
            0,
            "Gave up after 5 attempts: WAHA answered 503",
        )
        assert message.next_attempt_at >= before
        assert message.updated_at >= before

    def test_a_message_marked_failed_by_hand_while_claimed_is_no_longer_claimed(self):
        message = ScheduledWhatsAppMessageFactory(
            status=Status.FAILED,
            claimed_by="host:123:abcd",
            lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
        )

        messages_retry_now(queryset=ScheduledWhatsAppMessage.objects.filter(pk=message.pk))

        message.refresh_from_db()
        assert (message.status, message.claimed_by, message.lease_expires_at) == (
            Status.PENDING,
            "",
            None,
        )

    def test_only_the_selected_messages_are_retried(self):
        selected = ScheduledWhatsAppMessageFactory(status=Status.FAILED)
        other = ScheduledWhatsAppMessageFactory(status=Status.FAILED)

        retried = messages_retry_now(
            queryset=ScheduledWhatsAppMessage.objects.filter(pk=selected.pk)
        )

        assert retried == 1
        other.refresh_from_db()
        assert other.status == Status.FAILED


class TestThePauseBetweenTwoSendsOfASession:
    def test_is_the_interval_exactly_without_jitter(self):
        options = DispatchOptions(send_interval_seconds=3, send_jitter_seconds=0)

        assert {options.pause() for _ in range(20)} == {dt.timedelta(seconds=3)}

    def test_adds_a_jitter_of_up_to_the_configured_seconds(self):
        options = DispatchOptions(send_interval_seconds=3, send_jitter_seconds=0.5)

        pauses = [options.pause().total_seconds() for _ in range(50)]

        assert all(3 <= pause <= 3.5 for pause in pauses)
        assert len(set(pauses)) > 1


def test_claims_given_back_are_pending_and_no_longer_claimed():
    mine = ScheduledWhatsAppMessageFactory.create_batch(2)
    theirs = ScheduledWhatsAppMessageFactory()
    claim_due_messages(worker="me", options=DispatchOptions(batch_size=2))
    claim_due_messages(worker="them", options=DispatchOptions())
    before = timezone.now()

    assert release_claims(worker="me") == 2

    for message in mine:
        message.refresh_from_db()
        assert (message.status, message.claimed_by, message.lease_expires_at) == (
            Status.PENDING,
            "",
            None,
        )
        assert message.updated_at >= before
    theirs.refresh_from_db()
    assert (theirs.status, theirs.claimed_by) == (Status.SENDING, "them")


def test_the_id_of_a_dispatcher_on_a_host_with_a_long_name_fits_a_claim(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "h" * 255)
    message = ScheduledWhatsAppMessageFactory()
    worker = dispatcher_id()

    claimed, _ = claim_due_messages(worker=worker, options=DispatchOptions())

    assert [m.id for m in claimed] == [message.pk]
    message.refresh_from_db()
    assert message.claimed_by == worker


def test_the_command_totals_every_pass(gateway):
    for _ in range(3):
        ScheduledWhatsAppMessageFactory()  # each through a session of its own
    out = io.StringIO()

    call_command("process_message_queue", batch=1, stdout=out)

    assert out.getvalue().splitlines()[-1] == (
        "sent 3, retried 0, failed 0, deferred 0, released 0"
    )
    assert len(gateway.outbox) == 3


class TestMessagesThatCannotBeSent:
    """What a message with nowhere to go, or a backend that breaks, leaves on the message: a
    reason staff can act on, and another attempt later."""

    OPTIONS = DispatchOptions(
        max_attempts=3, backoff_seconds=60, send_interval_seconds=0, send_jitter_seconds=0
    )
    NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)

    def dispatch_one(self, message):
        dispatch_due_messages(worker="w1", options=self.OPTIONS, now=self.NOW)
        message.refresh_from_db()
        return message

    def waits_with(self, message, reason):
        assert (message.status, message.attempts, message.last_error) == (
            Status.PENDING,
            1,
            reason,
        )
        assert message.next_attempt_at == self.NOW + dt.timedelta(seconds=60)

    def test_a_workshop_without_a_session(self):
        group = WhatsAppGroupFactory()
        workshop = WorkshopFactory(organization=group.session.organization, whatsapp_session=None)
        message = ScheduledWhatsAppMessageFactory(workshop=workshop, group=group, send_at=self.NOW)

        self.waits_with(
            self.dispatch_one(message), "The workshop has no WhatsApp session to send through."
        )

    def test_a_webinar_without_a_session(self):
        group = WhatsAppGroupFactory()
        webinar = WebinarFactory(organization=group.session.organization, whatsapp_session=None)
        message = ScheduledWhatsAppMessageFactory(
            workshop=None, webinar=webinar, group=group, send_at=self.NOW
        )

        self.waits_with(
            self.dispatch_one(message), "The webinar has no WhatsApp session to send through."
        )

    def test_a_session_the_gateway_has_no_name_for(self):
        session = WhatsAppSessionFactory(session_data={})
        message = ScheduledWhatsAppMessageFactory(
            workshop=WorkshopFactory(organization=session.organization, whatsapp_session=session),
            send_at=self.NOW,
        )

        self.waits_with(
            self.dispatch_one(message),
            f"Session {session.pk} has no gateway name in its session_data.",
        )

    def test_a_backend_that_breaks_is_retried_with_what_broke(self, gateway):
        message = ScheduledWhatsAppMessageFactory(send_at=self.NOW)
        name = message.event.whatsapp_session.gateway_session_name
        gateway.failures[name] = ValueError("unexpected answer")

        self.waits_with(self.dispatch_one(message), "ValueError: unexpected answer")
        assert gateway.outbox == []

    def test_a_backend_that_keeps_breaking_gives_up_at_the_last_attempt(self, gateway):
        message = ScheduledWhatsAppMessageFactory(send_at=self.NOW, attempts=2)
        name = message.event.whatsapp_session.gateway_session_name
        gateway.failures[name] = ValueError("unexpected answer")

        message = self.dispatch_one(message)

        assert (message.status, message.attempts, message.last_error) == (
            Status.FAILED,
            3,
            "Gave up after 3 attempts: ValueError: unexpected answer",
        )


def outcome_writes(queries) -> int:
    """How many of `queries` wrote outcomes back (`record_outcomes`' statement)."""
    return sum(
        q["sql"].lstrip().startswith("UPDATE scheduled_whatsapp_messages AS m") for q in queries
    )


class TestTheTallyAndTheWrites:
    OPTIONS = DispatchOptions(send_interval_seconds=0, send_jitter_seconds=0, batch_size=2000)

    def test_a_pass_counts_each_outcome(self, gateway):
        refused, busy = WhatsAppSessionFactory(), WhatsAppSessionFactory()
        for session in (refused, busy, WhatsAppSessionFactory()):
            workshop = WorkshopFactory(organization=session.organization, whatsapp_session=session)
            ScheduledWhatsAppMessageFactory.create_batch(2, workshop=workshop)
        gateway.failures[refused.gateway_session_name] = PermanentGatewayError("not a member")
        gateway.failures[busy.gateway_session_name] = RetryableGatewayError("WAHA answered 503")

        result = dispatch_due_messages(worker="w1", options=self.OPTIONS)

        assert (result.claimed, result.sent, result.failed, result.retried) == (6, 2, 2, 2)

    def test_a_pass_of_a_thousand_and_one_writes_its_outcomes_in_two_statements(self):
        message = ScheduledWhatsAppMessageFactory()
        ScheduledWhatsAppMessage.objects.bulk_create(
            ScheduledWhatsAppMessage(
                workshop=message.workshop,
                group=message.group,
                body=f"Reminder {n}",
                send_at=message.send_at,
            )
            for n in range(1000)
        )

        with CaptureQueriesContext(connection) as queries:
            result = dispatch_due_messages(worker="w1", options=self.OPTIONS)

        assert result.sent == 1001
        assert ScheduledWhatsAppMessage.objects.filter(status=Status.SENT).count() == 1001
        assert outcome_writes(queries) == 2

    def test_outcomes_are_written_as_the_pass_goes_when_sends_are_slow(self, monkeypatch):
        # Every send "took" longer than the flush interval: each outcome is written at once,
        # so staff see it while the rest of the batch is still being sent.
        monkeypatch.setattr(services, "FLUSH_EVERY_SECONDS", -1)
        ScheduledWhatsAppMessageFactory.create_batch(3)

        with CaptureQueriesContext(connection) as queries:
            result = dispatch_due_messages(worker="w1", options=self.OPTIONS)

        assert result.sent == 3
        assert outcome_writes(queries) == 3
