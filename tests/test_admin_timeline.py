"""A phone's timeline: every session of one phone, the moves between them, what is left."""

import datetime as dt
import itertools
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import SessionMigration, WhatsAppSession
from tests import factories
from tests.admin_scenarios import staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

PHONE = "+5511987654321"


def timeline_url(organization, phone=PHONE):
    return reverse("admin:sessions_app_whatsappsession_timeline", args=[organization.pk, phone])


def phone_chain(organization, *, sessions=3, phone=PHONE, name="aurora"):
    """`sessions` pairings of one phone, a month apart: each superseded by the next, with an
    automatic migration between each two; the last one connected."""
    start = timezone.now() - dt.timedelta(days=30 * sessions)
    chain = []
    for n in range(sessions):
        connected_at = start + dt.timedelta(days=30 * n)
        last = n == sessions - 1
        session = factories.WhatsAppSessionFactory(
            organization=organization,
            phone_number=phone,
            status=WhatsAppSession.Status.CONNECTED
            if last
            else WhatsAppSession.Status.DISCONNECTED,
            connected_at=connected_at,
            disconnected_at=None if last else connected_at + dt.timedelta(days=29),
            session_data={"session_name": f"{name}-{n + 1}"},
        )
        WhatsAppSession.objects.filter(pk=session.pk).update(created_at=connected_at)
        chain.append(session)
    migrations = []
    for old, new in itertools.pairwise(chain):
        WhatsAppSession.objects.filter(pk=old.pk).update(superseded_by=new)
        migration = factories.SessionMigrationFactory(
            old_session=old,
            new_session=new,
            trigger=SessionMigration.Trigger.AUTOMATIC,
            counts={"workshops": 2, "scheduled_messages": 1},
        )
        migrations.append(migration)
    return chain, migrations


def rows_of(response):
    return [
        ("session", row["session"].pk)
        if row["kind"] == "session"
        else ("move", row["migration"].pk)
        for row in response.context["rows"]
    ]


class TestTimeline:
    def test_every_session_in_order_with_the_moves_between_them(self, client):
        organization = factories.OrganizationFactory(name="Instituto Aurora")
        chain, migrations = phone_chain(organization, sessions=3)
        client.force_login(staff_member(organization))

        response = client.get(timeline_url(organization))

        assert response.status_code == HTTPStatus.OK
        assert rows_of(response) == [
            ("session", chain[0].pk),
            ("move", migrations[0].pk),
            ("session", chain[1].pk),
            ("move", migrations[1].pk),
            ("session", chain[2].pk),
        ]
        html = response.content.decode()
        for n in (1, 2, 3):
            assert f"aurora-{n}" in html
        assert html.count("Disconnected") >= 2
        assert "Workshops: 2, Pending messages: 1" in html
        for migration in migrations:
            assert (
                reverse("admin:sessions_app_sessionmigration_change", args=[migration.pk]) in html
            )

    def test_forced_moves_to_another_phone_and_rows_left_behind(self, client):
        organization = factories.OrganizationFactory()
        chain, _ = phone_chain(organization, sessions=2)
        other_phone = factories.WhatsAppSessionFactory(
            organization=organization, phone_number="+5511900000001"
        )
        forced = factories.SessionMigrationFactory(
            old_session=chain[1], new_session=other_phone, forced=True, counts={"webinars": 1}
        )
        factories.WorkshopFactory(organization=organization, whatsapp_session=chain[0])
        factories.WorkshopFactory(organization=organization, whatsapp_session=chain[0])
        client.force_login(staff_member(organization))

        response = client.get(timeline_url(organization))

        assert rows_of(response)[-1] == ("move", forced.pk)  # after the session it left
        html = response.content.decode()
        assert "Forced" in html
        assert "+5511900000001" in html  # the other phone is named
        left = response.context["timeline"].sessions_holding_references
        assert [(s.pk, s.reference_count) for s in left] == [(chain[0].pk, 2)]
        assert "still has 2 rows pointing at it" in html

    def test_reached_from_the_sessions_list_and_every_session_page(self, client):
        organization = factories.OrganizationFactory()
        chain, _ = phone_chain(organization, sessions=2)
        no_phone = factories.WhatsAppSessionFactory(
            organization=organization, phone_number=None, status="connecting"
        )
        client.force_login(staff_member(organization))
        url = timeline_url(organization)

        listing = client.get(reverse("admin:sessions_app_whatsappsession_changelist"))
        assert listing.content.decode().count(f'href="{url}"') == 2
        for session in chain:
            page = client.get(
                reverse("admin:sessions_app_whatsappsession_change", args=[session.pk])
            )
            assert f'href="{url}"' in page.content.decode()
        page = client.get(reverse("admin:sessions_app_whatsappsession_change", args=[no_phone.pk]))
        assert "phone-timeline-link" not in page.content.decode()

    def test_the_phone_may_be_written_any_way(self, client):
        organization = factories.OrganizationFactory()
        phone_chain(organization, sessions=2)
        client.force_login(staff_member(organization))
        response = client.get(timeline_url(organization, "+55 11 98765-4321"))
        assert response.status_code == HTTPStatus.OK
        assert len(response.context["timeline"].entries) == 2


class TestTenancy:
    def test_another_organizations_phone_answers_as_if_it_did_not_exist(self, client):
        aurora = factories.OrganizationFactory()
        phone_chain(aurora, sessions=2)
        horizonte = factories.OrganizationFactory()
        factories.WhatsAppSessionFactory(organization=horizonte)
        client.force_login(staff_member(horizonte))

        theirs = client.get(timeline_url(aurora))
        nobody = client.get(timeline_url(aurora, "+5511911112222"))
        unknown_org = client.get(
            reverse(
                "admin:sessions_app_whatsappsession_timeline",
                args=["00000000-0000-0000-0000-000000000000", PHONE],
            )
        )

        assert theirs.status_code == nobody.status_code == HTTPStatus.NOT_FOUND
        assert unknown_org.status_code == HTTPStatus.NOT_FOUND
        assert PHONE not in theirs.content.decode()

    def test_the_same_phone_in_two_organizations_shows_only_one(self, client, admin_client):
        aurora = factories.OrganizationFactory()
        horizonte = factories.OrganizationFactory()
        aurora_chain, _ = phone_chain(aurora, sessions=2)
        phone_chain(horizonte, sessions=2, name="horizonte")
        client.force_login(staff_member(aurora))

        response = client.get(timeline_url(aurora))
        shown = {entry.session.pk for entry in response.context["timeline"].entries}
        assert shown == {s.pk for s in aurora_chain}
        # Superusers see every organization's.
        assert admin_client.get(timeline_url(horizonte)).status_code == HTTPStatus.OK

    def test_a_malformed_phone_is_not_found(self, client):
        organization = factories.OrganizationFactory()
        phone_chain(organization, sessions=1)
        client.force_login(staff_member(organization))
        assert client.get(timeline_url(organization, "not-a-phone")).status_code == 404

    def test_staff_who_cannot_view_sessions_are_refused(self, client):
        organization = factories.OrganizationFactory()
        phone_chain(organization, sessions=1)
        user = staff_member(organization)
        user.user_permissions.remove(Permission.objects.get(codename="view_whatsappsession"))
        user.user_permissions.remove(Permission.objects.get(codename="change_whatsappsession"))
        client.force_login(user)
        assert client.get(timeline_url(organization)).status_code == HTTPStatus.FORBIDDEN


class TestQueries:
    def queries_for(self, client, sessions: int) -> int:
        organization = factories.OrganizationFactory()
        chain, _ = phone_chain(organization, sessions=sessions, name=f"chain{sessions}")
        for session in chain:
            factories.WorkshopFactory(organization=organization, whatsapp_session=session)
        client.force_login(staff_member(organization))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(timeline_url(organization))
        assert response.status_code == HTTPStatus.OK
        assert len(response.context["timeline"].entries) == sessions
        return len(queries)

    def test_the_query_count_does_not_grow_with_the_sessions(self, client):
        two = self.queries_for(client, 2)
        eight = self.queries_for(client, 8)
        assert two == eight
        # Session and user, the user's permissions and organizations, sessions, migrations.
        assert eight <= 7
