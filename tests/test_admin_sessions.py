"""The sessions admin: the list, what points at a session, and moving references by hand."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
from tests import factories
from tests.admin_scenarios import reconnected_phone, staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

SESSIONS = reverse("admin:sessions_app_whatsappsession_changelist")


def session_url(session):
    return reverse("admin:sessions_app_whatsappsession_change", args=[session.pk])


def run_action(client, action, sessions, **extra):
    """POST to the changelist as the action bar (no `post`) or the confirmation page does."""
    data = {"action": action, "_selected_action": [str(s.pk) for s in sessions], **extra}
    return client.post(SESSIONS, data)


def notes(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def preview_counts(response) -> dict[str, dict[str, int]]:
    return {
        str(preview.source.pk): preview.counts
        for preview in response.context["previews"]
        if not preview.refusal
    }


def confirm_move(client, sources, target, *, force=False):
    extra = {"target": str(target.pk), "previewed_target": str(target.pk), "post": "yes"}
    if force:
        extra["force"] = "on"
    return run_action(client, "move_references", sources, **extra)


class TestSessionsList:
    def test_columns_filters_and_search(self, client):
        scene = reconnected_phone()
        WhatsAppSession.objects.filter(pk=scene.old.pk).update(superseded_by=scene.new)
        client.force_login(staff_member(scene.organization))
        response = client.get(SESSIONS)
        html = response.content.decode()
        for heading in (
            "Phone number",
            "Status",
            "Connected",
            "Disconnected",
            "Superseded by",
            "Rows pointing here",
        ):
            assert heading in html
        rows = {str(s.pk): s for s in response.context["cl"].result_list}
        assert rows[str(scene.old.pk)].reference_count == 7
        assert rows[str(scene.new.pk)].reference_count == 0
        # The successor as the short id the list shows, whole on hover.
        short = str(scene.new.pk)[:8]
        assert f'<a href="{session_url(scene.new)}" title="{scene.new}">{short}</a>' in html
        filters = {spec.title for spec in response.context["cl"].filter_specs}
        assert "status" in filters

        def listed(**params):
            result = client.get(SESSIONS, params).context["cl"].result_list
            return {s.pk for s in result}

        assert listed(status__exact="disconnected") == {scene.old.pk}
        assert listed(q="+55 11 98888-7777") == {scene.old.pk, scene.new.pk}
        assert listed(q=str(scene.old.pk)[:8]) == {scene.old.pk}

    def test_the_list_costs_the_same_queries_for_5_and_100_sessions(self, client):
        organization = factories.OrganizationFactory()
        client.force_login(staff_member(organization))

        def queries_for_list():
            with CaptureQueriesContext(connection) as queries:
                response = client.get(SESSIONS)
            assert response.status_code == HTTPStatus.OK
            return len(queries), len(response.context["cl"].result_list)

        def add_sessions(count):
            for _ in range(count):
                superseding = factories.WhatsAppSessionFactory(organization=organization)
                old = factories.WhatsAppSessionFactory(
                    organization=organization,
                    status=WhatsAppSession.Status.DISCONNECTED,
                    superseded_by=superseding,
                )
                factories.WorkshopFactory(organization=organization, whatsapp_session=old)

        add_sessions(2)
        factories.WhatsAppSessionFactory(organization=organization)
        five, shown = queries_for_list()
        assert shown == 5
        add_sessions(47)
        factories.WhatsAppSessionFactory(organization=organization)
        hundred, shown = queries_for_list()
        assert shown == 100
        assert hundred == five

    def test_a_search_costs_the_same_queries_for_1_and_40_matches(self, client):
        organization = factories.OrganizationFactory()
        client.force_login(staff_member(organization))

        def search(term):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(SESSIONS, {"q": term})
            return len(queries), {s.phone_number for s in response.context["cl"].result_list}

        factories.WhatsAppSessionFactory(organization=organization, phone_number="+5511912340000")
        one, found = search("+55 11 91234-0000")
        assert found == {"+5511912340000"}
        for n in range(40):
            factories.WhatsAppSessionFactory(
                organization=organization, phone_number=f"+55119123{n + 10:05d}"
            )
        forty, found = search("+55119123")
        assert len(found) == 41
        assert forty == one

    def test_the_organization_filter_offers_the_first_100_and_the_one_in_use(self, admin_client):
        Organization.objects.bulk_create(Organization(name=f"Org {n:03d}") for n in range(120))
        last = Organization.objects.get(name="Org 119")

        def offered(**params):
            response = admin_client.get(SESSIONS, params)
            [spec] = [s for s in response.context["cl"].filter_specs if s.title == "organization"]
            return [name for _pk, name in spec.lookup_choices]

        assert offered() == [f"Org {n:03d}" for n in range(100)]
        in_use = offered(organization__id__exact=str(last.pk))
        assert in_use == [*(f"Org {n:03d}" for n in range(100)), "Org 119"]

    def test_columns_sort_where_an_index_backs_them(self, admin_client):
        reconnected_phone()
        html = admin_client.get(SESSIONS).content.decode()
        for column in ("short_id", "phone_number", "connected", "disconnected"):
            assert f'class="sortable column-{column}' in html
        for column in (
            "reference_count",
            "organization_name",
            "status_name",
            "superseded_by_short",
        ):
            assert f'class="column-{column}"' in html

    def test_the_organization_column_is_for_those_who_see_several(self, client, admin_client):
        scene = reconnected_phone()
        other = factories.OrganizationFactory()
        factories.WhatsAppSessionFactory(organization=other)

        def columns(client):
            return client.get(SESSIONS).context["cl"].list_display

        client.force_login(staff_member(scene.organization))
        assert "organization_name" not in columns(client)
        client.force_login(staff_member(scene.organization, other))
        assert columns(client)[-1] == "organization_name"
        assert columns(admin_client)[-1] == "organization_name"


class TestWhatPointsAtASession:
    def test_the_panel_counts_each_table_and_links_to_its_filtered_list(self, client):
        scene = reconnected_phone()
        elsewhere = factories.WorkshopFactory(organization=scene.organization)
        client.force_login(staff_member(scene.organization))
        response = client.get(session_url(scene.old))
        assert response.status_code == HTTPStatus.OK
        panel = {row["label"]: row for row in response.context["references"]}
        assert {label: row["count"] for label, row in panel.items()} == {
            "Workshops": 2,
            "Webinars": 1,
            "Active campaigns": 1,
            "Community of organizations": 1,
            "Active groups": 1,
            "Pending messages": 1,
        }
        assert "What points at this session" in response.content.decode()

        expected_rows = {
            "Workshops": {w.pk for w in scene.workshops},
            "Webinars": {w.pk for w in scene.webinars},
            "Active campaigns": {c.pk for c in scene.campaigns},
            "Community of organizations": {scene.organization.pk},
            "Active groups": {g.pk for g in scene.groups},
            "Pending messages": {m.pk for m in scene.pending_messages},
        }
        for label, row in panel.items():
            listing = client.get(row["url"])
            assert listing.status_code == HTTPStatus.OK, (label, row["url"])
            listed = {obj.pk for obj in listing.context["cl"].result_list}
            assert listed == expected_rows[label], label
        assert elsewhere.pk not in expected_rows["Workshops"]

    def test_the_page_links_to_the_migrations_out_of_and_into_the_session(self, client):
        scene = reconnected_phone()
        client.force_login(staff_member(scene.organization))
        confirm_move(client, [scene.old], scene.new)
        migration = SessionMigration.objects.get()
        for session, label in (
            (scene.old, "Moved out of this session"),
            (scene.new, "Moved into this session"),
        ):
            links = client.get(session_url(session)).context["migration_links"]
            [link] = [row for row in links if row["count"]]
            assert link["label"] == label
            listed = client.get(link["url"]).context["cl"].result_list
            assert list(listed) == [migration]


class TestMoveReferences:
    def test_the_preview_shows_the_counts_the_move_then_reports(self, client):
        scene = reconnected_phone()
        user = staff_member(scene.organization)
        client.force_login(user)

        preview = run_action(client, "move_references", [scene.old])
        assert preview.status_code == HTTPStatus.OK
        assert preview.context["form"]["target"].value() == scene.new.pk
        counts = preview_counts(preview)[str(scene.old.pk)]
        assert counts == scene.expected_counts()
        assert Workshop.objects.filter(whatsapp_session=scene.old).count() == 2  # a dry run

        response = confirm_move(client, [scene.old], scene.new)
        assert response.status_code == HTTPStatus.FOUND
        migration = SessionMigration.objects.get()
        assert migration.counts == counts
        assert (migration.trigger, migration.actor) == (SessionMigration.Trigger.ADMIN, user)
        assert [level for level, _text in notes(response)] == ["success"]
        assert "Workshops: 2" in notes(response)[0][1]

    def test_confirming_moves_exactly_the_previewed_rows_and_writes_the_audit(self, client):
        scene = reconnected_phone()
        bystander = factories.WorkshopFactory(organization=scene.organization)
        client.force_login(staff_member(scene.organization))
        confirm_move(client, [scene.old], scene.new)

        assert set(Workshop.objects.filter(whatsapp_session=scene.new)) == set(scene.workshops)
        assert set(Webinar.objects.filter(whatsapp_session=scene.new)) == set(scene.webinars)
        assert NotificationCampaign.objects.get(pk=scene.campaigns[0].pk).session == scene.new
        finished = NotificationCampaign.objects.get(pk=scene.finished_campaigns[0].pk)
        assert finished.session == scene.old
        assert Organization.objects.get(pk=scene.organization.pk).community_session == scene.new
        assert WhatsAppGroup.objects.get(pk=scene.groups[0].pk).session == scene.new
        assert Workshop.objects.get(pk=bystander.pk).whatsapp_session == bystander.whatsapp_session
        scene.old.refresh_from_db()
        assert scene.old.superseded_by == scene.new

        migration = SessionMigration.objects.get()
        assert sorted(migration.moved_ids["workshops"]) == sorted(
            str(w.pk) for w in scene.workshops
        )
        assert migration.moved_ids["campaigns"] == [str(scene.campaigns[0].pk)]
        page = client.get(
            reverse("admin:sessions_app_sessionmigration_change", args=[migration.pk])
        )
        html = page.content.decode()
        for key in ("workshops", "webinars", "campaigns", "organizations", "groups_moved"):
            for row_id in migration.moved_ids[key]:
                assert row_id in html
        assert reverse("admin:scheduling_workshop_change", args=[scene.workshops[0].pk]) in html
        history = client.get(
            reverse("admin:sessions_app_whatsappsession_history", args=[scene.old.pk])
        )
        assert f"Moved its references to {scene.new}: Workshops: 2" in history.content.decode()

    def test_a_refused_pair_moves_nothing_while_the_others_go_through(self, client):
        scene = reconnected_phone()
        # Another phone's old session: moving it to this phone's session needs force.
        other_phone = factories.WhatsAppSessionFactory(
            organization=scene.organization,
            phone_number="+5511944443333",
            status=WhatsAppSession.Status.DISCONNECTED,
        )
        stranded = factories.WorkshopFactory(
            organization=scene.organization, whatsapp_session=other_phone
        )
        client.force_login(staff_member(scene.organization))

        preview = run_action(client, "move_references", [scene.old, other_phone])
        assert preview.context["needs_force"]
        by_source = {str(p.source.pk): p for p in preview.context["previews"]}
        assert by_source[str(other_phone.pk)].needs_force
        assert not by_source[str(scene.old.pk)].needs_force
        assert 'name="force"' in preview.content.decode()

        response = confirm_move(client, [scene.old, other_phone], scene.new)
        levels = sorted(level for level, _text in notes(response))
        assert levels == ["error", "success"]
        refusal = next(text for level, text in notes(response) if level == "error")
        assert str(other_phone) in refusal
        assert Workshop.objects.get(pk=stranded.pk).whatsapp_session == other_phone
        assert set(Workshop.objects.filter(whatsapp_session=scene.new)) == set(scene.workshops)
        assert SessionMigration.objects.get().old_session == scene.old

    def test_force_moves_a_different_phone(self, client):
        scene = reconnected_phone()
        other_phone = factories.WhatsAppSessionFactory(
            organization=scene.organization,
            phone_number="+5511944443333",
            status=WhatsAppSession.Status.DISCONNECTED,
        )
        moved = factories.WorkshopFactory(
            organization=scene.organization, whatsapp_session=other_phone
        )
        client.force_login(staff_member(scene.organization))
        response = confirm_move(client, [other_phone], scene.new, force=True)
        assert [level for level, _text in notes(response)] == ["success"]
        assert Workshop.objects.get(pk=moved.pk).whatsapp_session == scene.new
        assert SessionMigration.objects.get().forced

    def test_a_connected_source_needs_force(self, client):
        scene = reconnected_phone()
        live = factories.WhatsAppSessionFactory(
            organization=scene.organization, phone_number=scene.new.phone_number
        )
        workshop = factories.WorkshopFactory(organization=scene.organization, whatsapp_session=live)
        client.force_login(staff_member(scene.organization))
        preview = run_action(client, "move_references", [live])
        assert "still connected" in preview.context["previews"][0].needs_force
        assert preview.context["needs_force"]
        refused = confirm_move(client, [live], scene.new)
        assert [level for level, _text in notes(refused)] == ["error"]
        assert Workshop.objects.get(pk=workshop.pk).whatsapp_session == live
        confirm_move(client, [live], scene.new, force=True)
        assert Workshop.objects.get(pk=workshop.pk).whatsapp_session == scene.new

    def test_a_changed_target_is_previewed_again_before_anything_moves(self, client):
        scene = reconnected_phone()
        second_target = factories.WhatsAppSessionFactory(
            organization=scene.organization, phone_number="+5511900001111"
        )
        client.force_login(staff_member(scene.organization))
        response = run_action(
            client,
            "move_references",
            [scene.old],
            target=str(second_target.pk),
            previewed_target=str(scene.new.pk),
            post="yes",
        )
        assert response.status_code == HTTPStatus.OK
        assert response.context["target_changed"]
        assert str(response.context["form"]["previewed_target"].value()) == str(second_target.pk)
        assert not SessionMigration.objects.exists()

    def test_targets_are_the_connected_sessions_of_the_same_organization(self, client):
        scene = reconnected_phone()
        disconnected = factories.WhatsAppSessionFactory(
            organization=scene.organization, status=WhatsAppSession.Status.DISCONNECTED
        )
        elsewhere = factories.WhatsAppSessionFactory()
        user = staff_member(scene.organization, elsewhere.organization)
        client.force_login(user)
        response = run_action(client, "move_references", [scene.old])
        choices = set(response.context["form"].fields["target"].queryset)
        assert scene.new in choices
        assert disconnected not in choices
        assert elsewhere not in choices
        assert scene.old not in choices

    def test_a_selection_spanning_organizations_is_refused(self, admin_client):
        ours = reconnected_phone()
        theirs = reconnected_phone(phone_number="+5511933332222")
        response = run_action(admin_client, "move_references", [ours.old, theirs.old])
        assert response.status_code == HTTPStatus.FOUND
        assert "several organizations" in notes(response)[0][1]
        assert not SessionMigration.objects.exists()


class TestMoveTenancyAndPermission:
    def test_a_crafted_post_for_another_organizations_sessions_moves_nothing(self, client):
        ours = reconnected_phone()
        theirs = reconnected_phone(phone_number="+5511933332222")
        client.force_login(staff_member(ours.organization))

        preview = run_action(client, "move_references", [theirs.old])
        assert preview.status_code == HTTPStatus.FOUND
        assert notes(preview) == [
            (
                "warning",
                "Items must be selected in order to perform actions on them. No items have "
                "been changed.",
            )
        ]
        confirm_move(client, [theirs.old], theirs.new)
        adopted = run_action(client, "adopt_references", [theirs.new], post="yes")
        assert adopted.status_code == HTTPStatus.FOUND
        assert not SessionMigration.objects.exists()
        assert Workshop.objects.filter(whatsapp_session=theirs.old).count() == 2

    def test_another_organizations_ids_among_ones_own_are_ignored(self, client):
        ours = reconnected_phone()
        theirs = reconnected_phone(phone_number="+5511933332222")
        client.force_login(staff_member(ours.organization))
        confirm_move(client, [ours.old, theirs.old], ours.new)
        assert [m.old_session for m in SessionMigration.objects.all()] == [ours.old]
        assert Workshop.objects.filter(whatsapp_session=theirs.old).count() == 2

    def test_a_crafted_target_of_another_organization_is_not_a_choice(self, client):
        ours = reconnected_phone()
        theirs = reconnected_phone(phone_number="+5511933332222")
        client.force_login(staff_member(ours.organization))
        response = confirm_move(client, [ours.old], theirs.new, force=True)
        assert response.status_code == HTTPStatus.OK
        assert "target" in response.context["form"].errors
        assert response.context["previews"] == []
        assert not SessionMigration.objects.exists()
        assert Workshop.objects.filter(whatsapp_session=ours.old).count() == 2

    def test_without_the_permission_the_actions_are_not_offered(self, client):
        scene = reconnected_phone()
        client.force_login(staff_member(scene.organization, migrate=False))
        response = client.get(SESSIONS)
        action_form = response.context["action_form"]
        choices = dict(action_form.fields["action"].choices) if action_form else {}
        assert "move_references" not in choices
        assert "adopt_references" not in choices

    @pytest.mark.parametrize("other_actions", [False, True], ids=["no-actions", "delete-only"])
    def test_without_the_permission_a_crafted_post_is_refused(self, client, other_actions):
        scene = reconnected_phone()
        user = staff_member(scene.organization, migrate=False)
        if other_actions:
            user.user_permissions.add(Permission.objects.get(codename="delete_whatsappsession"))
        client.force_login(user)
        for response in (
            run_action(client, "move_references", [scene.old]),
            confirm_move(client, [scene.old], scene.new, force=True),
            run_action(client, "adopt_references", [scene.new], post="yes"),
        ):
            assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)
            assert "previews" not in (response.context or {})
            if other_actions:
                assert set(notes(response)) == {("warning", "No action selected.")}
        assert not SessionMigration.objects.exists()
        assert Workshop.objects.filter(whatsapp_session=scene.old).count() == 2


class TestAdoptReferences:
    def test_the_preview_then_the_adoption_of_earlier_sessions(self, client):
        scene = reconnected_phone()
        user = staff_member(scene.organization)
        client.force_login(user)

        preview = run_action(client, "adopt_references", [scene.new])
        assert preview.status_code == HTTPStatus.OK
        [adoption] = preview.context["previews"]
        [(result, _counts)] = adoption.rows
        assert result.old == scene.old
        assert result.counts == scene.expected_counts()
        assert not SessionMigration.objects.exists()

        response = run_action(client, "adopt_references", [scene.new], post="yes")
        migration = SessionMigration.objects.get()
        assert (migration.old_session, migration.new_session) == (scene.old, scene.new)
        assert (migration.trigger, migration.actor) == (SessionMigration.Trigger.ADMIN, user)
        assert migration.counts == scene.expected_counts()
        assert [level for level, _text in notes(response)] == ["success"]
        assert ScheduledWhatsAppMessage.objects.get(
            pk=scene.pending_messages[0].pk
        ).group.session == (scene.new)

    def test_a_disconnected_selection_adopts_nothing(self, client):
        scene = reconnected_phone()
        client.force_login(staff_member(scene.organization))
        preview = run_action(client, "adopt_references", [scene.old])
        [adoption] = preview.context["previews"]
        assert adoption.refusal
        assert not preview.context["anything_to_adopt"]
        run_action(client, "adopt_references", [scene.old], post="yes")
        assert not SessionMigration.objects.exists()
