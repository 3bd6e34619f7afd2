"""Groups stay one active per group_jid across reconnects, and nothing stays on a superseded
session: rows attached to one later go to the live end of its chain."""

from http import HTTPStatus

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from scheduling.services import (
    DispatchOptions,
    _Outcome,
    claim_due_messages,
    messages_retry_now,
    record_outcomes,
    release_claims,
)
from sessions_app.models import WhatsAppGroup, WhatsAppSession
from sessions_app.services.migration import sweep_references
from sessions_app.services.status import apply_status_report
from tests import factories
from tests.admin_scenarios import STAFF_PERMISSIONS, staff_member
from tests.migration_helpers import PHONE, Campaign, Message, Status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

JID = "222@g.us"


def connect(session):
    apply_status_report(WhatsAppSession.objects.get(pk=session.pk), Status.CONNECTED, PHONE)


def disconnect(session):
    apply_status_report(WhatsAppSession.objects.get(pk=session.pk), Status.DISCONNECTED)


def sync_group(session, jid=JID):
    """What a group sync does on a session that is a member of the group."""
    group, _ = WhatsAppGroup.objects.update_or_create(
        session=session, group_jid=jid, defaults={"is_active": True}
    )
    return group


def live_session_of(organization):
    return WhatsAppSession.objects.get(organization=organization, superseded_by__isnull=True)


def assert_one_active_group_per_jid(session, jids):
    for jid in jids:
        assert (
            WhatsAppGroup.objects.filter(session=session, group_jid=jid, is_active=True).count()
            == 1
        ), jid


class TestOneActiveGroupPerJid:
    def test_a_to_b_to_a(self):
        a = factories.WhatsAppSessionFactory(phone_number=PHONE, status=Status.CONNECTED)
        workshop = factories.WorkshopFactory(organization=a.organization, whatsapp_session=a)
        group_a = sync_group(a)
        message = factories.ScheduledWhatsAppMessageFactory(workshop=workshop, group=group_a)
        b = factories.WhatsAppSessionFactory(
            organization=a.organization, phone_number=PHONE, status=Status.CONNECTING
        )
        sync_group(b)
        disconnect(a)
        connect(b)  # A → B: A's group merges into B's
        disconnect(b)
        connect(a)  # B → A: B's group merges back into A's (inactive) group

        assert live_session_of(a.organization) == a
        assert_one_active_group_per_jid(a, [JID])
        message.refresh_from_db()
        assert message.group.session_id == a.pk and message.group.is_active

    def test_five_reconnects(self):
        first = factories.WhatsAppSessionFactory(phone_number=PHONE, status=Status.CONNECTED)
        organization = first.organization
        workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=first)
        jids = [JID, "333@g.us", "444@g.us"]
        messages = [
            factories.ScheduledWhatsAppMessageFactory(
                workshop=workshop, group=sync_group(first, jid)
            )
            for jid in jids
        ]
        current = first
        for n in range(5):
            following = factories.WhatsAppSessionFactory(
                organization=organization, phone_number=PHONE, status=Status.CONNECTING
            )
            # The gateway re-syncs some groups before the connect is reported, some after.
            for jid in jids[: n % 3]:
                sync_group(following, jid)
            disconnect(current)
            connect(following)
            for jid in jids[n % 3 :]:
                sync_group(following, jid)
            current = following

        assert live_session_of(organization) == current
        assert_one_active_group_per_jid(current, jids)
        for message in messages:
            message.refresh_from_db()
            assert message.group.session_id == current.pk and message.group.is_active


def merged_scene():
    """A phone reconnected and its group was merged into the new session's group."""
    old = factories.WhatsAppSessionFactory(phone_number=PHONE, status=Status.DISCONNECTED)
    new = factories.WhatsAppSessionFactory(
        organization=old.organization, phone_number=PHONE, status=Status.CONNECTING
    )
    workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
    old_group = sync_group(old)
    new_group = sync_group(new)
    return old, new, workshop, old_group, new_group


class TestRowsAttachedToASupersededSession:
    def test_a_campaign_scheduled_later_follows_the_live_session(self, client):
        old, new, *_ = merged_scene()
        draft = factories.NotificationCampaignFactory(
            organization=old.organization, session=old, status=Campaign.DRAFT
        )
        connect(new)
        draft.refresh_from_db()
        assert draft.session == old  # drafts keep their session on a reconnect

        client.force_login(
            staff_member(
                old.organization,
                permissions=[*STAFF_PERMISSIONS, "scheduling.change_notificationcampaign"],
            )
        )
        response = client.post(
            reverse("admin:scheduling_notificationcampaign_change", args=[draft.pk]),
            {
                "organization": old.organization_id,
                "name": draft.name,
                "session": old.pk,
                "status": Campaign.SCHEDULED,
                "body": "Hello",
                "scheduled_at_0": "2030-01-01",
                "scheduled_at_1": "10:00",
            },
        )
        assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
        draft.refresh_from_db()
        assert (draft.status, draft.session) == (Campaign.SCHEDULED, new)

    def test_a_claimed_message_released_after_a_merge_goes_to_the_live_group(self):
        _, new, workshop, old_group, new_group = merged_scene()
        message = factories.ScheduledWhatsAppMessageFactory(
            workshop=workshop, group=old_group, send_at=timezone.now()
        )
        [claimed], _ = claim_due_messages(worker="w1", options=DispatchOptions())
        assert claimed.id == message.pk
        connect(new)  # the merge leaves the claimed (sending) message where it is
        message.refresh_from_db()
        assert message.group == old_group

        release_claims(worker="w1")

        message.refresh_from_db()
        assert (message.status, message.group) == (Message.PENDING, new_group)

    def test_a_claimed_message_retried_after_a_merge_goes_to_the_live_group(self):
        _, new, workshop, old_group, new_group = merged_scene()
        message = factories.ScheduledWhatsAppMessageFactory(
            workshop=workshop, group=old_group, send_at=timezone.now()
        )
        [claimed], _ = claim_due_messages(worker="w1", options=DispatchOptions())
        connect(new)  # the merge leaves the claimed (sending) message where it is

        # The send failed in a way worth another try: the outcome puts it back to pending.
        retry = _Outcome(claimed.id, Message.PENDING, 1, last_error="WAHA answered 503")
        assert record_outcomes([retry], worker="w1") == 1

        message.refresh_from_db()
        assert (message.status, message.group, message.last_error) == (
            Message.PENDING,
            new_group,
            "WAHA answered 503",
        )

    def test_retry_now_on_a_merged_groups_message_goes_to_the_live_group(self):
        _, new, workshop, old_group, new_group = merged_scene()
        failed = factories.ScheduledWhatsAppMessageFactory(
            workshop=workshop, group=old_group, status=Message.FAILED
        )
        connect(new)
        failed.refresh_from_db()
        assert failed.group == old_group  # failed messages keep their group on a move

        messages_retry_now(queryset=ScheduledWhatsAppMessage.objects.filter(pk=failed.pk))

        failed.refresh_from_db()
        assert (failed.status, failed.group) == (Message.PENDING, new_group)

    def test_the_dispatchers_sweep_finishes_what_slipped_through(self):
        old, new, *_ = merged_scene()
        connect(new)
        late = NotificationCampaign.objects.create(
            organization=old.organization, name="late", session=old, status=Campaign.PENDING
        )

        report = sweep_references(superseded_only=True)

        late.refresh_from_db()
        assert late.session == new
        assert [(r.old.pk, r.new.pk) for r in report.results] == [(old.pk, new.pk)]


@override_settings(WHATSAPP_DISPATCH_SWEEP_EVERY_PASSES=1)
def test_a_looping_dispatcher_runs_the_sweep(caplog):
    from scheduling.management.commands.process_message_queue import Command

    old, new, *_ = merged_scene()
    connect(new)
    late = NotificationCampaign.objects.create(
        organization=old.organization, name="late", session=old, status=Campaign.PENDING
    )
    with caplog.at_level("INFO"):
        Command._sweep_superseded()
    late.refresh_from_db()
    assert late.session == new
    assert f"what was left on superseded session {old.pk}" in caplog.text
