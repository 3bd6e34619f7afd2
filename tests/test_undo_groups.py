"""An undo and the groups a move merged or moved, their messages, and the rows it leaves, each
with the reason staff read (PostgreSQL)."""

import pytest
from django.utils import timezone, translation

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Workshop
from sessions_app.models import WhatsAppGroup
from sessions_app.services.migration import migrate_session, undo_migration
from tests import factories
from tests.migration_helpers import Campaign, Message, new_then_old

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

JID = "120363000000000001@g.us"
OTHER_JID = "120363000000000002@g.us"


def group(session, jid, *, active=True):
    return WhatsAppGroup.objects.create(session=session, group_jid=jid, is_active=active)


def pending_message(group, workshop):
    return ScheduledWhatsAppMessage.objects.create(
        group=group, workshop=workshop, body="pending", send_at=timezone.now()
    )


def state(group):
    fresh = WhatsAppGroup.objects.get(pk=group.pk)
    return fresh.session_id, fresh.is_active


def group_of(message):
    return ScheduledWhatsAppMessage.objects.get(pk=message.pk).group_id


def reasons(result):
    return {(key, row["id"]): row["reason"] for key, rows in result.left.items() for row in rows}


@pytest.fixture
def merge():
    """The old session's group of JID merges into the new session's (inactive there), with a
    pending message re-pointed; its group of OTHER_JID moves."""
    old, new = new_then_old()
    workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
    merged, moving = group(old, JID), group(old, OTHER_JID)
    target = group(new, JID, active=False)
    message = pending_message(merged, workshop)
    migration = migrate_session(old, new, trigger="admin").migration
    assert state(merged) == (old.pk, False) and state(target) == (new.pk, True)
    assert group_of(message) == target.pk
    return old, new, migration, merged, moving, target, message


class TestMovedGroups:
    def test_one_inactive_before_the_move_goes_back_inactive(self):
        old, new = new_then_old()
        active, inactive = group(old, JID), group(old, OTHER_JID, active=False)
        migration = migrate_session(old, new, trigger="admin").migration
        assert state(inactive) == (new.pk, True)

        result = undo_migration(migration, actor=None)

        assert (state(active), state(inactive)) == ((old.pk, True), (old.pk, False))
        assert sorted(result.moved_ids["groups_moved"]) == sorted(
            [str(active.pk), str(inactive.pk)]
        )

    def test_one_moved_to_another_session_since_stays_there(self, merge):
        old, _new, migration, _merged, moving, _target, _message = merge
        elsewhere = factories.WhatsAppSessionFactory(organization=old.organization)
        WhatsAppGroup.objects.filter(pk=moving.pk).update(session=elsewhere)

        result = undo_migration(migration, actor=None)

        assert state(moving) == (elsewhere.pk, True)
        assert reasons(result)[("groups_moved", str(moving.pk))] == f"on session {elsewhere.pk} now"


class TestMergedGroups:
    def test_one_active_again_since_is_left_so(self, merge):
        old, _new, migration, merged, _moving, _target, _message = merge
        WhatsAppGroup.objects.filter(pk=merged.pk).update(is_active=True)

        result = undo_migration(migration, actor=None)

        assert result.moved_ids["groups_merged"] == []
        assert reasons(result)[("groups_merged", str(merged.pk))] == "active again since"
        assert state(merged) == (old.pk, True)

    def test_one_moved_to_another_session_since_is_not_reactivated_there(self, merge):
        old, _new, migration, merged, _moving, _target, _message = merge
        elsewhere = factories.WhatsAppSessionFactory(organization=old.organization)
        WhatsAppGroup.objects.filter(pk=merged.pk).update(session=elsewhere)

        result = undo_migration(migration, actor=None)

        assert state(merged) == (elsewhere.pk, False)
        assert (
            reasons(result)[("groups_merged", str(merged.pk))] == f"on session {elsewhere.pk} now"
        )

    def test_the_target_it_activated_is_deactivated_unless_it_moved_since(self, merge):
        old, _new, migration, _merged, _moving, target, _message = merge
        elsewhere = factories.WhatsAppSessionFactory(organization=old.organization)
        WhatsAppGroup.objects.filter(pk=target.pk).update(session=elsewhere)

        undo_migration(migration, actor=None)

        assert state(target) == (elsewhere.pk, True)

    def test_an_inactive_group_the_move_did_not_touch_stays_inactive(self):
        old, new = new_then_old()
        history = group(old, JID, active=False)
        group(new, JID)
        factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
        migration = migrate_session(old, new, trigger="admin").migration

        undo_migration(migration, actor=None)

        assert state(history) == (old.pk, False)


class TestMessages:
    def test_a_message_of_the_new_sessions_own_goes_nowhere(self, merge):
        _old, _new, migration, _merged, _moving, target, _message = merge
        own = pending_message(target, Workshop.objects.first())

        undo_migration(migration, actor=None)

        assert group_of(own) == target.pk

    @pytest.mark.parametrize("where", ["another group of the new session", "another session"])
    def test_the_preview_matches_the_undo_for_a_message_moved_since(self, merge, where):
        old, new, migration, merged, _moving, _target, message = merge
        if where == "another session":
            elsewhere = factories.WhatsAppSessionFactory(organization=old.organization)
            destination = group(elsewhere, JID)
        else:
            destination = group(new, "120363000000000003@g.us")
        ScheduledWhatsAppMessage.objects.filter(pk=message.pk).update(group=destination)

        preview = undo_migration(migration, actor=None, dry_run=True)
        result = undo_migration(migration, actor=None)

        assert preview.moved_ids == result.moved_ids
        assert preview.left == result.left
        assert result.moved_ids["scheduled_messages"] == []
        assert group_of(message) == destination.pk
        assert state(merged) == (old.pk, True)

    def test_a_message_that_followed_its_group_and_was_deleted_since_is_left_so(self):
        old, new = new_then_old()
        workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
        follower = pending_message(group(old, JID), workshop)
        migration = migrate_session(old, new, trigger="admin").migration
        assert migration.moved_ids["messages_with_groups"] == [str(follower.pk)]
        ScheduledWhatsAppMessage.objects.filter(pk=follower.pk).delete()

        result = undo_migration(migration, actor=None)

        assert reasons(result) == {("messages_with_groups", str(follower.pk)): "deleted since"}


class TestRowsLeftAndWhy:
    def test_a_row_put_back_by_hand_is_changed_since(self):
        old, new = new_then_old()
        workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
        campaign = factories.NotificationCampaignFactory(
            organization=old.organization, session=old, status=Campaign.SCHEDULED
        )
        migration = migrate_session(old, new, trigger="admin").migration
        Workshop.objects.filter(pk=workshop.pk).update(whatsapp_session=old)
        NotificationCampaign.objects.filter(pk=campaign.pk).update(session=old)

        result = undo_migration(migration, actor=None)

        assert reasons(result) == {
            ("workshops", str(workshop.pk)): "changed since",
            ("campaigns", str(campaign.pk)): "changed since",
        }

    def test_a_row_taken_off_every_session_is_on_no_session_now(self):
        old, new = new_then_old()
        workshop = factories.WorkshopFactory(organization=old.organization, whatsapp_session=old)
        migration = migrate_session(old, new, trigger="admin").migration
        Workshop.objects.filter(pk=workshop.pk).update(whatsapp_session=None)

        result = undo_migration(migration, actor=None)

        assert reasons(result) == {("workshops", str(workshop.pk)): "on no session now"}

    def test_a_message_sent_since_stays_and_says_so(self, merge):
        _old, _new, migration, _merged, _moving, target, message = merge
        ScheduledWhatsAppMessage.objects.filter(pk=message.pk).update(status=Message.SENT)

        result = undo_migration(migration, actor=None)

        assert reasons(result)[("scheduled_messages", str(message.pk))] == "now sent"
        assert group_of(message) == target.pk

    def test_the_status_it_is_in_now_is_named_in_the_staffs_language(self, merge):
        _old, _new, migration, _merged, _moving, _target, message = merge
        ScheduledWhatsAppMessage.objects.filter(pk=message.pk).update(status=Message.SENT)

        with translation.override("pt-br"):
            result = undo_migration(migration, actor=None)

        assert reasons(result)[("scheduled_messages", str(message.pk))] == "agora enviada"
