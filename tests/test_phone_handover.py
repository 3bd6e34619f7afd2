"""A gateway session that reports another phone: what each of the two sessions records (PostgreSQL).

The old session keeps its phone and is disconnected; a new session of the other phone takes the
gateway name. Staff read both on the session pages: the status and its times, the last report,
and the link between the two.
"""

import datetime as dt

import pytest
from django.utils import timezone

from sessions_app.models import WhatsAppSession
from sessions_app.services.status import ReportResult, apply_status_report
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

PHONE = "+5511987654321"
OTHER_PHONE = "+5511912345678"
Status = WhatsAppSession.Status
T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def session_of(phone, **kwargs):
    kwargs.setdefault("status", Status.CONNECTED)
    kwargs.setdefault("connected_at", T0 - dt.timedelta(days=3))
    return factories.WhatsAppSessionFactory(
        phone_number=phone, session_data={"session_name": "aurora-main"}, **kwargs
    )


def report_other_phone(session, status, *, at=T0, identities=None):
    before = timezone.now()
    outcome = apply_status_report(
        session,
        status,
        OTHER_PHONE,
        reported_at=at,
        identities=identities,
        gateway_name=("session_name", "aurora-main"),
    )
    assert outcome.result == ReportResult.APPLIED
    assert outcome.replaced.pk == session.pk
    old = WhatsAppSession.objects.get(pk=session.pk)
    new = WhatsAppSession.objects.get(pk=outcome.session.pk)
    return old, new, before


class TestTheOldSession:
    def test_is_disconnected_now_keeps_its_phone_and_records_the_report(self):
        session = session_of(PHONE)

        old, new, before = report_other_phone(session, Status.CONNECTED)

        assert (old.status, old.phone_number) == (Status.DISCONNECTED, PHONE)
        assert old.disconnected_at >= before
        assert old.last_report_at == T0
        assert old.session_data == {
            "former_session_name": "aurora-main",
            "phone_changed_to": str(new.pk),
        }

    def test_already_disconnected_keeps_the_time_it_disconnected(self):
        disconnected_at = T0 - dt.timedelta(hours=2)
        session = session_of(PHONE, status=Status.DISCONNECTED, disconnected_at=disconnected_at)

        old, _new, _ = report_other_phone(session, Status.CONNECTED)

        assert old.status == Status.DISCONNECTED
        assert old.disconnected_at == disconnected_at
        assert old.last_report_at == T0

    def test_the_callers_copy_reads_what_was_saved(self):
        session = session_of(PHONE)

        old, _new, _ = report_other_phone(session, Status.CONNECTED)

        assert (session.status, session.session_data) == (old.status, old.session_data)
        assert session.last_report_at == T0


class TestTheNewSession:
    def test_connected_holds_the_name_the_phone_and_the_link_back(self):
        session = session_of(PHONE)

        old, new, before = report_other_phone(
            session, Status.CONNECTED, identities={"lid": "4242@lid"}
        )

        assert (new.organization_id, new.status, new.phone_number) == (
            old.organization_id,
            Status.CONNECTED,
            OTHER_PHONE,
        )
        assert new.connected_at >= before
        assert new.disconnected_at is None
        assert new.last_report_at == T0
        assert new.superseded_by_id is None
        assert new.session_data == {
            "session_name": "aurora-main",
            "lid": "4242@lid",
            "phone_changed_from": str(old.pk),
        }

    def test_disconnected_is_stamped_disconnected_never_connected(self):
        session = session_of(PHONE)

        _old, new, before = report_other_phone(session, Status.DISCONNECTED)

        assert (new.status, new.phone_number) == (Status.DISCONNECTED, OTHER_PHONE)
        assert new.disconnected_at >= before
        assert new.connected_at is None

    def test_connecting_has_neither_time(self):
        session = session_of(PHONE)

        _old, new, _ = report_other_phone(session, Status.CONNECTING)

        assert new.status == Status.CONNECTING
        assert (new.connected_at, new.disconnected_at) == (None, None)

    def test_an_older_report_to_the_name_afterwards_is_stale_for_the_new_session(self):
        session = session_of(PHONE)
        _old, new, _ = report_other_phone(session, Status.CONNECTED)

        outcome = apply_status_report(
            new, Status.DISCONNECTED, reported_at=T0 - dt.timedelta(seconds=1)
        )

        assert outcome.result == ReportResult.STALE
        assert WhatsAppSession.objects.get(pk=new.pk).status == Status.CONNECTED
