"""`apply_status_report`: the one place a session's status, phone and connection times change."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from scheduling.models import Workshop
from sessions_app.models import WhatsAppSession
from sessions_app.services.status import apply_status_report
from tests import factories
from tests.migration_helpers import PHONE, Status, database_snapshot, give_references

pytestmark = pytest.mark.django_db

SHAPES = [
    "+55 11 98888-7777",
    "5511988887777",
    "+5511988887777",
    "5511988887777@c.us",
    "5511988887777@s.whatsapp.net",
    "5511988887777:12@s.whatsapp.net",
]


def connecting_session(**kwargs):
    kwargs.setdefault("status", Status.CONNECTING)
    kwargs.setdefault("phone_number", None)
    kwargs.setdefault("connected_at", None)
    return factories.WhatsAppSessionFactory(**kwargs)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_a_gateway_reports_is_stored_in_e164(shape):
    session = connecting_session()

    returned = apply_status_report(session, "connected", shape)

    session.refresh_from_db()
    assert session.phone_number == PHONE
    assert returned.session.pk == session.pk and returned.session.phone_number == PHONE


def test_connecting_stamps_connected_at_and_disconnecting_stamps_disconnected_at():
    session = connecting_session()

    apply_status_report(session, "connected", PHONE)
    session.refresh_from_db()
    connected_at = session.connected_at
    assert session.status == Status.CONNECTED and connected_at is not None
    assert session.disconnected_at is None

    apply_status_report(session, "disconnected")
    session.refresh_from_db()
    assert session.status == Status.DISCONNECTED
    assert session.disconnected_at is not None
    assert session.connected_at == connected_at


def test_repeating_a_status_changes_nothing_but_the_time_of_the_last_report():
    session = connecting_session()
    apply_status_report(session, "connected", PHONE)
    before = database_snapshot()
    session.refresh_from_db()
    first_report = session.last_report_at

    outcome = apply_status_report(session, "connected", "5511988887777@c.us")

    assert outcome.result == "unchanged"
    session.refresh_from_db()
    assert session.last_report_at > first_report
    WhatsAppSession.objects.filter(pk=session.pk).update(last_report_at=first_report)
    assert database_snapshot() == before


def test_the_callers_instance_sees_the_new_values():
    session = connecting_session()

    apply_status_report(session, "connected", "5511988887777@c.us")

    assert session.status == Status.CONNECTED
    assert session.phone_number == PHONE
    assert session.connected_at is not None


class TestAPhoneIsKeptForLife:
    """A public system cleared old phone numbers before searching for them, so its migration
    never ran. Here neither a disconnect nor a report without a phone clears it."""

    def test_disconnecting_keeps_the_phone(self):
        session = connecting_session()
        apply_status_report(session, "connected", PHONE)

        apply_status_report(session, "disconnected")

        session.refresh_from_db()
        assert session.phone_number == PHONE

    @pytest.mark.parametrize("empty", [None, ""])
    def test_a_report_without_a_phone_keeps_it(self, empty):
        session = connecting_session()
        apply_status_report(session, "connected", PHONE)

        apply_status_report(session, "connecting", empty)

        session.refresh_from_db()
        assert session.phone_number == PHONE

    def test_the_next_connect_of_the_phone_still_finds_the_old_session(self):
        organization = factories.OrganizationFactory()
        old = connecting_session(organization=organization)
        apply_status_report(old, "connected", "+55 11 98888-7777")
        held = give_references(old)
        apply_status_report(old, "disconnected")
        new = connecting_session(organization=organization)

        apply_status_report(new, "connected", "5511988887777:3@s.whatsapp.net")

        assert {w.whatsapp_session_id for w in Workshop.objects.all()} == {new.pk}
        assert len(held.workshops) == new.workshops.count()
        old.refresh_from_db()
        assert (old.phone_number, old.superseded_by) == (PHONE, new)


class TestBadReports:
    def test_an_unknown_status_is_refused_and_changes_nothing(self):
        session = connecting_session()
        before = database_snapshot()

        with pytest.raises(ValidationError) as caught:
            apply_status_report(session, "online", PHONE)

        [message] = caught.value.messages
        assert "online" in message and "connected" in message and "\n" not in message
        assert database_snapshot() == before

    @pytest.mark.parametrize("phone", ["not a phone", "123", "abc@c.us", "+55 11", "1234@lid"])
    def test_an_unreadable_phone_never_blocks_the_status(self, phone, caplog):
        session = connecting_session()
        apply_status_report(session, "connecting", PHONE)

        apply_status_report(session, "connected", phone)

        session.refresh_from_db()
        assert (session.status, session.phone_number) == (Status.CONNECTED, PHONE)
        assert str(session.pk) in caplog.text and "cannot be read" in caplog.text

    def test_a_session_that_no_longer_exists_is_refused(self):
        session = connecting_session()
        ghost = WhatsAppSession(pk=session.pk.__class__(int=7), organization=session.organization)

        with pytest.raises(ValidationError, match="does not exist"):
            apply_status_report(ghost, "connected", PHONE)


class TestWhatAReportLeavesAlone:
    def test_an_empty_phone_is_no_phone_and_logs_nothing(self, caplog):
        session = connecting_session()
        apply_status_report(session, "connected", PHONE)

        apply_status_report(session, "connecting", "")

        session.refresh_from_db()
        assert (session.status, session.phone_number) == (Status.CONNECTING, PHONE)
        assert "cannot be read" not in caplog.text

    def test_repeating_the_same_identities_changes_nothing(self):
        session = connecting_session()
        apply_status_report(session, "connected", PHONE, identities={"lid": "8812@lid"})
        session.refresh_from_db()
        updated_at = session.updated_at

        outcome = apply_status_report(session, "connected", PHONE, identities={"lid": "8812@lid"})

        assert outcome.result == "unchanged"
        session.refresh_from_db()
        assert session.updated_at == updated_at
        assert session.session_data["lid"] == "8812@lid"

    def test_an_event_seen_before_is_answered_with_its_session(self):
        session = connecting_session()
        apply_status_report(session, "connected", PHONE, event_id="evt-1")

        outcome = apply_status_report(session, "disconnected", event_id="evt-1")

        assert (outcome.result, outcome.session.pk) == ("duplicate", session.pk)
        session.refresh_from_db()
        assert session.status == Status.CONNECTED


@pytest.mark.usefixtures("postgres_only")
@pytest.mark.parametrize("event_id", ["", "evt-clock"], ids=["polled", "with-an-event-id"])
def test_a_report_without_a_time_is_dated_by_the_databases_clock(monkeypatch, event_id):
    """Processes on other machines share the database's clock, not this one's."""
    from django.db import connection
    from django.utils import timezone

    session = connecting_session()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        [database_now] = cursor.fetchone()
    monkeypatch.setattr(timezone, "now", lambda: database_now - dt.timedelta(hours=3))

    apply_status_report(session, "connected", PHONE, event_id=event_id)

    session.refresh_from_db()
    assert abs(session.last_report_at - database_now) < dt.timedelta(minutes=5)


class TestTheOrderOfReports:
    def test_a_change_is_reported_as_applied(self):
        session = connecting_session()

        outcome = apply_status_report(session, "connected", PHONE)

        assert (outcome.result, outcome.session.pk) == ("applied", session.pk)

    def test_a_report_as_old_as_the_last_one_still_applies(self):
        """Two events of one millisecond, as WAHA stamps them, both count; only an older one is
        late."""
        session = connecting_session()
        at = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
        apply_status_report(session, "connected", PHONE, reported_at=at)

        outcome = apply_status_report(session, "disconnected", reported_at=at)

        assert outcome.result == "applied"
        session.refresh_from_db()
        assert session.status == Status.DISCONNECTED

    def test_an_older_report_is_late_and_answered_with_its_session(self):
        session = connecting_session()
        at = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
        apply_status_report(session, "connected", PHONE, reported_at=at)

        outcome = apply_status_report(
            session, "disconnected", reported_at=at - dt.timedelta(milliseconds=1)
        )

        assert (outcome.result, outcome.session.pk) == ("stale", session.pk)
        session.refresh_from_db()
        assert session.status == Status.CONNECTED
