"""A row never points at another organization's session, group or event: refused by the admin's
forms and by the services with a reason, and by PostgreSQL when anything else tries."""

import uuid
from http import HTTPStatus

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Workshop
from sessions_app.models import SessionMigration, WhatsAppGroup
from sessions_app.organization_rules import (
    cross_organization_rows,
    refuse_cross_organization_rows,
)
from sessions_app.services.migration import SessionMigrationError, migrate_session
from tests import factories
from tests.admin_scenarios import STAFF_PERMISSIONS, staff_member
from tests.migration_helpers import database_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]


# A member of both organizations, who may add every kind of row.
EDITOR_PERMISSIONS = [
    *STAFF_PERMISSIONS,
    "scheduling.add_workshop",
    "scheduling.add_notificationcampaign",
    "scheduling.change_notificationcampaign",
    "scheduling.add_scheduledwhatsappmessage",
    "scheduling.change_scheduledwhatsappmessage",
]


def editor_of(*organizations):
    return staff_member(*organizations, permissions=EDITOR_PERMISSIONS)


@pytest.fixture
def two_organizations():
    a = factories.WhatsAppSessionFactory()
    b = factories.WhatsAppSessionFactory()
    return a, b


def raw(sql, params):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


class TestTheDatabaseRefuses:
    @pytest.mark.parametrize("table", ["workshops", "webinars"])
    def test_an_event_on_another_organizations_session(self, two_organizations, table):
        a, b = two_organizations
        with pytest.raises(IntegrityError, match=f"{table}_session_same_organization"):
            raw(
                f"INSERT INTO {table} (id, organization_id, title, starts_at,"
                " whatsapp_session_id, created_at, updated_at)"
                " VALUES (%s, %s, 'x', now(), %s, now(), now())",
                [uuid.uuid4(), b.organization_id, a.pk],
            )

    def test_a_campaign_on_another_organizations_session(self, two_organizations):
        a, b = two_organizations
        with pytest.raises(IntegrityError, match="campaigns_session_same_organization"):
            raw(
                "INSERT INTO notification_campaigns (id, organization_id, name, session_id,"
                " status, body, created_at) VALUES (%s, %s, 'x', %s, 'draft', '', now())",
                [uuid.uuid4(), b.organization_id, a.pk],
            )

    def test_a_community_session_of_another_organization(self, two_organizations):
        a, b = two_organizations
        with pytest.raises(IntegrityError, match="community_session_same_organization"):
            raw(
                "UPDATE organizations SET community_session_id = %s WHERE id = %s",
                [a.pk, b.organization_id],
            )

    def test_a_message_whose_group_and_event_differ(self, two_organizations):
        a, b = two_organizations
        group = factories.WhatsAppGroupFactory(session=a)
        workshop = factories.WorkshopFactory(organization=b.organization, whatsapp_session=b)
        with pytest.raises(IntegrityError, match="different organizations"):
            raw(
                "INSERT INTO scheduled_whatsapp_messages (id, group_id, workshop_id, body,"
                " send_at, status, attempts, last_error, claimed_by, gateway_message_id,"
                " created_at, updated_at) VALUES (%s, %s, %s, 'x', now(), 'pending', 0, '', '',"
                " '', now(), now())",
                [uuid.uuid4(), group.pk, workshop.pk],
            )

    def test_a_group_moved_under_its_messages_to_another_organization(self, two_organizations):
        a, b = two_organizations
        message = factories.ScheduledWhatsAppMessageFactory(
            workshop=factories.WorkshopFactory(organization=a.organization, whatsapp_session=a)
        )
        before = database_snapshot()
        with pytest.raises(IntegrityError, match="different organizations"):
            raw(
                "UPDATE whatsapp_groups SET session_id = %s WHERE id = %s", [b.pk, message.group_id]
            )
        with pytest.raises(IntegrityError, match="different organizations"):
            raw(
                "UPDATE workshops SET organization_id = %s, whatsapp_session_id = NULL"
                " WHERE id = %s",
                [b.organization_id, message.workshop_id],
            )
        assert database_snapshot() == before

    def test_rows_inside_one_organization_go_through(self, two_organizations):
        a, _ = two_organizations
        message = factories.ScheduledWhatsAppMessageFactory(
            workshop=factories.WorkshopFactory(organization=a.organization, whatsapp_session=a)
        )
        other = factories.WhatsAppSessionFactory(organization=a.organization)
        raw(
            "UPDATE whatsapp_groups SET session_id = %s WHERE id = %s", [other.pk, message.group_id]
        )
        assert WhatsAppGroup.objects.get(pk=message.group_id).session == other


def test_the_migration_names_the_rows_an_existing_database_must_fix(two_organizations):
    a, b = two_organizations
    # Rows written before the rule existed: the constraints are off for this transaction only.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
        workshop = Workshop.objects.create(
            organization=b.organization, title="x", starts_at=timezone.now(), whatsapp_session=a
        )
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")
        assert cross_organization_rows(connection) == [
            ("workshops", str(workshop.pk), "its session belongs to another organization")
        ]
        with pytest.raises(RuntimeError, match=f"workshops {workshop.pk}: its session belongs"):
            refuse_cross_organization_rows(connection)
        transaction.set_rollback(True)


class TestFormsAndServicesRefuseFirst:
    def test_the_workshop_form_names_the_problem(self, client, two_organizations):
        a, b = two_organizations
        client.force_login(editor_of(a.organization, b.organization))
        response = client.post(
            reverse("admin:scheduling_workshop_add"),
            {
                "organization": b.organization_id,
                "title": "Crossed",
                "starts_at_0": "2030-01-01",
                "starts_at_1": "10:00",
                "whatsapp_session": a.pk,
                "scheduled_messages-TOTAL_FORMS": 0,
                "scheduled_messages-INITIAL_FORMS": 0,
            },
        )
        assert response.status_code == HTTPStatus.OK
        assert "belongs to another organization" in response.content.decode()
        assert not Workshop.objects.exists()

    def test_the_campaign_form_names_the_problem(self, client, two_organizations):
        a, b = two_organizations
        client.force_login(editor_of(a.organization, b.organization))
        response = client.post(
            reverse("admin:scheduling_notificationcampaign_add"),
            {"organization": b.organization_id, "name": "x", "session": a.pk, "status": "draft"},
        )
        assert "belongs to another organization" in response.content.decode()

    def test_the_message_form_names_the_problem(self, client, two_organizations):
        a, b = two_organizations
        client.force_login(editor_of(a.organization, b.organization))
        group = factories.WhatsAppGroupFactory(session=a)
        workshop = factories.WorkshopFactory(organization=b.organization, whatsapp_session=b)
        response = client.post(
            reverse("admin:scheduling_scheduledwhatsappmessage_add"),
            {
                "group": group.pk,
                "workshop": workshop.pk,
                "body": "x",
                "send_at_0": "2030-01-01",
                "send_at_1": "10:00",
                "status": "pending",
            },
        )
        assert "belongs to another organization" in response.content.decode()

    def test_the_move_service_refuses_with_a_reason(self, two_organizations):
        a, b = two_organizations
        with pytest.raises(SessionMigrationError, match="different organizations"):
            migrate_session(a, b, trigger="command", force=True)
        assert not SessionMigration.objects.exists()


def test_the_audit_page_lists_only_rows_of_the_migrations_organization(client):
    migration = factories.SessionMigrationFactory()
    stranger = factories.WorkshopFactory()  # of another organization
    migration.moved_ids = {"workshops": [str(stranger.pk)]}
    migration.save()
    client.force_login(staff_member(migration.organization))
    page = client.get(reverse("admin:sessions_app_sessionmigration_change", args=[migration.pk]))
    assert stranger.title not in page.content.decode()
