"""The gateway boundary: what a gateway says is input, not truth (PostgreSQL).

One live session per gateway name, reports applied in order and once, a phone kept for life,
statuses with unreadable phones still applied, and the gateway's rate limits honoured.
"""

import datetime as dt
import json
import logging
import uuid
from http import HTTPStatus

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from scheduling.models import ScheduledWhatsAppMessage, Workshop
from scheduling.services import DispatchOptions, dispatch_due_messages
from sessions_app.gateway import SessionStatus, locmem
from sessions_app.models import GatewayEvent, SessionMigration, WhatsAppSession
from sessions_app.services import status as status_service
from sessions_app.services.gateway_status import webhook_signature
from sessions_app.services.status import apply_status_report, prune_gateway_events
from tests import factories
from tests.admin_scenarios import STAFF_PERMISSIONS, staff_member
from tests.fake_waha import FakeWaha
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

SECRET = "test-webhook-secret"
URL = "/webhooks/whatsapp/"
PHONE = "+5511987654321"
OTHER_PHONE = "+5511912345678"
Status = WhatsAppSession.Status
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def waha_event(name, status, *, me=None, at=None, event_id=None):
    body = {"event": "session.status", "session": name, "me": me, "payload": {"status": status}}
    if at is not None:
        body["timestamp"] = int(at.timestamp() * 1000)
    if event_id is not None:
        body["id"] = event_id
    return body


def post(client, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        URL,
        data=raw,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=webhook_signature(raw, secret=SECRET),
    )


def me(phone):
    return {"id": f"{phone.lstrip('+')}@c.us", "pushName": "Aurora"}


def named_session(name, **kwargs):
    kwargs.setdefault("status", Status.CONNECTING)
    kwargs.setdefault("phone_number", None)
    kwargs.setdefault("connected_at", None)
    return factories.WhatsAppSessionFactory(session_data={"session_name": name}, **kwargs)


def connected_with_a_workshop():
    """A connected session of PHONE, "aurora-1", holding a workshop."""
    session = named_session("aurora-1", phone_number=PHONE, status=Status.CONNECTED)
    workshop = factories.WorkshopFactory(
        organization=session.organization, whatsapp_session=session
    )
    return session, workshop


def connected_on_the_phone_of(session, name, *, at, **kwargs):
    """Another session of `session`'s organization and phone, connected at `at`."""
    return named_session(
        name,
        organization=session.organization,
        phone_number=session.phone_number,
        status=Status.CONNECTED,
        connected_at=at,
        **kwargs,
    )


class TestOneLiveSessionPerGatewayName:
    def test_the_database_refuses_a_second_live_session_of_a_name(self):
        theirs = named_session("aurora-main", phone_number=PHONE, status=Status.CONNECTED)
        before = database_snapshot()

        with pytest.raises(IntegrityError), transaction.atomic():
            named_session("aurora-main")  # another organization, same name

        assert database_snapshot() == before
        assert theirs.gateway_session_name == "aurora-main"

    def test_a_superseded_session_no_longer_holds_its_name(self):
        old = named_session("aurora-main", phone_number=PHONE, status=Status.DISCONNECTED)
        successor = named_session("aurora-next", organization=old.organization)
        WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=successor)

        again = named_session("aurora-main", organization=old.organization)

        assert again.gateway_session_name == "aurora-main"

    @pytest.mark.parametrize("shape", [[1, 2], "aurora-main", 42])
    def test_session_data_must_be_a_json_object(self, shape):
        session = named_session("aurora-main")
        before = database_snapshot()

        with pytest.raises(IntegrityError), transaction.atomic():
            WhatsAppSession.objects.filter(pk=session.pk).update(session_data=shape)

        assert database_snapshot() == before


class TestTheCrossTenantHijackIsRefused:
    """Staff of B try to send from A's number and take A's status reports."""

    @pytest.fixture
    def tenants(self):
        a = named_session("aurora-main", phone_number=PHONE, status=Status.CONNECTED)
        b = named_session("horizonte-main", phone_number=OTHER_PHONE, status=Status.CONNECTED)
        return a, b

    def test_editing_the_gateway_name_in_the_admin_changes_nothing(self, client, tenants):
        _, b = tenants
        client.force_login(staff_member(b.organization))
        before = dict(WhatsAppSession.objects.values_list("pk", "session_data"))

        response = client.post(
            reverse("admin:sessions_app_whatsappsession_change", args=[b.pk]),
            {"session_data": json.dumps({"session_name": "aurora-main"})},
        )

        assert response.status_code == HTTPStatus.FOUND
        b.refresh_from_db()
        assert b.session_data == {"session_name": "horizonte-main"}
        assert dict(WhatsAppSession.objects.values_list("pk", "session_data")) == before

    def test_a_newer_row_of_b_cannot_take_as_name(self, client, tenants):
        a, b = tenants
        permissions = [*STAFF_PERMISSIONS, "sessions_app.add_whatsappsession"]
        client.force_login(staff_member(b.organization, permissions=permissions))

        response = client.post(
            reverse("admin:sessions_app_whatsappsession_add"),
            {
                "organization": str(b.organization_id),
                "session_data": json.dumps({"session_name": "aurora-main"}),
            },
        )

        assert response.status_code == HTTPStatus.FOUND
        newest = WhatsAppSession.objects.filter(organization=b.organization).latest("created_at")
        assert newest.pk != b.pk and newest.gateway_session_name is None
        # A's reports still reach A's session, and only it.
        assert post(client, waha_event("aurora-main", "STOPPED")).status_code == HTTPStatus.OK
        a.refresh_from_db()
        newest.refresh_from_db()
        assert a.status == Status.DISCONNECTED
        assert (newest.status, newest.phone_number) == (Status.CONNECTING, None)

    def test_the_admin_shows_the_gateway_name_read_only(self, admin_client, tenants):
        a, _ = tenants
        page = admin_client.get(reverse("admin:sessions_app_whatsappsession_change", args=[a.pk]))

        assert "session_data" not in page.context["adminform"].form.fields
        assert "aurora-main" in page.content.decode()


class TestReportsApplyInOrderAndOnce:
    def test_a_late_stopped_is_acknowledged_and_changes_nothing(self, client):
        session = named_session("aurora-main")
        stopped = waha_event("aurora-main", "STOPPED", at=T0 + dt.timedelta(seconds=2))
        post(client, waha_event("aurora-main", "WORKING", me=me(PHONE), at=T0))
        post(client, stopped)
        post(client, waha_event("aurora-main", "WORKING", me=me(PHONE), at=T0 + dt.timedelta(3)))
        before = database_snapshot()

        response = post(client, stopped)

        assert response.status_code == HTTPStatus.OK
        assert response.json()["status"] == "stale"
        assert database_snapshot() == before
        session.refresh_from_db()
        assert session.status == Status.CONNECTED

    def test_an_event_id_seen_before_changes_nothing_whatever_its_time(self, client):
        session = named_session("aurora-main")
        post(client, waha_event("aurora-main", "WORKING", me=me(PHONE), at=T0, event_id="evt_1"))
        before = database_snapshot()

        replay = waha_event("aurora-main", "STOPPED", at=T0 + dt.timedelta(1), event_id="evt_1")
        response = post(client, replay)

        assert response.status_code == HTTPStatus.OK
        assert response.json()["status"] == "duplicate"
        assert database_snapshot() == before
        session.refresh_from_db()
        assert session.status == Status.CONNECTED

    def test_a_long_event_id_seen_before_is_a_duplicate(self, client):
        session = named_session("aurora-main")
        long_id = "e" * 250
        first = post(client, waha_event("aurora-main", "WORKING", me=me(PHONE), event_id=long_id))
        assert first.status_code == HTTPStatus.OK, first.content
        before = database_snapshot()

        replay = waha_event("aurora-main", "STOPPED", at=T0 + dt.timedelta(1), event_id=long_id)
        response = post(client, replay)

        assert (response.status_code, response.json()["status"]) == (HTTPStatus.OK, "duplicate")
        assert database_snapshot() == before
        session.refresh_from_db()
        assert session.status == Status.CONNECTED

    def test_a_refused_report_does_not_use_up_its_event_id(self, client):
        post(client, waha_event("nobody-yet", "WORKING", me=me(PHONE), event_id="evt_9"))
        session = named_session("nobody-yet")

        post(client, waha_event("nobody-yet", "WORKING", me=me(PHONE), event_id="evt_9"))

        session.refresh_from_db()
        assert session.status == Status.CONNECTED

    def test_seen_event_ids_are_pruned_by_the_webhook_itself(self, client, monkeypatch, settings):
        settings.WHATSAPP_WEBHOOK_EVENT_RETENTION_HOURS = 24
        named_session("aurora-main")
        GatewayEvent.objects.create(
            event_id="waha:evt_old", received_at=timezone.now() - dt.timedelta(hours=25)
        )
        GatewayEvent.objects.create(
            event_id="waha:evt_recent", received_at=timezone.now() - dt.timedelta(hours=23)
        )
        monkeypatch.setattr(status_service, "_PRUNE_ONE_IN", 1)

        post(client, waha_event("aurora-main", "SCAN_QR_CODE", event_id="evt_new"))

        assert set(GatewayEvent.objects.values_list("event_id", flat=True)) == {
            "waha:evt_recent",
            "waha:evt_new",
        }

    def test_pruning_keeps_what_is_within_the_retention(self, settings):
        settings.WHATSAPP_WEBHOOK_EVENT_RETENTION_HOURS = 2
        GatewayEvent.objects.create(event_id="a", received_at=T0 - dt.timedelta(hours=3))
        GatewayEvent.objects.create(event_id="b", received_at=T0 - dt.timedelta(hours=1))

        assert prune_gateway_events(now=T0) == 1
        assert list(GatewayEvent.objects.values_list("event_id", flat=True)) == ["b"]

    def test_a_poll_is_dated_by_the_database_so_an_older_event_is_stale(self, client):
        session = named_session("aurora-main")
        apply_status_report(session, Status.CONNECTED, PHONE)

        response = post(
            client,
            waha_event("aurora-main", "STOPPED", at=timezone.now() - dt.timedelta(minutes=1)),
        )

        assert response.json()["status"] == "stale"
        session.refresh_from_db()
        assert session.status == Status.CONNECTED

    def test_a_late_disconnect_of_the_old_session_still_hands_its_references_over(self, client):
        old, workshop = connected_with_a_workshop()
        new = named_session("aurora-2", organization=old.organization)

        post(client, waha_event("aurora-2", "WORKING", me=me(PHONE), at=T0 + dt.timedelta(1)))
        workshop.refresh_from_db()
        assert workshop.whatsapp_session_id == old.pk  # the old one is still connected
        post(client, waha_event("aurora-1", "STOPPED", at=T0))

        workshop.refresh_from_db()
        old.refresh_from_db()
        assert workshop.whatsapp_session_id == new.pk
        assert old.superseded_by_id == new.pk

    def test_a_late_disconnect_hands_over_to_its_organizations_connected_session(self, client):
        """The same phone is connected in another organization, more recently; and a newer
        session of the phone is still pairing here. Neither takes the rows: the connected
        session of the old one's own organization does."""
        old, workshop = connected_with_a_workshop()
        new = named_session("aurora-2", organization=old.organization)
        post(client, waha_event("aurora-2", "WORKING", me=me(PHONE), at=T0))
        elsewhere = named_session(
            "elsewhere",
            phone_number=PHONE,
            status=Status.CONNECTED,
            connected_at=timezone.now() + dt.timedelta(hours=1),
        )
        pairing = named_session("aurora-3", organization=old.organization, phone_number=PHONE)

        post(client, waha_event("aurora-1", "STOPPED", at=T0 - dt.timedelta(minutes=1)))

        workshop.refresh_from_db()
        old.refresh_from_db()
        assert workshop.whatsapp_session_id == new.pk
        assert old.superseded_by_id == new.pk
        assert elsewhere.organization_id != old.organization_id
        assert pairing.status == Status.CONNECTING

    def test_a_late_disconnect_skips_a_connected_session_that_was_superseded(self, client):
        old, workshop = connected_with_a_workshop()
        live = connected_on_the_phone_of(old, "aurora-2", at=T0)
        connected_on_the_phone_of(
            old, "aurora-3", at=T0 + dt.timedelta(minutes=5), superseded_by=live
        )

        post(client, waha_event("aurora-1", "STOPPED", at=T0))

        workshop.refresh_from_db()
        assert workshop.whatsapp_session_id == live.pk

    def test_a_disconnect_with_no_other_session_of_the_phone_hands_over_nothing(
        self, client, caplog
    ):
        session, workshop = connected_with_a_workshop()

        response = post(client, waha_event("aurora-1", "STOPPED", at=T0))

        assert response.status_code == HTTPStatus.OK
        workshop.refresh_from_db()
        assert workshop.whatsapp_session_id == session.pk
        assert "failed" not in caplog.text

    def test_a_late_disconnect_hands_over_to_the_session_that_connected_last(self, client):
        old, workshop = connected_with_a_workshop()
        first = connected_on_the_phone_of(old, "aurora-3", at=T0)
        last = connected_on_the_phone_of(old, "aurora-2", at=T0 + dt.timedelta(minutes=5))
        # Created before `first`, connected after it.
        WhatsAppSession.objects.filter(pk=last.pk).update(
            created_at=first.created_at - dt.timedelta(minutes=1)
        )

        post(client, waha_event("aurora-1", "STOPPED", at=T0))

        workshop.refresh_from_db()
        assert workshop.whatsapp_session_id == last.pk


class TestAPhoneIsKeptForLife:
    @pytest.fixture
    def session(self):
        session = named_session(
            "aurora-main", phone_number=PHONE, status=Status.CONNECTED, connected_at=T0
        )
        factories.WorkshopFactory(organization=session.organization, whatsapp_session=session)
        return session

    def assert_the_phone_changed(self, session):
        session.refresh_from_db()
        new = WhatsAppSession.objects.exclude(pk=session.pk).get()
        assert (session.status, session.phone_number) == (Status.DISCONNECTED, PHONE)
        assert session.gateway_session_name is None
        assert session.session_data["former_session_name"] == "aurora-main"
        assert (new.organization_id, new.status, new.phone_number) == (
            session.organization_id,
            Status.CONNECTED,
            OTHER_PHONE,
        )
        assert new.gateway_session_name == "aurora-main"
        # The phones differ: nothing moved.
        assert not SessionMigration.objects.exists()
        assert set(Workshop.objects.values_list("whatsapp_session", flat=True)) == {session.pk}
        return new

    def test_a_webhook_naming_another_phone_makes_a_new_session(self, client, session):
        response = post(client, waha_event("aurora-main", "WORKING", me=me(OTHER_PHONE)))

        assert response.status_code == HTTPStatus.OK
        new = self.assert_the_phone_changed(session)
        assert response.json()["session"] == str(new.pk)
        # From now on the name reaches the new session.
        post(client, waha_event("aurora-main", "STOPPED"))
        new.refresh_from_db()
        session.refresh_from_db()
        assert new.status == Status.DISCONNECTED
        assert session.phone_number == PHONE

    def test_the_old_phone_coming_back_takes_its_references(self, client, session):
        post(client, waha_event("aurora-main", "WORKING", me=me(OTHER_PHONE)))
        back = named_session("aurora-back", organization=session.organization)

        post(client, waha_event("aurora-back", "WORKING", me=me(PHONE)))

        assert set(Workshop.objects.values_list("whatsapp_session", flat=True)) == {back.pk}

    def test_polling_from_the_admin_does_the_same(self, admin_client, session):
        locmem.statuses["aurora-main"] = SessionStatus(Status.CONNECTED, f"{OTHER_PHONE}@c.us")
        try:
            admin_client.post(
                reverse("admin:sessions_app_whatsappsession_changelist"),
                {"action": "refresh_status_from_gateway", "_selected_action": [session.pk]},
            )
        finally:
            locmem.statuses.clear()

        self.assert_the_phone_changed(session)

    def test_both_pages_say_so_and_offer_the_forced_move(self, admin_client, client, session):
        post(client, waha_event("aurora-main", "WORKING", me=me(OTHER_PHONE)))
        new = WhatsAppSession.objects.exclude(pk=session.pk).get()

        for shown in (session, new):
            page = admin_client.get(
                reverse("admin:sessions_app_whatsappsession_change", args=[shown.pk])
            ).content.decode()
            assert "Nothing moved automatically, because the phones differ" in page
            assert OTHER_PHONE in page and PHONE in page
            assert 'value="move_references"' in page
            assert f'name="_selected_action" value="{session.pk}"' in page

    def test_the_offered_move_opens_the_move_confirmation(self, admin_client, client, session):
        post(client, waha_event("aurora-main", "WORKING", me=me(OTHER_PHONE)))

        page = admin_client.post(
            reverse("admin:sessions_app_whatsappsession_changelist"),
            {"action": "move_references", "_selected_action": [session.pk]},
        )

        assert page.status_code == HTTPStatus.OK
        assert "Move references to another session" in page.content.decode()


class TestStatusesThatCannotNameAPhone:
    def test_a_lid_only_me_applies_the_status_and_keeps_the_phone(self, client, caplog):
        session = named_session("aurora-main", phone_number=PHONE, status=Status.CONNECTING)
        caplog.set_level(logging.WARNING)

        response = post(
            client, waha_event("aurora-main", "WORKING", me={"id": "12345678901234@lid"})
        )

        assert response.status_code == HTTPStatus.OK
        session.refresh_from_db()
        assert (session.status, session.phone_number) == (Status.CONNECTED, PHONE)
        assert session.session_data["lid"] == "12345678901234@lid"
        assert str(session.pk) in caplog.text

    def test_the_lid_and_jid_are_recorded_and_the_phone_read_from_the_jid(self, client):
        session = named_session("aurora-main")

        post(
            client,
            waha_event(
                "aurora-main",
                "WORKING",
                me={
                    "id": "123123@lid",
                    "lid": "123123@lid",
                    "jid": "5511987654321:12@s.whatsapp.net",
                },
            ),
        )

        session.refresh_from_db()
        assert session.phone_number == PHONE
        assert session.session_data["lid"] == "123123@lid"
        assert session.session_data["jid"] == "5511987654321:12@s.whatsapp.net"

    def test_a_lid_alone_never_matches_a_session_of_another_phone(self, client):
        old = named_session("aurora-1", phone_number=PHONE, status=Status.DISCONNECTED)
        old.session_data = {**old.session_data, "lid": "777@lid"}
        old.save()
        workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
        new = named_session("aurora-2", organization=old.organization)

        post(client, waha_event("aurora-2", "WORKING", me={"id": "777@lid"}))

        new.refresh_from_db()
        workshop.refresh_from_db()
        assert (new.status, new.phone_number) == (Status.CONNECTED, None)
        assert workshop.whatsapp_session_id == old.pk

    @pytest.mark.parametrize("passkey", ["PASSKEY_REQUIRED", "PASSKEY_CONFIRMATION_REQUIRED"])
    def test_passkey_statuses_mean_connecting(self, client, passkey):
        session = named_session("aurora-main", phone_number=PHONE, status=Status.DISCONNECTED)

        response = post(client, waha_event("aurora-main", passkey))

        assert response.status_code == HTTPStatus.OK
        session.refresh_from_db()
        assert session.status == Status.CONNECTING

    def test_an_unknown_status_is_acknowledged_and_ignored(self, client, caplog):
        named_session("aurora-main", phone_number=PHONE, status=Status.CONNECTED)
        before = database_snapshot()

        response = post(client, waha_event("aurora-main", "HOLOGRAM_REQUIRED"))

        assert response.status_code == HTTPStatus.OK
        assert response.json()["status"] == "ignored"
        assert database_snapshot() == before
        assert "HOLOGRAM_REQUIRED" in caplog.text


@pytest.fixture
def waha(settings):
    with FakeWaha(api_key="gateway-key") as fake:
        settings.WHATSAPP_GATEWAY_BACKEND = "sessions_app.gateway.waha.GatewayBackend"
        settings.WHATSAPP_GATEWAY_URL = fake.url
        settings.WHATSAPP_GATEWAY_API_KEY = "gateway-key"
        yield fake


class TestTheDispatcherReadsTheGatewaysAnswers:
    """Against the fake WAHA over HTTP, at a fixed pass time."""

    OPTIONS = DispatchOptions(
        send_interval_seconds=0, send_jitter_seconds=0, max_attempts=3, backoff_seconds=30
    )

    @pytest.fixture
    def message(self):
        session = named_session("aurora-main", phone_number=PHONE, status=Status.CONNECTED)
        workshop = factories.WorkshopFactory(
            organization=session.organization, whatsapp_session=session
        )
        return factories.ScheduledWhatsAppMessageFactory(
            workshop=workshop,
            group=factories.WhatsAppGroupFactory(session=session),
            send_at=T0 - dt.timedelta(minutes=1),
        )

    def dispatch(self, message, now=T0):
        dispatch_due_messages(worker="w", options=self.OPTIONS, now=now)
        message.refresh_from_db()
        return message

    def test_429_waits_the_seconds_of_retry_after(self, waha, message):
        waha.script = [(429, {"message": "Too Many Requests"}, {"Retry-After": "120"})]

        message = self.dispatch(message)

        assert (message.status, message.attempts) == ("pending", 1)
        assert message.next_attempt_at == T0 + dt.timedelta(seconds=120)
        assert "429" in message.last_error

    def test_429_waits_until_the_date_of_retry_after(self, waha, message):
        later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
        date = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
        waha.script = [(429, {"message": "slow down"}, {"Retry-After": date})]

        message = self.dispatch(message)

        assert message.status == "pending"
        wait = message.next_attempt_at - T0
        assert dt.timedelta(minutes=59) < wait <= dt.timedelta(hours=1)

    def test_408_is_retried_with_backoff(self, waha, message):
        waha.script = [(408, {"message": "Request Timeout"})]

        message = self.dispatch(message)

        assert (message.status, message.attempts) == ("pending", 1)
        assert message.next_attempt_at == T0 + dt.timedelta(seconds=30)

    def test_rate_limits_count_toward_the_attempts(self, waha, message):
        waha.script = [(429, {"message": "Too Many Requests"}, {"Retry-After": "1"})] * 3
        for attempt in range(3):
            message = self.dispatch(message, now=T0 + dt.timedelta(minutes=attempt))

        assert (message.status, message.attempts) == ("failed", 3)
        assert "Gave up after 3 attempts" in message.last_error

    def test_wahas_422_about_the_session_waits_for_the_session(self, waha, message):
        not_ready = (
            422,
            {
                "statusCode": 422,
                "message": "Session status is not as expected. Try again later or restart it.",
                "status": "STOPPED",
                "expected": ["WORKING"],
            },
        )
        waha.script = [not_ready] * 5
        for attempt in range(5):
            message = self.dispatch(message, now=T0 + dt.timedelta(hours=attempt))

        assert (message.status, message.attempts) == ("pending", 5)
        assert "not ready" in message.last_error
        assert message.next_attempt_at <= T0 + dt.timedelta(hours=4, minutes=5)

    @pytest.mark.parametrize("answer", [{"sent": True}, b"<html>OK</html>"])
    def test_a_2xx_without_an_id_is_sent_and_says_why(self, waha, message, answer):
        waha.script = [(201, answer)]

        message = self.dispatch(message)

        assert (message.status, message.gateway_message_id) == ("sent", "")
        assert message.last_error == "The gateway accepted the message without an id."
        assert message.sent_at is not None

    def test_other_4xx_stay_permanent(self, waha, message):
        waha.script = [(400, {"message": "chatId is not a valid group"})]

        message = self.dispatch(message)

        assert (message.status, message.attempts) == ("failed", 1)
        assert "chatId is not a valid group" in message.last_error


def test_an_unparseable_retry_after_falls_back_to_the_backoff(waha):
    session = named_session("aurora-main", phone_number=PHONE, status=Status.CONNECTED)
    workshop = factories.WorkshopFactory(
        organization=session.organization, whatsapp_session=session
    )
    message = factories.ScheduledWhatsAppMessageFactory(
        workshop=workshop,
        group=factories.WhatsAppGroupFactory(session=session),
        send_at=T0 - dt.timedelta(minutes=1),
    )
    waha.script = [(429, {"message": "slow"}, {"Retry-After": "soon"})]

    dispatch_due_messages(
        worker="w",
        options=DispatchOptions(send_interval_seconds=0, send_jitter_seconds=0, backoff_seconds=7),
        now=T0,
    )

    message.refresh_from_db()
    assert message.status == ScheduledWhatsAppMessage.Status.PENDING
    assert message.next_attempt_at == T0 + dt.timedelta(seconds=7)


def test_unique_event_ids_are_namespaced_per_gateway(client):
    named_session("aurora-main")
    post(client, waha_event("aurora-main", "SCAN_QR_CODE", event_id=f"evt_{uuid.uuid4().hex}"))

    [seen] = GatewayEvent.objects.values_list("event_id", flat=True)
    assert seen.startswith("waha:evt_")


class TestAWahaReportItCannotPlace:
    """What the webhook answers WAHA for a report it cannot apply: the status and the one-line
    reason WAHA's delivery log shows, word for word, and nothing changed."""

    @pytest.mark.parametrize("timestamp", ["2026-11-25T12:00:00Z", True], ids=["text", "bool"])
    def test_a_timestamp_that_is_not_milliseconds_is_refused_saying_why(self, client, timestamp):
        named_session("aurora-main")
        before = database_snapshot()

        body = {**waha_event("aurora-main", "WORKING", me=me(PHONE)), "timestamp": timestamp}
        response = post(client, body)

        assert (response.status_code, response.json()) == (
            HTTPStatus.BAD_REQUEST,
            {"error": '"timestamp" must be milliseconds since the epoch.'},
        )
        assert database_snapshot() == before

    def test_a_name_no_session_has_is_refused_though_another_session_was_superseded(self, client):
        newer = named_session("aurora-2", phone_number=PHONE, status=Status.CONNECTED)
        named_session("aurora-1", organization=newer.organization, superseded_by=newer)
        before = database_snapshot()

        response = post(client, waha_event("nobody-yet", "WORKING", me=me(PHONE)))

        assert (response.status_code, response.json()) == (
            HTTPStatus.NOT_FOUND,
            {"error": "No live session is called 'nobody-yet'."},
        )
        assert database_snapshot() == before

    def test_a_name_taken_while_the_report_is_read_is_refused_so_the_retry_applies_it(self, client):
        """The report finds no live session of its name; before it asks whether a superseded
        session holds the name, a pairing elsewhere gives the name to a new live session. The
        report is refused, never acknowledged as late: the gateway sends it again, and then it
        applies."""
        organization = factories.OrganizationFactory()
        reads = []

        def pair_before_the_second_read(execute, sql, params, many, context):
            if sql.startswith("SELECT") and "whatsapp_sessions" in sql and not reads:
                reads.append(sql)
            elif sql.startswith("SELECT") and "whatsapp_sessions" in sql and len(reads) == 1:
                reads.append(sql)
                named_session("aurora-new", organization=organization)
            return execute(sql, params, many, context)

        body = waha_event("aurora-new", "WORKING", me=me(PHONE), event_id="evt-1")
        with connection.execute_wrapper(pair_before_the_second_read):
            response = post(client, body)

        assert len(reads) == 2
        assert (response.status_code, response.json()) == (
            HTTPStatus.NOT_FOUND,
            {"error": "No live session is called 'aurora-new'."},
        )
        retried = post(client, body)

        assert retried.status_code == HTTPStatus.OK
        paired = WhatsAppSession.objects.get(session_data__session_name="aurora-new")
        assert (paired.status, paired.phone_number) == (Status.CONNECTED, PHONE)


class TestANameThatMovesWhileAReportIsApplied:
    """Between finding the session a report names and locking it, the name can move to another
    session (a handover, a pairing). The report then goes where the name is now, or is refused
    for the gateway to send again; never applied to the session that lost the name."""

    @staticmethod
    def is_the_lookup(sql: str) -> bool:
        """The report's search for the live session of its name, made before its transaction
        begins (what happens after it is not rolled back with the report's attempt)."""
        return sql.startswith("SELECT") and "->>" in sql and " FOR " not in sql

    def move_the_name_after_each_lookup(self, sessions, *, times):
        """An execute wrapper: after each of the first `times` lookups of a report, the name
        passes to the next of `sessions`."""
        moves = []

        def wrapper(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if self.is_the_lookup(sql) and len(moves) < times:
                holder, taker = sessions[len(moves) % 2], sessions[(len(moves) + 1) % 2]
                moves.append(taker.pk)
                WhatsAppSession.objects.filter(pk=holder.pk).update(
                    session_data={"session_name": f"was-{len(moves)}"}
                )
                WhatsAppSession.objects.filter(pk=taker.pk).update(
                    session_data={"session_name": "aurora-main"}
                )
            return result

        return wrapper, moves

    def post_while_the_name_moves(self, client, *, times):
        """A report to "aurora-main" while the name passes between two sessions `times` times:
        the two sessions, the sessions the name went to, and the answer."""
        first = named_session("aurora-main")
        second = named_session("aurora-other", organization=first.organization)
        wrapper, moves = self.move_the_name_after_each_lookup([first, second], times=times)
        with connection.execute_wrapper(wrapper):
            response = post(client, waha_event("aurora-main", "WORKING", me=me(PHONE)))
        return first, second, moves, response

    def test_a_report_follows_the_name_to_its_new_session(self, client):
        first, second, moves, response = self.post_while_the_name_moves(client, times=1)

        assert moves == [second.pk]
        assert response.status_code == HTTPStatus.OK
        assert response.json()["session"] == str(second.pk)
        first.refresh_from_db()
        second.refresh_from_db()
        assert (second.status, second.phone_number) == (Status.CONNECTED, PHONE)
        assert (first.status, first.phone_number) == (Status.CONNECTING, None)

    def test_a_name_that_keeps_moving_is_refused_for_the_gateway_to_send_again(self, client):
        _first, _second, moves, response = self.post_while_the_name_moves(client, times=10)

        assert len(moves) == 3
        assert (response.status_code, response.json()) == (
            HTTPStatus.CONFLICT,
            {"error": "Session 'aurora-main' kept changing; send it again."},
        )
        assert not WhatsAppSession.objects.filter(status=Status.CONNECTED).exists()
        assert not GatewayEvent.objects.exists()

    def test_a_session_deleted_meanwhile_is_refused_saying_which(self, client):
        session = named_session("aurora-main")
        deleted = []

        def delete_after_the_lookup(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if self.is_the_lookup(sql) and not deleted:
                deleted.append(session.pk)
                WhatsAppSession.objects.filter(pk=session.pk).delete()
            return result

        with connection.execute_wrapper(delete_after_the_lookup):
            response = post(client, waha_event("aurora-main", "WORKING", me=me(PHONE)))

        assert deleted == [session.pk]
        assert (response.status_code, response.json()) == (
            HTTPStatus.BAD_REQUEST,
            {"error": f"Session {session.pk} does not exist."},
        )
