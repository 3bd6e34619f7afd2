"""The admin around sending: the messages list, Retry now, event pages, Refresh status."""

from http import HTTPStatus

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.urls import reverse

from scheduling.models import ScheduledWhatsAppMessage
from sessions_app.gateway import locmem
from sessions_app.gateway.base import SessionStatus
from sessions_app.models import WhatsAppSession
from tests.factories import (
    ScheduledWhatsAppMessageFactory,
    WebinarFactory,
    WhatsAppSessionFactory,
    WorkshopFactory,
)

pytestmark = pytest.mark.django_db
Status = ScheduledWhatsAppMessage.Status
CHANGELIST = "admin:scheduling_scheduledwhatsappmessage_changelist"


def test_messages_list_filters_by_status_and_kind(admin_client):
    workshop_message = ScheduledWhatsAppMessageFactory(body="workshop reminder")
    webinar = WebinarFactory()
    ScheduledWhatsAppMessageFactory(
        workshop=None, webinar=webinar, body="webinar reminder", status=Status.FAILED
    )

    response = admin_client.get(reverse(CHANGELIST), {"kind": "webinar"})
    assert response.status_code == HTTPStatus.OK
    assert [m.body for m in response.context["cl"].result_list] == ["webinar reminder"]

    response = admin_client.get(reverse(CHANGELIST), {"status__exact": "pending"})
    assert [m.pk for m in response.context["cl"].result_list] == [workshop_message.pk]


def test_retry_now_requeues_the_selected_failed_messages(admin_client):
    failed = ScheduledWhatsAppMessageFactory(status=Status.FAILED, attempts=5, last_error="x")
    sent = ScheduledWhatsAppMessageFactory(status=Status.SENT)

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]},
        follow=True,
    )

    assert response.status_code == HTTPStatus.OK
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.PENDING, 0)
    assert sent.status == Status.SENT
    assert [(m.level, str(m)) for m in response.context["messages"]] == [
        (messages.SUCCESS, "1 failed message will be sent on the next pass."),
        (messages.WARNING, "1 selected message had not failed and was left alone."),
    ]


def test_retry_now_warns_when_none_of_the_selected_messages_had_failed(admin_client):
    sent = ScheduledWhatsAppMessageFactory(status=Status.SENT)

    response = admin_client.post(
        reverse(CHANGELIST),
        {"action": "retry_now", "_selected_action": [sent.pk]},
        follow=True,
    )

    sent.refresh_from_db()
    assert sent.status == Status.SENT
    [shown] = response.context["messages"]
    assert (shown.level, str(shown)) == (
        messages.WARNING,
        "None of the selected messages had failed: nothing was retried.",
    )


@pytest.mark.parametrize("kind", ["workshop", "webinar"])
def test_event_pages_list_their_messages_read_only(admin_client, kind):
    event = (WorkshopFactory if kind == "workshop" else WebinarFactory)()
    ScheduledWhatsAppMessageFactory(
        workshop=event if kind == "workshop" else None,
        webinar=event if kind == "webinar" else None,
        body="See you at seven",
        last_error="Session is disconnected",
    )

    response = admin_client.get(reverse(f"admin:scheduling_{kind}_change", args=[event.pk]))

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert "See you at seven" in page
    assert "Session is disconnected" in page
    assert "scheduled_messages-0-body" not in page  # shown, not editable
    assert "scheduled_messages-TOTAL_FORMS" in page


def test_refresh_status_from_gateway_action(admin_client):
    locmem.statuses.clear()
    session = WhatsAppSessionFactory(
        status=WhatsAppSession.Status.CONNECTING,
        phone_number=None,
        session_data={"session_name": "aurora"},
    )
    locmem.statuses["aurora"] = SessionStatus(status="connected", phone_number="5511987654321@c.us")
    try:
        response = admin_client.post(
            reverse("admin:sessions_app_whatsappsession_changelist"),
            {"action": "refresh_status_from_gateway", "_selected_action": [session.pk]},
            follow=True,
        )
    finally:
        locmem.statuses.clear()

    assert response.status_code == HTTPStatus.OK
    session.refresh_from_db()
    assert (session.status, session.phone_number) == ("connected", "+5511987654321")
    notes = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert notes == [("success", "Refreshed 1 session from the gateway.")]
