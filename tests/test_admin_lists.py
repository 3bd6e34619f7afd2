"""The lists as staff read them: what a list is filtered by, the filters and columns that find
what is wrong, labels in plain words, and what a delete of a session says."""

import datetime as dt
import itertools
import re
from http import HTTPStatus

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone

from scheduling.models import ScheduledWhatsAppMessage
from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.services.migration import migrate_session
from tests import factories
from tests.admin_scenarios import reconnected_phone, staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

SESSIONS = reverse("admin:sessions_app_whatsappsession_changelist")
MESSAGES = reverse("admin:scheduling_scheduledwhatsappmessage_changelist")
MIGRATIONS = reverse("admin:sessions_app_sessionmigration_changelist")
Status = ScheduledWhatsAppMessage.Status


def listed(response) -> set:
    assert response.status_code == HTTPStatus.OK
    return {row.pk for row in response.context["cl"].result_list}


def notes(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def phone_reconnected(session: WhatsAppSession) -> WhatsAppSession:
    """A new, connected session of `session`'s phone."""
    return factories.WhatsAppSessionFactory(
        organization=session.organization, phone_number=session.phone_number
    )


def row_html(response) -> str:
    """The first row of a list's results table."""
    html = response.content.decode()
    return re.search(r"<tbody>\s*<tr.*?</tr>", html, re.S).group(0)


class TestWhatAListIsFilteredBy:
    def test_a_list_opened_from_the_panel_says_so_and_links_to_every_row(self, client):
        scene = reconnected_phone()
        factories.WorkshopFactory(organization=scene.organization)
        client.force_login(staff_member(scene.organization))
        panel = client.get(
            reverse("admin:sessions_app_whatsappsession_change", args=[scene.old.pk])
        )
        rows = {row["label"]: row for row in panel.context["references"]}

        workshops = client.get(rows["Workshops"]["url"])
        assert listed(workshops) == {w.pk for w in scene.workshops}
        html = workshops.content.decode()
        short = str(scene.old.pk)[:8]
        assert "Filtered:" in html
        assert f"pointing at session {short} (disconnected)" in html
        every_row = client.get(reverse("admin:scheduling_workshop_changelist") + _clear_url(html))
        assert len(listed(every_row)) == 3
        assert "Filtered:" not in every_row.content.decode()
        assert workshops.context["cl"].has_active_filters  # the sidebar's "Clear all filters"

        messages = client.get(rows["Pending messages"]["url"]).content.decode()
        assert f"Status: Pending · pointing at session {short} (disconnected)" in messages
        campaigns = client.get(rows["Active campaigns"]["url"]).content.decode()
        assert "Status: Scheduled, Pending, Sending" in campaigns
        groups = client.get(rows["Active groups"]["url"]).content.decode()
        assert "Status: Active" in groups
        organizations = client.get(rows["Community of organizations"]["url"]).content.decode()
        assert f"pointing at session {short} (disconnected)" in organizations

    def test_another_organizations_session_is_not_named(self, client):
        scene = reconnected_phone()
        elsewhere = factories.WhatsAppSessionFactory()
        client.force_login(staff_member(scene.organization))
        response = client.get(
            reverse("admin:scheduling_workshop_changelist"),
            {"whatsapp_session__id__exact": str(elsewhere.pk)},
        )
        assert listed(response) == set()
        html = response.content.decode()
        assert "pointing at a session you cannot see" in html
        assert f"{str(elsewhere.pk)[:8]} (" not in html

    def test_an_unfiltered_list_says_nothing(self, admin_client):
        reconnected_phone()
        assert "Filtered:" not in admin_client.get(SESSIONS).content.decode()


def _clear_url(html: str) -> str:
    start = html.index('href="', html.index('id="filter-summary"')) + len('href="')
    return html[start : html.index('"', start)].replace("&amp;", "&")


class TestPointsAtADisconnectedSession:
    def test_each_list_keeps_the_rows_of_disconnected_or_superseded_sessions(self, admin_client):
        scene = reconnected_phone()
        superseded = factories.WhatsAppSessionFactory(organization=scene.organization)
        WhatsAppSession.objects.filter(pk=superseded.pk).update(superseded_by=scene.new)
        on_superseded = factories.WorkshopFactory(
            organization=scene.organization, whatsapp_session=superseded
        )
        on_live = factories.WorkshopFactory(
            organization=scene.organization, whatsapp_session=scene.new
        )
        down = {"points_at": "disconnected"}

        def down_rows(model):
            return listed(admin_client.get(reverse(f"admin:{model}_changelist"), down))

        assert down_rows("scheduling_workshop") == {
            *(w.pk for w in scene.workshops),
            on_superseded.pk,
        }
        assert on_live.pk not in down_rows("scheduling_workshop")
        assert down_rows("scheduling_webinar") == {w.pk for w in scene.webinars}
        assert down_rows("scheduling_notificationcampaign") == {
            c.pk for c in (*scene.campaigns, *scene.finished_campaigns)
        }
        assert down_rows("scheduling_scheduledwhatsappmessage") == {
            m.pk for m in (*scene.pending_messages, *scene.sent_messages)
        }
        assert down_rows("sessions_app_whatsappgroup") == {g.pk for g in scene.groups}

        html = admin_client.get(reverse("admin:scheduling_workshop_changelist"), down)
        assert "pointing at a disconnected or superseded session" in html.content.decode()


class TestMessagesList:
    def test_columns_say_when_how_and_through_which_session(self, admin_client):
        scene = reconnected_phone()
        # The old session's references moved: its events' messages now go out through the new.
        migrate_session(scene.old, scene.new, trigger=SessionMigration.Trigger.ADMIN)
        retry_at = timezone.now() + dt.timedelta(minutes=10)
        long_body = "Lembrete: a oficina de redação começa amanhã às 19h na sala 3, tragam caderno."
        waiting = factories.ScheduledWhatsAppMessageFactory(
            workshop=scene.workshops[1],
            body=long_body,
            attempts=2,
            next_attempt_at=retry_at,
            last_error="The gateway answered 500 twice; retrying after a pause.",
        )
        stranded_session = factories.WhatsAppSessionFactory(
            organization=scene.organization, status=WhatsAppSession.Status.DISCONNECTED
        )
        stranded = factories.ScheduledWhatsAppMessageFactory(
            workshop=factories.WorkshopFactory(
                organization=scene.organization, whatsapp_session=stranded_session
            )
        )

        response = admin_client.get(MESSAGES)
        html = response.content.decode()
        rows = {m.pk: m for m in response.context["cl"].result_list}
        assert rows[waiting.pk].sending_session.id == scene.new.pk
        assert rows[stranded.pk].sending_session.id == stranded_session.pk
        for heading in ("Text", "Sending session", "Attempts", "Next attempt at", "Last error"):
            assert heading.lower() in html.lower()
        # The body is cut to a few words, whole on hover.
        assert f'title="{long_body}"' in html
        assert "Lembrete: a oficina de redação" in html
        assert "tragam caderno.</span>" not in html
        # The admin's own rendering of a date and time, not one written by hand.
        assert formats.localize(timezone.template_localtime(retry_at)) in html
        assert '<span class="session-down">disconnected</span>' in html

    def test_the_sending_session_is_the_live_end_of_its_chain(self, admin_client):
        """An event left on a session that reconnected twice sends through the last one."""
        first = factories.WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)
        chain = [first, *(phone_reconnected(first) for _ in range(3))]
        for old, new in itertools.pairwise(chain):
            WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=new)
        live = chain[-1]
        WhatsAppSession.objects.filter(pk__in=[s.pk for s in chain[:-1]]).update(
            status=WhatsAppSession.Status.DISCONNECTED
        )
        message = factories.ScheduledWhatsAppMessageFactory(
            workshop=factories.WorkshopFactory(
                organization=first.organization, whatsapp_session=first
            )
        )

        response = admin_client.get(MESSAGES)

        [row] = response.context["cl"].result_list
        assert row.pk == message.pk
        assert row.sending_session == live
        cell = re.search(r'<td class="field-sending_session">(.*?)</td>', row_html(response))
        change = reverse("admin:sessions_app_whatsappsession_change", args=[live.pk])
        assert f'<a href="{change}"' in cell.group(1)
        assert str(live.pk)[:8] in cell.group(1)
        assert "session-down" not in cell.group(1)

    def test_the_organization_filter(self, client):
        aurora = factories.ScheduledWhatsAppMessageFactory()
        horizonte = factories.ScheduledWhatsAppMessageFactory()
        organization = aurora.workshop.organization
        client.force_login(staff_member(organization, horizonte.workshop.organization))
        response = client.get(
            MESSAGES, {"group__session__organization__id__exact": str(organization.pk)}
        )
        assert listed(response) == {aurora.pk}
        assert "Organization: " in response.content.decode()

    def test_the_list_costs_the_same_queries_for_5_and_60_messages(self, client):
        organization = factories.OrganizationFactory()
        client.force_login(staff_member(organization))
        session = factories.WhatsAppSessionFactory(organization=organization)
        workshop = factories.WorkshopFactory(organization=organization, whatsapp_session=session)
        webinar = factories.WebinarFactory(organization=organization, whatsapp_session=session)

        def add(count):
            for n in range(count):
                event = {"workshop": workshop} if n % 2 else {"workshop": None, "webinar": webinar}
                factories.ScheduledWhatsAppMessageFactory(**event)

        def queries():
            with CaptureQueriesContext(connection) as captured:
                response = client.get(MESSAGES)
            assert response.status_code == HTTPStatus.OK
            return len(captured), len(response.context["cl"].result_list)

        add(5)
        five, shown = queries()
        assert shown == 5
        add(55)
        sixty, shown = queries()
        assert shown == 60
        assert sixty == five
        # Their sessions reconnected three times over: the chains are walked in the same query.
        for _ in range(3):
            live = phone_reconnected(session)
            WhatsAppSession.objects.filter(pk=session.pk).update(
                superseded_by=live, status=WhatsAppSession.Status.DISCONNECTED
            )
            session = live
        chained, shown = queries()
        assert shown == 60
        assert chained == five
        assert {m.sending_session for m in client.get(MESSAGES).context["cl"].result_list} == {
            session
        }


class TestLabels:
    def test_the_words_staff_read(self, admin_client):
        scene = reconnected_phone()
        workshop = admin_client.get(
            reverse("admin:scheduling_workshop_change", args=[scene.workshops[0].pk])
        ).content.decode()
        assert ">WhatsApp session:</label>" in workshop

        groups = admin_client.get(reverse("admin:sessions_app_whatsappgroup_changelist"))
        html = groups.content.decode()
        assert "Group JID" in html or "group JID" in html
        titles = {str(spec.title) for spec in groups.context["cl"].filter_specs}
        assert "status" in titles
        assert "is active" not in titles
        group_form = admin_client.get(
            reverse("admin:sessions_app_whatsappgroup_change", args=[scene.groups[0].pk])
        ).content.decode()
        assert ">Group JID:</label>" in group_form
        assert ">Active</label>" in group_form

        sessions = admin_client.get(SESSIONS).content.decode()
        assert "WhatsApp</a>\n&rsaquo; WhatsApp sessions" in sessions


class TestMigrationSearch:
    def test_finds_a_phone_typed_as_staff_see_it(self, admin_client):
        scene = reconnected_phone(phone_number="+5511987654321")
        migrate_session(scene.old, scene.new, trigger=SessionMigration.Trigger.ADMIN)
        migration = SessionMigration.objects.get(old_session=scene.old)
        for typed in ("+5511987654321", "+55 11 98765-4321", "55 (11) 98765-4321"):
            assert listed(admin_client.get(MIGRATIONS, {"q": typed})) == {migration.pk}, typed
        assert listed(admin_client.get(MIGRATIONS, {"q": "+55 11 91111-2222"})) == set()


def another_phones_old_session(scene) -> WhatsAppSession:
    """A disconnected session of another phone: moving it to `scene.new` needs Force."""
    return factories.WhatsAppSessionFactory(
        organization=scene.organization,
        phone_number="+5511944443333",
        status=WhatsAppSession.Status.DISCONNECTED,
    )


class TestMoveConfirmation:
    def test_the_confirm_button_waits_for_force_when_every_session_needs_it(self, client):
        scene = reconnected_phone()
        other_phone = another_phones_old_session(scene)
        factories.WorkshopFactory(organization=scene.organization, whatsapp_session=other_phone)
        client.force_login(staff_member(scene.organization))
        selected = {"action": "move_references", "_selected_action": [str(other_phone.pk)]}

        preview = client.post(SESSIONS, selected)
        html = preview.content.decode()
        assert 'id="confirm-move" disabled' in html
        assert "Every selected session that could move needs “Force”" in html

        forced = client.post(
            SESSIONS,
            {**selected, "target": str(scene.new.pk), "force": "on", "preview": "1"},
        )
        html = forced.content.decode()
        assert 'id="confirm-move">' in html
        assert "needs “Force”: tick it" not in html

    def test_the_button_is_enabled_when_some_session_moves_without_force(self, client):
        scene = reconnected_phone()
        other_phone = another_phones_old_session(scene)
        client.force_login(staff_member(scene.organization))
        preview = client.post(
            SESSIONS,
            {
                "action": "move_references",
                "_selected_action": [str(scene.old.pk), str(other_phone.pk)],
            },
        )
        assert 'id="confirm-move">' in preview.content.decode()


class TestMessageLevels:
    def test_a_move_that_moves_nothing_is_a_warning(self, client):
        scene = reconnected_phone(workshops=0, webinars=0)
        empty = factories.WhatsAppSessionFactory(
            organization=scene.organization,
            phone_number=scene.new.phone_number,
            status=WhatsAppSession.Status.DISCONNECTED,
        )
        client.force_login(staff_member(scene.organization))
        response = client.post(
            SESSIONS,
            {
                "action": "move_references",
                "_selected_action": [str(empty.pk)],
                "target": str(scene.new.pk),
                "previewed_target": str(scene.new.pk),
                "post": "yes",
            },
        )
        assert notes(response) == [
            ("warning", f"{empty} → {scene.new}: nothing pointed at it; nothing moved.")
        ]

    def test_adopting_with_nothing_to_adopt_is_a_warning(self, client):
        session = factories.WhatsAppSessionFactory()
        client.force_login(staff_member(session.organization))
        response = client.post(
            SESSIONS,
            {"action": "adopt_references", "_selected_action": [str(session.pk)], "post": "yes"},
        )
        [(level, text)] = notes(response)
        assert level == "warning"
        assert "no earlier disconnected session of this phone to adopt" in text

    def test_skipping_superseded_sessions_is_a_warning(self, admin_client):
        old = factories.WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)
        live = factories.WhatsAppSessionFactory(organization=old.organization)
        WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=live)
        response = admin_client.post(
            SESSIONS,
            {"action": "refresh_status_from_gateway", "_selected_action": [str(old.pk)]},
        )
        [(level, text)] = notes(response)
        assert level == "warning"
        assert text.startswith("Skipped 1 superseded session:")


class TestDeletingASession:
    """The audit is kept for good: a session it names cannot be deleted, by anyone."""

    def test_the_page_says_the_audit_keeps_it_and_nothing_is_deleted(self, admin_client):
        scene = reconnected_phone(workshops=0, webinars=0)
        migrate_session(scene.old, scene.new, trigger=SessionMigration.Trigger.ADMIN)
        url = reverse("admin:sessions_app_whatsappsession_delete", args=[scene.old.pk])

        page = admin_client.get(url)
        html = page.content.decode()
        assert page.status_code == HTTPStatus.OK
        assert "doesn't have permission" not in html
        assert "cannot be deleted: an entry of the migration audit names it" in html
        assert "Session migration:" in html  # the entry, listed and linked

        admin_client.post(url, {"post": "yes"})
        assert WhatsAppSession.objects.filter(pk=scene.old.pk).exists()
        assert SessionMigration.objects.filter(old_session=scene.old).exists()

    def test_the_bulk_action_says_the_same(self, admin_client):
        scene = reconnected_phone(workshops=0, webinars=0)
        migrate_session(scene.old, scene.new, trigger=SessionMigration.Trigger.ADMIN)
        selected = {"action": "delete_selected", "_selected_action": [str(scene.old.pk)]}

        html = admin_client.post(SESSIONS, selected).content.decode()
        assert "doesn't have permission" not in html
        assert "The selected sessions cannot be deleted" in html

        admin_client.post(SESSIONS, {**selected, "post": "yes"})
        assert WhatsAppSession.objects.filter(pk=scene.old.pk).exists()

    def test_a_session_nothing_keeps_is_deleted_as_before(self, admin_client):
        session = factories.WhatsAppSessionFactory(status=WhatsAppSession.Status.DISCONNECTED)
        url = reverse("admin:sessions_app_whatsappsession_delete", args=[session.pk])
        assert "Are you sure" in admin_client.get(url).content.decode()
        admin_client.post(url, {"post": "yes"})
        assert not WhatsAppSession.objects.filter(pk=session.pk).exists()
