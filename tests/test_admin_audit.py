"""The migration audit in the admin: read by staff of its organization, changed by nobody."""

from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.models import Workshop
from sessions_app.models import SessionMigration
from tests import factories
from tests.admin_scenarios import reconnected_phone, staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

AUDIT_LIST = reverse("admin:sessions_app_sessionmigration_changelist")


def audit_entry_for(scene, **kwargs) -> SessionMigration:
    """An audit row as the service writes it, naming the scene's rows as moved."""
    moved_ids = {
        "workshops": [str(w.pk) for w in scene.workshops],
        "webinars": [str(w.pk) for w in scene.webinars],
        "campaigns": [str(c.pk) for c in scene.campaigns],
        "organizations": [str(scene.organization.pk)],
        "groups_moved": [str(g.pk) for g in scene.groups],
        "groups_merged": [],
        "scheduled_messages": [],
    }
    return factories.SessionMigrationFactory(
        old_session=scene.old,
        new_session=scene.new,
        counts={key: len(ids) for key, ids in moved_ids.items()},
        moved_ids=moved_ids,
        **kwargs,
    )


def audit_url(migration, view="change"):
    return reverse(f"admin:sessions_app_sessionmigration_{view}", args=[migration.pk])


class TestAuditPages:
    def test_the_list_shows_when_trigger_who_old_new_and_what_moved(self, client):
        scene = reconnected_phone()
        user = staff_member(scene.organization)
        audit_entry_for(scene, actor=user)
        client.force_login(user)
        response = client.get(AUDIT_LIST)
        html = response.content.decode()
        assert response.status_code == HTTPStatus.OK
        assert "Admin" in html
        assert user.username in html
        assert reverse("admin:sessions_app_whatsappsession_change", args=[scene.old.pk]) in html
        assert reverse("admin:sessions_app_whatsappsession_change", args=[scene.new.pk]) in html
        assert "Workshops: 2, Webinars: 1, Active campaigns: 1" in html

    def test_filters_by_trigger_and_organization(self, client):
        scene = reconnected_phone()
        second = factories.OrganizationFactory()
        elsewhere = reconnected_phone(second, phone_number="+5511977776666")
        user = staff_member(scene.organization, second)
        by_admin = audit_entry_for(scene, actor=user)
        automatic = audit_entry_for(elsewhere, trigger=SessionMigration.Trigger.AUTOMATIC)
        client.force_login(user)

        def listed(**params):
            response = client.get(AUDIT_LIST, params)
            return {row.pk for row in response.context["cl"].result_list}

        assert listed(trigger__exact="automatic") == {automatic.pk}
        assert listed(organization__id__exact=str(scene.organization.pk)) == {by_admin.pk}
        assert listed() == {by_admin.pk, automatic.pk}

    def test_the_page_of_a_migration_lists_every_moved_row_with_a_link(self, client):
        scene = reconnected_phone()
        migration = audit_entry_for(scene)
        client.force_login(staff_member(scene.organization))
        response = client.get(audit_url(migration))
        html = response.content.decode()
        assert response.status_code == HTTPStatus.OK
        rows = {table["key"]: table["rows"] for table in response.context["moved_rows"]}
        assert set(rows) == {"workshops", "webinars", "campaigns", "organizations", "groups_moved"}
        for workshop in scene.workshops:
            url = reverse("admin:scheduling_workshop_change", args=[workshop.pk])
            assert f'<a href="{url}">{workshop.title}</a>' in html
            assert str(workshop.pk) in html
        for group in scene.groups:
            assert reverse("admin:sessions_app_whatsappgroup_change", args=[group.pk]) in html
        organization_url = reverse(
            "admin:sessions_app_organization_change", args=[scene.organization.pk]
        )
        assert organization_url in html

    def test_a_row_deleted_since_is_still_listed_by_id(self, client):
        scene = reconnected_phone()
        migration = audit_entry_for(scene)
        gone = scene.webinars[0]
        gone_id = str(gone.pk)
        gone.delete()
        client.force_login(staff_member(scene.organization))
        html = client.get(audit_url(migration)).content.decode()
        assert f'{gone_id} <span class="quiet">(deleted since)</span>' in html

    def test_the_page_of_a_migration_reads_each_table_once(self, client):
        scene = reconnected_phone(workshops=5)
        migration = audit_entry_for(scene)
        client.force_login(staff_member(scene.organization))
        with CaptureQueriesContext(connection) as five_workshops:
            client.get(audit_url(migration))
        more = reconnected_phone(scene.organization, phone_number="+5511955554444", workshops=40)
        bigger = audit_entry_for(more)
        with CaptureQueriesContext(connection) as forty_workshops:
            client.get(audit_url(bigger))
        assert len(forty_workshops) == len(five_workshops)

    def test_a_large_migration_lists_its_moved_rows_a_page_per_table(self, client):
        scene = reconnected_phone(workshops=1)
        scene.workshops += Workshop.objects.bulk_create(
            Workshop(
                organization=scene.organization,
                title=f"Workshop {n:03d}",
                starts_at=timezone.now(),
                whatsapp_session=scene.new,
            )
            for n in range(149)
        )
        migration = audit_entry_for(scene)
        client.force_login(staff_member(scene.organization))
        workshop_ids = [str(w.pk) for w in scene.workshops]

        def shown(**params):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(audit_url(migration), params)
            html = response.content.decode()
            tables = {table["key"]: table for table in response.context["moved_rows"]}
            return html, tables, len(queries)

        shown()  # the session's first page view writes what later ones only read
        html, tables, first_queries = shown()
        assert [row["id"] for row in tables["workshops"]["rows"]] == workshop_ids[:100]
        assert 'id="moved-workshops">Workshops (150)' in html
        assert "Rows 1 to 100 of 150" in html
        assert '?moved_workshops=2#moved-workshops">next</a>' in html
        assert [row["id"] for row in tables["webinars"]["rows"]] == [
            str(w.pk) for w in scene.webinars
        ]

        html, tables, second_queries = shown(moved_workshops=2)
        assert [row["id"] for row in tables["workshops"]["rows"]] == workshop_ids[100:]
        assert "Rows 101 to 150 of 150" in html
        assert '?moved_workshops=1#moved-workshops">previous</a>' in html
        last = reverse("admin:scheduling_workshop_change", args=[scene.workshops[-1].pk])
        assert f'<a href="{last}">' in html
        assert second_queries == first_queries

        _, tables, _ = shown(moved_workshops="x")
        assert len(tables["workshops"]["rows"]) == 100


class TestAppendOnly:
    """No add, change or delete for anyone, superusers included."""

    def test_superusers_cannot_add_change_or_delete(self, admin_client):
        scene = reconnected_phone()
        migration = audit_entry_for(scene)
        before = SessionMigration.objects.values().get(pk=migration.pk)

        assert admin_client.get(reverse("admin:sessions_app_sessionmigration_add")).status_code == (
            HTTPStatus.FORBIDDEN
        )
        assert (
            admin_client.post(
                reverse("admin:sessions_app_sessionmigration_add"),
                {"trigger": "admin", "counts": "{}", "moved_ids": "{}"},
            ).status_code
            == HTTPStatus.FORBIDDEN
        )
        changed = admin_client.post(
            audit_url(migration), {"trigger": "automatic", "counts": '{"workshops": 99}'}
        )
        assert changed.status_code == HTTPStatus.FORBIDDEN
        assert admin_client.get(audit_url(migration, "delete")).status_code == HTTPStatus.FORBIDDEN
        assert (
            admin_client.post(audit_url(migration, "delete"), {"post": "yes"}).status_code
            == HTTPStatus.FORBIDDEN
        )
        bulk = admin_client.post(
            AUDIT_LIST,
            {"action": "delete_selected", "_selected_action": [str(migration.pk)], "post": "yes"},
        )
        assert bulk.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
        assert SessionMigration.objects.values().get(pk=migration.pk) == before

    def test_the_pages_offer_no_way_to_edit(self, admin_client):
        migration = audit_entry_for(reconnected_phone())
        listing = admin_client.get(AUDIT_LIST)
        assert listing.context["cl"].model_admin.get_actions(listing.wsgi_request) == {}
        assert reverse("admin:sessions_app_sessionmigration_add") not in listing.content.decode()
        page = admin_client.get(audit_url(migration))
        html = page.content.decode()
        assert page.status_code == HTTPStatus.OK
        assert 'name="_save"' not in html
        assert audit_url(migration, "delete") not in html

    def test_staff_with_every_audit_permission_still_cannot_change_it(self, client):
        scene = reconnected_phone()
        migration = audit_entry_for(scene)
        user = staff_member(
            scene.organization,
            permissions=[
                f"sessions_app.{verb}_sessionmigration"
                for verb in ("view", "add", "change", "delete")
            ],
        )
        client.force_login(user)
        assert client.post(audit_url(migration), {"trigger": "automatic"}).status_code == (
            HTTPStatus.FORBIDDEN
        )
        assert client.post(audit_url(migration, "delete"), {"post": "yes"}).status_code == (
            HTTPStatus.FORBIDDEN
        )
        assert SessionMigration.objects.filter(pk=migration.pk, trigger="admin").exists()


class TestAuditTenancy:
    def test_staff_do_not_see_another_organizations_migrations(self, client):
        ours = reconnected_phone()
        theirs = reconnected_phone(phone_number="+5511933332222")
        own = audit_entry_for(ours)
        foreign = audit_entry_for(theirs)
        client.force_login(staff_member(ours.organization))

        listed = {row.pk for row in client.get(AUDIT_LIST).context["cl"].result_list}
        assert listed == {own.pk}
        searched = client.get(AUDIT_LIST, {"q": theirs.old.phone_number})
        assert list(searched.context["cl"].result_list) == []

        response = client.get(audit_url(foreign), follow=True)
        assert response.redirect_chain == [(reverse("admin:index"), HTTPStatus.FOUND)]
        assert "doesn\u2019t exist" in response.content.decode()
        assert str(theirs.workshops[0].pk) not in response.content.decode()

    def test_a_crafted_post_for_another_organizations_migration_changes_nothing(self, client):
        ours = reconnected_phone()
        theirs = reconnected_phone(phone_number="+5511933332222")
        foreign = audit_entry_for(theirs)
        client.force_login(staff_member(ours.organization))
        for url in (audit_url(foreign), audit_url(foreign, "delete")):
            assert client.post(url, {"post": "yes", "trigger": "automatic"}).status_code in (
                HTTPStatus.FORBIDDEN,
                HTTPStatus.FOUND,
            )
        client.post(
            AUDIT_LIST,
            {"action": "delete_selected", "_selected_action": [str(foreign.pk)], "post": "yes"},
        )
        assert SessionMigration.objects.filter(pk=foreign.pk, trigger="admin").exists()


def test_the_audit_list_costs_the_same_queries_for_5_and_100_rows(client):
    scene = reconnected_phone(workshops=1, webinars=0)
    user = staff_member(scene.organization)
    client.force_login(user)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(AUDIT_LIST)
        assert response.status_code == HTTPStatus.OK
        return len(queries), len(response.context["cl"].result_list)

    for _ in range(5):
        audit_entry_for(scene, actor=user)
    five, shown = queries_for_list()
    assert shown == 5
    # A different actor on each row, so a per-row lookup of the actor would show.
    actors = get_user_model().objects.bulk_create(
        get_user_model()(username=f"auditor{n}") for n in range(95)
    )
    for actor in actors:
        audit_entry_for(scene, actor=actor)
    hundred, shown = queries_for_list()
    assert shown == 100
    assert hundred == five
