"""`seed_demo` loads a phone that reconnected, with every reference still on the old session."""

import io
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models.signals import post_save

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession

pytestmark = pytest.mark.django_db

PHONE = "+5511987654321"


def seed():
    call_command("seed_demo", stdout=io.StringIO())


def row_counts():
    counted = [*apps.get_app_config("sessions_app").get_models()]
    counted += [*apps.get_app_config("scheduling").get_models()]
    counted += [get_user_model(), apps.get_model("auth", "Group")]
    return {model._meta.label: model.objects.count() for model in counted}


@dataclass
class ReconnectedPhone:
    organization: Organization
    old: WhatsAppSession
    new: WhatsAppSession


@pytest.fixture
def aurora() -> ReconnectedPhone:
    seed()
    organization = Organization.objects.get(name="Instituto Aurora")
    return ReconnectedPhone(
        organization=organization,
        old=organization.whatsapp_sessions.get(status=WhatsAppSession.Status.DISCONNECTED),
        new=organization.whatsapp_sessions.get(status=WhatsAppSession.Status.CONNECTED),
    )


def test_the_phone_has_a_disconnected_old_session_and_a_connected_new_one(aurora):
    assert aurora.old.phone_number == aurora.new.phone_number == PHONE
    assert aurora.old.disconnected_at is not None
    assert aurora.old.session_data["session_name"]
    assert aurora.new.connected_at > aurora.old.disconnected_at
    assert aurora.old.superseded_by is None
    assert aurora.organization.community_session == aurora.old
    assert not SessionMigration.objects.exists()


def test_every_reference_still_points_at_the_old_session(aurora):
    assert Workshop.objects.filter(whatsapp_session=aurora.old).count() >= 2
    assert Webinar.objects.filter(whatsapp_session=aurora.old).count() >= 2
    assert not Workshop.objects.filter(whatsapp_session=aurora.new).exists()
    assert not Webinar.objects.filter(whatsapp_session=aurora.new).exists()
    assert not NotificationCampaign.objects.filter(session=aurora.new).exists()
    assert {
        campaign.status for campaign in NotificationCampaign.objects.filter(session=aurora.old)
    } == set(NotificationCampaign.Status.values)


def test_some_groups_were_already_resynced_under_the_new_session(aurora):
    old_jids = set(aurora.old.groups.values_list("group_jid", flat=True))
    new_jids = set(aurora.new.groups.values_list("group_jid", flat=True))

    assert new_jids, "the merge case needs groups the gateway re-synced"
    assert new_jids < old_jids, "and groups that only the old session has, to move"


def test_messages_on_the_old_groups_are_in_mixed_statuses_for_both_kinds_of_event(aurora):
    messages = ScheduledWhatsAppMessage.objects.filter(group__session=aurora.old)

    assert set(messages.values_list("status", flat=True)) == set(
        ScheduledWhatsAppMessage.Status.values
    )
    assert messages.filter(workshop__isnull=False).exists()
    assert messages.filter(webinar__isnull=False).exists()
    resynced_jids = aurora.new.groups.values_list("group_jid", flat=True)
    assert messages.filter(status="pending", group__group_jid__in=resynced_jids).exists()
    assert messages.filter(status="pending").exclude(group__group_jid__in=resynced_jids).exists()


def test_a_second_organization_has_its_own_session_and_each_has_a_staff_member(aurora):
    other = Organization.objects.exclude(pk=aurora.organization.pk).get()

    assert other.whatsapp_sessions.get().status == WhatsAppSession.Status.CONNECTED
    for org in (aurora.organization, other):
        staff = [membership.user for membership in org.memberships.all()]
        assert len(staff) == 1
        assert staff[0].is_staff and not staff[0].is_superuser
        assert not staff[0].has_usable_password()
    assert (
        get_user_model()
        .objects.get(username="marina.souza")
        .has_perm("sessions_app.migrate_whatsappsession")
    )


def test_running_it_again_creates_nothing():
    seed()
    first = row_counts()

    seed()

    assert row_counts() == first


def test_running_it_again_keeps_what_staff_changed_since(aurora):
    Workshop.objects.filter(whatsapp_session=aurora.old).update(whatsapp_session=aurora.new)
    WhatsAppGroup.objects.filter(session=aurora.old, is_active=True).update(name="Renamed by staff")

    seed()

    assert not Workshop.objects.filter(whatsapp_session=aurora.old).exists()
    assert not aurora.old.groups.exclude(name="Renamed by staff").exists()


def test_says_when_there_is_nothing_to_do(capsys):
    call_command("seed_demo")
    assert "Demo data loaded" in capsys.readouterr().out

    call_command("seed_demo")
    assert capsys.readouterr().out == "Demo data already present: nothing created.\n"


def test_saves_no_session_through_signals():
    # A session saved as connected moves its predecessors' references automatically; the demo
    # exists to show them before the move, so no session may be saved that way.
    saved = []

    def record(sender, instance, **kwargs):
        saved.append(instance)

    post_save.connect(record, sender=WhatsAppSession, weak=False)
    try:
        seed()
    finally:
        post_save.disconnect(record, sender=WhatsAppSession)

    assert WhatsAppSession.objects.count() == 3
    assert saved == []
