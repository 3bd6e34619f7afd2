"""The constraints hold at the database, not only in forms: rows written past Django's
validation are refused, and deleting a session never takes a workshop, group or message with it."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, WhatsAppGroup, WhatsAppSession
from tests import factories

pytestmark = pytest.mark.django_db


class TestGroupPerSessionAndJid:
    def test_a_second_group_with_the_same_session_and_jid_is_refused(self):
        group = factories.WhatsAppGroupFactory()

        with pytest.raises(IntegrityError), transaction.atomic():
            WhatsAppGroup.objects.create(
                session=group.session, group_jid=group.group_jid, name="Same group, synced twice"
            )

        assert WhatsAppGroup.objects.filter(group_jid=group.group_jid).count() == 1

    def test_the_same_jid_under_another_session_of_the_phone_is_allowed(self):
        # A reconnected session re-syncs the same WhatsApp groups: the merge case needs both rows.
        group = factories.WhatsAppGroupFactory()
        newer = factories.WhatsAppSessionFactory(
            organization=group.session.organization, phone_number=group.session.phone_number
        )

        WhatsAppGroup.objects.create(session=newer, group_jid=group.group_jid)

        assert WhatsAppGroup.objects.filter(group_jid=group.group_jid).count() == 2


class TestMessageBelongsToExactlyOneEvent:
    def message_fields(self, session):
        return {
            "group": factories.WhatsAppGroupFactory(session=session),
            "body": "Lembrete",
            "send_at": timezone.now(),
        }

    def test_a_message_with_both_a_workshop_and_a_webinar_is_refused(self):
        workshop = factories.WorkshopFactory()
        webinar = factories.WebinarFactory(
            organization=workshop.organization, whatsapp_session=workshop.whatsapp_session
        )

        with pytest.raises(IntegrityError), transaction.atomic():
            ScheduledWhatsAppMessage.objects.create(
                workshop=workshop,
                webinar=webinar,
                **self.message_fields(workshop.whatsapp_session),
            )

        assert not ScheduledWhatsAppMessage.objects.exists()

    def test_a_message_with_neither_a_workshop_nor_a_webinar_is_refused(self):
        session = factories.WhatsAppSessionFactory()

        with pytest.raises(IntegrityError), transaction.atomic():
            ScheduledWhatsAppMessage.objects.create(**self.message_fields(session))

        assert not ScheduledWhatsAppMessage.objects.exists()

    def test_an_update_that_drops_the_event_is_refused(self):
        message = factories.ScheduledWhatsAppMessageFactory()

        with pytest.raises(IntegrityError), transaction.atomic():
            ScheduledWhatsAppMessage.objects.filter(pk=message.pk).update(workshop=None)

        message.refresh_from_db()
        assert message.workshop_id is not None


class TestDeletingAReferencedSession:
    def test_a_session_with_groups_cannot_be_deleted_and_its_groups_and_messages_stay(self):
        message = factories.ScheduledWhatsAppMessageFactory()
        session = message.group.session

        with pytest.raises(ProtectedError):
            session.delete()

        assert WhatsAppSession.objects.filter(pk=session.pk).exists()
        assert WhatsAppGroup.objects.filter(pk=message.group_id).exists()
        assert ScheduledWhatsAppMessage.objects.filter(pk=message.pk).exists()
        assert Workshop.objects.filter(pk=message.workshop_id).exists()

    def test_a_group_with_messages_cannot_be_deleted(self):
        message = factories.ScheduledWhatsAppMessageFactory()

        with pytest.raises(ProtectedError):
            message.group.delete()

        assert ScheduledWhatsAppMessage.objects.filter(pk=message.pk).exists()

    def test_a_session_named_in_the_audit_cannot_be_deleted(self):
        migration = factories.SessionMigrationFactory()

        with pytest.raises(ProtectedError):
            migration.old_session.delete()

    def test_deleting_a_session_without_groups_nulls_every_reference_and_keeps_the_rows(self):
        session = factories.WhatsAppSessionFactory()
        organization = session.organization
        organization.community_session = session
        organization.save()
        workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=session)
        webinar = factories.WebinarFactory(organization=organization, whatsapp_session=session)
        campaign = factories.NotificationCampaignFactory(organization=organization, session=session)
        older = factories.WhatsAppSessionFactory(
            organization=organization,
            phone_number=session.phone_number,
            status=WhatsAppSession.Status.DISCONNECTED,
            superseded_by=session,
        )

        session.delete()

        assert Workshop.objects.get(pk=workshop.pk).whatsapp_session_id is None
        assert Webinar.objects.get(pk=webinar.pk).whatsapp_session_id is None
        assert NotificationCampaign.objects.get(pk=campaign.pk).session_id is None
        assert Organization.objects.get(pk=organization.pk).community_session_id is None
        assert WhatsAppSession.objects.get(pk=older.pk).superseded_by_id is None

    def test_the_database_itself_refuses_a_raw_delete_of_a_referenced_session(self, postgres_only):
        # Django emulates SET_NULL and PROTECT; the foreign key must still hold for SQL that
        # bypasses the ORM (a console session, another service).
        workshop = factories.WorkshopFactory()

        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "DELETE FROM whatsapp_sessions WHERE id = %s", [workshop.whatsapp_session_id]
            )

        assert WhatsAppSession.objects.filter(pk=workshop.whatsapp_session_id).exists()
