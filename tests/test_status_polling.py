"""Polling the gateway for sessions' status: `sync_session_status` and the admin's Refresh status.

What staff read: one line per session (its status, or why it could not be refreshed), and what
the session records afterwards.
"""

import datetime as dt
import io

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from sessions_app.gateway import SessionStatus, locmem
from sessions_app.models import WhatsAppSession
from sessions_app.services.gateway_status import refresh_session_status
from sessions_app.services.status import apply_status_report
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

PHONE = "+5511987654321"
OTHER_PHONE = "+5511912345678"
Status = WhatsAppSession.Status


@pytest.fixture(autouse=True)
def gateway():
    locmem.reset()
    yield locmem
    locmem.reset()


def sync(**options):
    """`sync_session_status`: its stdout, its stderr and the error it exits with, if any."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("sync_session_status", stdout=out, stderr=err, **options)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), str(exc)
    return out.getvalue(), err.getvalue(), None


def named(name, **kwargs):
    return factories.WhatsAppSessionFactory(session_data={"session_name": name}, **kwargs)


class TestTheCommandSaysWhatBecameOfEachSession:
    def test_a_refreshed_session_with_its_status(self, gateway):
        session = named("aurora-main", phone_number=PHONE, status=Status.CONNECTING)
        gateway.statuses["aurora-main"] = SessionStatus(Status.CONNECTED, f"{PHONE[1:]}@c.us")

        out, err, error = sync()

        assert out.splitlines() == [
            f"{session.pk} (aurora-main): connected",
            "1 refreshed, 0 failed",
        ]
        assert (err, error) == ("", None)
        session.refresh_from_db()
        assert session.status == Status.CONNECTED

    def test_a_session_without_a_gateway_name(self):
        session = factories.WhatsAppSessionFactory(session_data={}, status=Status.CONNECTING)

        out, err, error = sync()

        assert err.splitlines() == [
            f'{session.pk} (no name): No gateway name ("session_name") in session_data.'
        ]
        assert out.splitlines() == ["0 refreshed, 1 failed"]
        assert error == "1 session could not be refreshed."

    def test_a_status_the_product_does_not_know(self, gateway):
        session = named("aurora-main", status=Status.CONNECTING)
        gateway.statuses["aurora-main"] = SessionStatus("paused")

        _out, err, error = sync()

        assert err.splitlines() == [
            f"{session.pk} (aurora-main): Unknown session status 'paused'; expected one of "
            "connecting, connected, disconnected."
        ]
        assert error == "1 session could not be refreshed."
        session.refresh_from_db()
        assert session.status == Status.CONNECTING

    def test_a_newer_report_already_applied_is_kept(self, gateway):
        later = timezone.now() + dt.timedelta(hours=1)
        session = named("aurora-main", status=Status.CONNECTING, last_report_at=later)
        gateway.statuses["aurora-main"] = SessionStatus(Status.DISCONNECTED)

        _out, err, error = sync()

        assert err.splitlines() == [
            f"{session.pk} (aurora-main): A newer report arrived meanwhile; kept it."
        ]
        assert error == "1 session could not be refreshed."
        session.refresh_from_db()
        assert (session.status, session.last_report_at) == (Status.CONNECTING, later)


def test_identities_the_gateway_reports_are_recorded(gateway):
    session = named("aurora-main", phone_number=PHONE)
    gateway.statuses["aurora-main"] = SessionStatus(
        Status.CONNECTED, f"{PHONE[1:]}@c.us", identities={"lid": "4242@lid"}
    )

    sync()

    session.refresh_from_db()
    assert session.session_data == {"session_name": "aurora-main", "lid": "4242@lid"}


def test_a_session_that_gave_up_its_name_meanwhile_is_not_changed(gateway):
    session = named("aurora-main", phone_number=PHONE)
    read_before = WhatsAppSession.objects.get(pk=session.pk)
    # Meanwhile the gateway session ran another phone: the name moved to a new session.
    apply_status_report(session, Status.CONNECTED, OTHER_PHONE)
    gateway.statuses["aurora-main"] = SessionStatus(Status.CONNECTING)

    result = refresh_session_status(session=read_before, gateway=locmem.GatewayBackend())

    assert result.error == "Session no longer answers to 'aurora-main'."
    assert result.session is read_before
    moved = WhatsAppSession.objects.get(session_data__session_name="aurora-main")
    assert moved.status == Status.CONNECTED
    assert WhatsAppSession.objects.get(pk=session.pk).status == Status.DISCONNECTED


def test_refresh_status_in_the_admin_says_which_session_took_over_the_name(admin_client, gateway):
    session = named("aurora-main", phone_number=PHONE)
    gateway.statuses["aurora-main"] = SessionStatus(Status.CONNECTED, f"{OTHER_PHONE[1:]}@c.us")

    response = admin_client.post(
        reverse("admin:sessions_app_whatsappsession_changelist"),
        {"action": "refresh_status_from_gateway", "_selected_action": [session.pk]},
    )

    session.refresh_from_db()
    new = WhatsAppSession.objects.get(session_data__session_name="aurora-main")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Refreshed 1 session from the gateway.",
        f"{session}: the gateway now reports phone {OTHER_PHONE}. New session {str(new.pk)[:8]} "
        "took over its gateway name; nothing moved, because the phones differ.",
    ]
