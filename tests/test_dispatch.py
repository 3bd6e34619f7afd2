"""The dispatcher, in process, against the in-memory gateway (PostgreSQL)."""

import datetime as dt
import itertools
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from scheduling import services
from scheduling.models import ScheduledWhatsAppMessage, SessionSendPacing
from scheduling.services import (
    DispatchOptions,
    _Outcome,
    claim_due_messages,
    dispatch_due_messages,
    messages_retry_now,
    record_outcomes,
    release_claims,
)
from sessions_app.gateway import PermanentGatewayError, RetryableGatewayError, locmem
from sessions_app.models import WhatsAppSession
from tests.factories import (
    ScheduledWhatsAppMessageFactory,
    WebinarFactory,
    WhatsAppGroupFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only", "clean_outbox")]
Status = ScheduledWhatsAppMessage.Status
UNPACED = DispatchOptions(send_interval_seconds=0, send_jitter_seconds=0)


@pytest.fixture
def clean_outbox():
    for store in (locmem.outbox, locmem.statuses, locmem.failures):
        store.clear()
    yield
    for store in (locmem.outbox, locmem.statuses, locmem.failures):
        store.clear()


def dispatch(options=UNPACED, **kwargs):
    return dispatch_due_messages(
        worker=kwargs.pop("worker", "test-worker"), options=options, **kwargs
    )


def message_for(event_kind: str, **kwargs):
    event = (WorkshopFactory if event_kind == "workshop" else WebinarFactory)()
    return ScheduledWhatsAppMessageFactory(
        workshop=event if event_kind == "workshop" else None,
        webinar=event if event_kind == "webinar" else None,
        **kwargs,
    )


@pytest.mark.parametrize("kind", ["workshop", "webinar"])
def test_sends_through_the_events_session_not_the_groups(kind):
    """The original plan's bug: the queue used the group's session, which may be another one."""
    group_session = WhatsAppSessionFactory(session_data={"session_name": "group-x"})
    event_session = WhatsAppSessionFactory(
        organization=group_session.organization, session_data={"session_name": "event-y"}
    )
    factory = WorkshopFactory if kind == "workshop" else WebinarFactory
    event = factory(organization=group_session.organization, whatsapp_session=event_session)
    group = WhatsAppGroupFactory(session=group_session)
    message = ScheduledWhatsAppMessageFactory(
        group=group,
        workshop=event if kind == "workshop" else None,
        webinar=event if kind == "webinar" else None,
    )

    result = dispatch()

    assert result.sent == 1
    (sent,) = locmem.outbox
    assert (sent.session_name, sent.chat_id, sent.text) == (
        "event-y",
        group.group_jid,
        message.body,
    )
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.gateway_message_id == sent.message_id
    assert message.sent_at is not None
    assert message.attempts == 1
    assert (message.claimed_by, message.lease_expires_at) == ("", None)


@pytest.mark.parametrize("kind", ["workshop", "webinar"])
def test_follows_superseded_by_to_the_live_session(kind):
    message = message_for(kind)
    old = message.event.whatsapp_session
    middle = WhatsAppSessionFactory(organization=old.organization, status="disconnected")
    live = WhatsAppSessionFactory(
        organization=old.organization, session_data={"session_name": "live"}
    )
    WhatsAppSession.objects.filter(pk=old.pk).update(status="disconnected", superseded_by=middle)
    WhatsAppSession.objects.filter(pk=middle.pk).update(superseded_by=live)

    dispatch()

    assert [m.session_name for m in locmem.outbox] == ["live"]


def test_not_yet_due_and_finished_messages_are_left_alone():
    future = ScheduledWhatsAppMessageFactory(send_at=timezone.now() + dt.timedelta(hours=1))
    for status in (Status.SENT, Status.FAILED, Status.CANCELLED):
        ScheduledWhatsAppMessageFactory(status=status)

    assert dispatch().claimed == 0
    assert locmem.outbox == []
    future.refresh_from_db()
    assert future.status == Status.PENDING


def test_kind_filter():
    workshop_message = message_for("workshop")
    webinar_message = message_for("webinar")

    dispatch(DispatchOptions(kind="webinar", send_interval_seconds=0, send_jitter_seconds=0))

    assert [m.text for m in locmem.outbox] == [webinar_message.body]
    workshop_message.refresh_from_db()
    assert workshop_message.status == Status.PENDING


@pytest.mark.parametrize("status", ["disconnected", "connecting"])
def test_session_not_connected_is_retried_later_with_backoff(status):
    message = ScheduledWhatsAppMessageFactory()
    WhatsAppSession.objects.filter(pk=message.event.whatsapp_session_id).update(status=status)
    now = timezone.now()

    result = dispatch(DispatchOptions(backoff_seconds=30, send_interval_seconds=0), now=now)

    assert result.retried == 1
    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert message.attempts == 1
    session_id = message.event.whatsapp_session_id
    assert message.last_error == f"Session {session_id} is {status}, not connected."
    assert message.next_attempt_at == now + dt.timedelta(seconds=30)
    assert locmem.outbox == []


def test_session_not_connected_never_fails_and_sends_once_it_connects():
    message = ScheduledWhatsAppMessageFactory()
    session = message.event.whatsapp_session
    WhatsAppSession.objects.filter(pk=session.pk).update(status="disconnected")
    options = DispatchOptions(
        max_attempts=2, backoff_seconds=60, send_interval_seconds=0, send_jitter_seconds=0
    )
    now = timezone.now()
    delays = []
    for _ in range(6):
        dispatch(options, now=now)
        message.refresh_from_db()
        assert message.status == Status.PENDING
        delays.append((message.next_attempt_at - now).total_seconds())
        now = message.next_attempt_at

    assert message.attempts == 6
    assert delays == [60, 120, 240, 300, 300, 300]

    WhatsAppSession.objects.filter(pk=session.pk).update(status="connected")
    dispatch(options, now=now)
    message.refresh_from_db()
    assert (message.status, message.last_error) == (Status.SENT, "")
    assert [item.chat_id for item in locmem.outbox] == [message.group.group_jid]


def test_event_without_session_is_retried():
    message = ScheduledWhatsAppMessageFactory()
    message.workshop.whatsapp_session = None
    message.workshop.save()

    dispatch()

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.PENDING, 1)
    assert "no WhatsApp session" in message.last_error


def test_retryable_failures_back_off_exponentially_then_fail():
    message = ScheduledWhatsAppMessageFactory()
    name = message.event.whatsapp_session.gateway_session_name
    locmem.failures[name] = RetryableGatewayError("WAHA answered 503")
    options = DispatchOptions(
        max_attempts=3, backoff_seconds=10, send_interval_seconds=0, send_jitter_seconds=0
    )
    now = timezone.now()
    delays = []
    for _ in range(2):
        dispatch(options, now=now)
        message.refresh_from_db()
        assert message.status == Status.PENDING
        delays.append((message.next_attempt_at - now).total_seconds())
        now = message.next_attempt_at
    dispatch(options, now=now)

    message.refresh_from_db()
    assert delays == [10, 20]
    assert message.status == Status.FAILED
    assert message.attempts == 3
    assert message.last_error == "Gave up after 3 attempts: WAHA answered 503"


def test_permanent_failure_fails_at_once_with_the_reason():
    message = ScheduledWhatsAppMessageFactory()
    name = message.event.whatsapp_session.gateway_session_name
    locmem.failures[name] = PermanentGatewayError("WAHA refused with 404: Session not found")

    result = dispatch()

    assert result.failed == 1
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.last_error == "WAHA refused with 404: Session not found"


def test_expired_claims_are_taken_over_and_live_ones_are_not():
    now = timezone.now()
    abandoned = ScheduledWhatsAppMessageFactory(
        status=Status.SENDING, claimed_by="dead", lease_expires_at=now - dt.timedelta(seconds=1)
    )
    held = ScheduledWhatsAppMessageFactory(
        status=Status.SENDING, claimed_by="alive", lease_expires_at=now + dt.timedelta(minutes=1)
    )

    dispatch(now=now)

    assert [m.text for m in locmem.outbox] == [abandoned.body]
    held.refresh_from_db()
    assert (held.status, held.claimed_by) == (Status.SENDING, "alive")


def test_an_outcome_is_not_written_once_another_dispatcher_claimed_the_row_again(caplog):
    message = ScheduledWhatsAppMessageFactory()
    now = timezone.now()
    (claimed,), _ = claim_due_messages(worker="slow", options=UNPACED, now=now)
    later = now + dt.timedelta(seconds=UNPACED.lease_seconds + 1)
    (reclaimed,), _ = claim_due_messages(worker="fast", options=UNPACED, now=later)
    assert reclaimed.id == claimed.id

    # Still `sending`, now under fast's claim: only the claim tells the two apart.
    written = record_outcomes(
        [_Outcome(claimed.id, Status.SENT, 1, sent_at=later, gateway_message_id="slow-id")],
        worker="slow",
    )

    assert written == 0
    assert [r.getMessage() for r in caplog.records if r.name == "scheduling.services"] == [
        "1 of 1 outcomes not written: their lease expired and another dispatcher took them over."
    ]
    caplog.clear()
    message.refresh_from_db()
    assert (message.status, message.claimed_by, message.attempts) == (Status.SENDING, "fast", 0)
    assert (message.gateway_message_id, message.sent_at) == ("", None)

    fast = _Outcome(claimed.id, Status.SENT, 1, sent_at=later, gateway_message_id="fast-id")
    assert record_outcomes([fast], worker="fast") == 1
    assert [r for r in caplog.records if r.name == "scheduling.services"] == []
    message.refresh_from_db()
    assert (message.status, message.gateway_message_id) == (Status.SENT, "fast-id")


def test_an_outcome_is_not_written_once_another_dispatcher_finished_the_row():
    message = ScheduledWhatsAppMessageFactory()
    now = timezone.now()
    (claimed,), _ = claim_due_messages(worker="slow", options=UNPACED, now=now)
    later = now + dt.timedelta(seconds=UNPACED.lease_seconds + 1)
    dispatch(worker="fast", now=later)

    written = record_outcomes(
        [_Outcome(claimed.id, Status.FAILED, 1, last_error="slow says failed")], worker="slow"
    )

    assert written == 0
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert len(locmem.outbox) == 1


def test_stop_request_gives_unsent_claims_back():
    messages = ScheduledWhatsAppMessageFactory.create_batch(3)
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 1  # stop after the first send

    result = dispatch(should_stop=should_stop)

    assert (result.sent, result.released) == (1, 2)
    statuses = sorted(
        ScheduledWhatsAppMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list(
            "status", "attempts", "claimed_by"
        )
    )
    assert statuses == [("pending", 0, ""), ("pending", 0, ""), ("sent", 1, "")]


def test_release_claims():
    ScheduledWhatsAppMessageFactory.create_batch(2)
    claim_due_messages(worker="me", options=UNPACED, now=timezone.now())

    assert release_claims(worker="me") == 2
    assert set(ScheduledWhatsAppMessage.objects.values_list("status", flat=True)) == {"pending"}


def test_a_message_cancelled_while_claimed_stays_cancelled_when_the_claims_are_given_back():
    kept, cancelled = ScheduledWhatsAppMessageFactory.create_batch(2)
    claim_due_messages(worker="me", options=UNPACED, now=timezone.now())
    # Staff cancel it on its page meanwhile; the dispatcher's bookkeeping is read-only there.
    ScheduledWhatsAppMessage.objects.filter(pk=cancelled.pk).update(status=Status.CANCELLED)

    assert release_claims(worker="me") == 1

    assert ScheduledWhatsAppMessage.objects.get(pk=kept.pk).status == Status.PENDING
    assert ScheduledWhatsAppMessage.objects.get(pk=cancelled.pk).status == Status.CANCELLED


def test_retry_now_leaves_a_message_sent_between_its_read_and_its_write():
    failed = ScheduledWhatsAppMessageFactory(status=Status.FAILED, attempts=5, last_error="boom")
    sent_meanwhile = []

    def another_retry_sends_it_first(execute, sql, params, many, context):
        if sql.startswith('UPDATE "scheduled_whatsapp_messages"') and not sent_meanwhile:
            sent_meanwhile.append(failed.pk)
            ScheduledWhatsAppMessage.objects.filter(pk=failed.pk).update(status=Status.SENT)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(another_retry_sends_it_first):
        retried = messages_retry_now(queryset=ScheduledWhatsAppMessage.objects.all())

    assert (retried, sent_meanwhile) == (0, [failed.pk])
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.SENT, 5)


def test_retry_now_requeues_failed_messages_only():
    failed = ScheduledWhatsAppMessageFactory(status=Status.FAILED, attempts=5, last_error="boom")
    sent = ScheduledWhatsAppMessageFactory(status=Status.SENT)

    assert messages_retry_now(queryset=ScheduledWhatsAppMessage.objects.all()) == 1

    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.PENDING, 0)
    assert sent.status == Status.SENT
    dispatch()
    failed.refresh_from_db()
    assert (failed.status, failed.last_error) == (Status.SENT, "")


def test_a_batch_costs_a_fixed_number_of_statements(django_assert_max_num_queries):
    sessions = WhatsAppSessionFactory.create_batch(5)
    for index in range(60):
        workshop = WorkshopFactory(
            organization=sessions[index % 5].organization, whatsapp_session=sessions[index % 5]
        )
        ScheduledWhatsAppMessageFactory(workshop=workshop)

    with django_assert_max_num_queries(3):
        result = dispatch(
            DispatchOptions(batch_size=100, send_interval_seconds=0, send_jitter_seconds=0)
        )

    assert result.sent == 60


class TestPacing:
    INTERVAL = 3.0

    def options(self):
        return DispatchOptions(send_interval_seconds=self.INTERVAL, send_jitter_seconds=1.0)

    def test_messages_of_one_session_due_together_are_spread_out(self):
        workshop = WorkshopFactory()
        for _ in range(5):
            ScheduledWhatsAppMessageFactory(workshop=workshop)
        now = timezone.now()

        first = dispatch(self.options(), now=now)

        assert (first.sent, first.deferred) == (1, 4)
        deferred = sorted(
            ScheduledWhatsAppMessage.objects.filter(status=Status.PENDING).values_list(
                "next_attempt_at", "attempts"
            )
        )
        assert all(attempts == 0 for _, attempts in deferred)
        times = [now] + [at for at, _ in deferred]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert min(gaps) >= self.INTERVAL

        # Run the clock forward pass by pass, as a looping dispatcher would see it, and note
        # each send at the clock of its pass (`sent_at` adds the real time the pass took).
        sent_on_clock = [now]
        for _ in range(20):
            pending = ScheduledWhatsAppMessage.objects.filter(status=Status.PENDING)
            if not pending.exists():
                break
            now = min(m.next_attempt_at for m in pending)
            result = dispatch(self.options(), now=now)
            sent_on_clock += [now] * result.sent
        assert len(locmem.outbox) == len(sent_on_clock) == 5
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent_on_clock)]
        assert min(gaps) >= self.INTERVAL

    def test_a_second_dispatcher_respects_the_first_ones_pace(self):
        workshop = WorkshopFactory()
        ScheduledWhatsAppMessageFactory(workshop=workshop)
        now = timezone.now()
        dispatch(self.options(), now=now, worker="a")
        ScheduledWhatsAppMessageFactory(workshop=workshop)

        result = dispatch(self.options(), now=now + dt.timedelta(seconds=1), worker="b")

        assert (result.sent, result.deferred) == (0, 1)
        later = ScheduledWhatsAppMessage.objects.get(status=Status.PENDING)
        assert later.next_attempt_at >= now + dt.timedelta(seconds=self.INTERVAL)

    def test_a_second_dispatcher_queues_right_behind_the_slot_the_first_one_holds(self):
        workshop = WorkshopFactory()
        ScheduledWhatsAppMessageFactory(workshop=workshop)
        now = timezone.now()
        steady = DispatchOptions(send_interval_seconds=self.INTERVAL, send_jitter_seconds=0)
        dispatch(steady, now=now, worker="a")
        ScheduledWhatsAppMessageFactory(workshop=workshop)

        result = dispatch(steady, now=now + dt.timedelta(seconds=1), worker="b")

        assert (result.sent, result.deferred) == (0, 1)
        later = ScheduledWhatsAppMessage.objects.get(status=Status.PENDING)
        assert (later.next_attempt_at, later.attempts) == (
            now + dt.timedelta(seconds=self.INTERVAL),
            0,
        )

    @pytest.mark.parametrize("read_slot", [None, -5, 0], ids=["none", "past", "now"])
    def test_a_slot_taken_between_the_read_and_the_reservation_waits_a_full_pause(self, read_slot):
        # The pass reads the session's slot as free (never used, past, or due right now);
        # another dispatcher takes it before this pass reserves it.
        message = ScheduledWhatsAppMessageFactory()
        session_id = message.event.whatsapp_session_id
        now = timezone.now()
        if read_slot is not None:
            SessionSendPacing.objects.create(
                session_id=session_id, next_send_at=now + dt.timedelta(seconds=read_slot)
            )
        taken = []

        def another_dispatcher_takes_the_slot(execute, sql, params, many, context):
            if "INTO whatsapp_session_pacing" in sql and not taken:
                taken.append(session_id)
                SessionSendPacing.objects.update_or_create(
                    session_id=session_id,
                    defaults={"next_send_at": now + dt.timedelta(seconds=2)},
                )
            return execute(sql, params, many, context)

        steady = DispatchOptions(send_interval_seconds=self.INTERVAL, send_jitter_seconds=0)
        with connection.execute_wrapper(another_dispatcher_takes_the_slot):
            result = dispatch(steady, now=now)

        assert (result.sent, result.deferred, taken) == (0, 1, [session_id])
        message.refresh_from_db()
        assert (message.status, message.attempts, message.next_attempt_at) == (
            Status.PENDING,
            0,
            now + dt.timedelta(seconds=self.INTERVAL),
        )
        assert locmem.outbox == []

    def test_sessions_do_not_slow_each_other_down(self):
        for _ in range(3):
            ScheduledWhatsAppMessageFactory()

        result = dispatch(self.options(), now=timezone.now())

        assert (result.sent, result.deferred) == (3, 0)


class SlowGateway(locmem.GatewayBackend):
    """The in-memory gateway on a simulated clock where every send takes `seconds`."""

    def __init__(self, clock: SimpleNamespace, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def send_text(self, **kwargs) -> str:
        self.clock.seconds += self.seconds
        return super().send_text(**kwargs)


class TestAPassStopsSendingBeforeItsLeaseEnds:
    """A pass stops sending `min(lease / 2, gateway timeout + 5s)` before its lease ends and
    gives the rest back; timed on a simulated clock that each send moves forward."""

    @pytest.fixture(autouse=True)
    def clock(self, monkeypatch, settings):
        settings.WHATSAPP_GATEWAY_TIMEOUT = 10
        clock = SimpleNamespace(seconds=1000.0)
        monkeypatch.setattr(services, "time", SimpleNamespace(monotonic=lambda: clock.seconds))
        return clock

    @pytest.mark.parametrize(
        ("lease", "send_seconds", "sent"),
        [
            # The gateway's timeout sets the margin: stops 15s early, 45s in (a send at 45s
            # still goes out).
            (60, 5, 10),
            # Half the lease sets it: stops 10s early, 10s in.
            (20, 1, 11),
        ],
    )
    def test_sends_until_the_margin_and_gives_the_rest_back(self, clock, lease, send_seconds, sent):
        messages = ScheduledWhatsAppMessageFactory.create_batch(15)
        now = timezone.now()
        options = DispatchOptions(
            lease_seconds=lease, send_interval_seconds=0, send_jitter_seconds=0
        )

        result = dispatch_due_messages(
            worker="w1", options=options, now=now, gateway=SlowGateway(clock, send_seconds)
        )

        assert (result.claimed, result.sent, result.released) == (15, sent, 15 - sent)
        rows = ScheduledWhatsAppMessage.objects.filter(pk__in=[m.pk for m in messages])
        assert sorted(rows.values_list("status", "attempts", "claimed_by")) == sorted(
            [("sent", 1, "")] * sent + [("pending", 0, "")] * (15 - sent)
        )
        assert len(locmem.outbox) == sent

    def test_a_message_is_sent_at_the_claims_time_plus_the_time_the_pass_took(self, clock):
        ScheduledWhatsAppMessageFactory.create_batch(3)
        now = timezone.now()

        dispatch_due_messages(worker="w1", options=UNPACED, now=now, gateway=SlowGateway(clock, 2))

        sent_at = ScheduledWhatsAppMessage.objects.order_by("sent_at").values_list(
            "sent_at", flat=True
        )
        assert list(sent_at) == [now + dt.timedelta(seconds=s) for s in (2, 4, 6)]


def test_a_batch_larger_than_one_statement_of_outcomes():
    template = ScheduledWhatsAppMessageFactory()
    ScheduledWhatsAppMessage.objects.bulk_create(
        ScheduledWhatsAppMessage(
            group=template.group, workshop=template.workshop, body=f"m{i}", send_at=template.send_at
        )
        for i in range(2100)
    )

    result = dispatch(
        DispatchOptions(batch_size=5000, send_interval_seconds=0, send_jitter_seconds=0)
    )

    assert result.sent == 2101
    assert set(ScheduledWhatsAppMessage.objects.values_list("status", flat=True)) == {"sent"}
