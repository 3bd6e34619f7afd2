"""Undo from the audit page, behind a preview; and "pending messages" meaning one set of rows
on the session page, the move preview, the success message and the audit."""

import io
from http import HTTPStatus

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse

from sessions_app.admin.counts import count_list
from sessions_app.models import Organization, SessionMigration, WhatsAppSession
from sessions_app.services.migration import migrate_session
from tests import factories
from tests.admin_scenarios import reconnected_phone, staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

SESSIONS = reverse("admin:sessions_app_whatsappsession_changelist")
PENDING_COLUMN = 6  # "Pending messages" in sessions_app.references.count_columns()


def undo_url(migration):
    return reverse("admin:sessions_app_sessionmigration_undo", args=[migration.pk])


def audit_url(migration):
    return reverse("admin:sessions_app_sessionmigration_change", args=[migration.pk])


def moved_migration():
    scene = reconnected_phone()
    migration = migrate_session(scene.old, scene.new, trigger="admin").migration
    return scene, migration


class TestUndoFromTheAudit:
    def test_preview_then_undo_then_both_entries_link_each_other(self, client):
        scene, migration = moved_migration()
        client.force_login(staff_member(scene.organization))
        page = client.get(audit_url(migration)).content.decode()
        assert undo_url(migration) in page

        preview = client.get(undo_url(migration))
        assert preview.status_code == HTTPStatus.OK
        assert preview.context["preview"].counts == migration.counts
        assert "What goes back" in preview.content.decode()
        assert not SessionMigration.objects.filter(trigger="undo").exists()

        response = client.post(undo_url(migration), {"post": "yes"})
        assert response.status_code == HTTPStatus.FOUND
        undo = SessionMigration.objects.get(trigger="undo")
        [(level, note)] = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
        assert level == "success" and note.startswith("Undone: moved back Workshops: 2")
        original = client.get(audit_url(migration)).content.decode()
        assert "Undone by" in original and audit_url(undo) in original
        assert undo_url(migration) not in original  # undone once
        entry = client.get(audit_url(undo)).content.decode()
        assert "Undoes" in entry and audit_url(migration) in entry
        assert undo_url(undo) not in entry  # an undo is not undone

    def test_rows_changed_since_are_shown_as_staying_with_why(self, client):
        scene, migration = moved_migration()
        scene.webinars[0].delete()
        client.force_login(staff_member(scene.organization))
        preview = client.get(undo_url(migration)).content.decode()
        assert "What stays, and why (1)" in preview
        assert "deleted since" in preview

    def test_an_undo_that_moves_nothing_back_is_a_warning(self, client):
        scene, migration = moved_migration()
        # Every row it moved has moved on since, to a third session of the phone.
        third = factories.WhatsAppSessionFactory(
            organization=scene.organization, phone_number=scene.new.phone_number
        )
        migrate_session(scene.new, third, trigger="admin", force=True)
        client.force_login(staff_member(scene.organization))

        response = client.post(undo_url(migration), {"post": "yes"})

        [(level, note)] = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
        assert level == "warning"
        assert note.startswith("Undone, but nothing went back: every row it moved has changed")

    def test_a_large_migration_lists_a_page_of_each_table_and_says_how_many_more(self, client):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from scheduling.models import Workshop
        from sessions_app.admin.audit_rows import LISTED_ROWS_PER_TABLE

        scene = reconnected_phone()
        extra = LISTED_ROWS_PER_TABLE + 30
        Workshop.objects.bulk_create(
            factories.WorkshopFactory.build(
                organization=scene.organization, whatsapp_session=scene.old
            )
            for _ in range(extra)
        )
        migration = migrate_session(scene.old, scene.new, trigger="admin").migration
        moved = migration.counts["workshops"]
        assert moved == extra + len(scene.workshops)
        client.force_login(staff_member(scene.organization))

        with CaptureQueriesContext(connection) as queries:
            response = client.get(undo_url(migration))

        [workshops] = [t for t in response.context["back_rows"] if t["key"] == "workshops"]
        assert len(workshops["rows"]) == LISTED_ROWS_PER_TABLE
        page = response.content.decode()
        assert f"Workshops ({moved})" in page
        assert f"and {moved - LISTED_ROWS_PER_TABLE} more rows, not listed here" in page
        # The page reads the listed workshops only, not every one the migration moved.
        [listing] = [q["sql"] for q in queries if '"workshops"."id" IN (' in q["sql"]]
        assert listing.count("::uuid") <= LISTED_ROWS_PER_TABLE + 1

    def test_needs_the_migrate_permission(self, client):
        scene, migration = moved_migration()
        client.force_login(staff_member(scene.organization, migrate=False))
        assert undo_url(migration) not in client.get(audit_url(migration)).content.decode()
        assert client.get(undo_url(migration)).status_code == HTTPStatus.FORBIDDEN
        assert client.post(undo_url(migration), {"post": "yes"}).status_code == 403
        assert not SessionMigration.objects.filter(trigger="undo").exists()

    def test_another_organizations_migration_does_not_exist(self, client):
        _, migration = moved_migration()
        client.force_login(staff_member(reconnected_phone().organization))
        response = client.post(undo_url(migration), {"post": "yes"})
        assert response.status_code == HTTPStatus.FOUND
        assert response.url == reverse("admin:index")
        assert not SessionMigration.objects.filter(trigger="undo").exists()


def test_pending_messages_are_the_same_rows_everywhere_on_the_demo_data(admin_client):
    call_command("seed_demo", stdout=io.StringIO())
    organization = Organization.objects.get(name="Instituto Aurora")
    old = organization.whatsapp_sessions.get(status=WhatsAppSession.Status.DISCONNECTED)
    page = admin_client.get(reverse("admin:sessions_app_whatsappsession_change", args=[old.pk]))
    [panel] = [
        row["count"] for row in page.context["references"] if row["label"] == "Pending messages"
    ]

    preview = admin_client.post(
        SESSIONS, {"action": "move_references", "_selected_action": [str(old.pk)]}
    )
    [move] = preview.context["previews"]
    assert preview.context["count_labels"][PENDING_COLUMN] == "Pending messages"
    previewed = move.count_list[PENDING_COLUMN]

    target = preview.context["form"]["target"].value()
    done = admin_client.post(
        SESSIONS,
        {
            "action": "move_references",
            "_selected_action": [str(old.pk)],
            "target": target,
            "previewed_target": target,
            "post": "yes",
        },
    )
    [note] = [str(m) for m in get_messages(done.wsgi_request)]
    migration = SessionMigration.objects.get()
    audit = admin_client.get(audit_url(migration))
    # Listed in two tables, by how they moved; a page of each is shown.
    pending_tables = [
        t for t in audit.context["moved_rows"] if t["label"].startswith("Pending messages")
    ]
    listed = [row for t in pending_tables for row in t["rows"]]
    assert len(pending_tables) == 2 and sum(t["total"] for t in pending_tables) == len(listed)

    # Some of them were re-pointed to re-synced groups, the others moved with their groups.
    assert migration.counts["scheduled_messages"] and migration.counts["messages_with_groups"]
    assert panel == previewed == count_list(migration.counts)[PENDING_COLUMN] == len(listed) > 0
    assert f"Pending messages: {panel}" in note
