"""Staff see and act on their own organizations' rows only; superusers see everything."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from scheduling.models import Workshop
from sessions_app.models import WhatsAppSession
from tests import factories
from tests.admin_scenarios import reconnected_phone, staff_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgres_only")]

CHANGELISTS = [
    "admin:sessions_app_organization_changelist",
    "admin:sessions_app_whatsappsession_changelist",
    "admin:sessions_app_whatsappgroup_changelist",
    "admin:sessions_app_sessionmigration_changelist",
    "admin:scheduling_workshop_changelist",
    "admin:scheduling_webinar_changelist",
    "admin:scheduling_notificationcampaign_changelist",
    "admin:scheduling_scheduledwhatsappmessage_changelist",
]


@pytest.fixture
def two_tenants():
    """Two organizations with the same kind of data; the staff member belongs to the first."""
    ours = reconnected_phone(
        factories.OrganizationFactory(name="Ours"), phone_number="+5511911110000"
    )
    theirs = reconnected_phone(
        factories.OrganizationFactory(name="Theirs"), phone_number="+5511922220000"
    )
    factories.SessionMigrationFactory(old_session=ours.old, new_session=ours.new)
    factories.SessionMigrationFactory(old_session=theirs.old, new_session=theirs.new)
    return ours, theirs


def rows_listed(client, url_name, **params):
    response = client.get(reverse(url_name), params)
    assert response.status_code == HTTPStatus.OK, url_name
    return {str(obj.pk) for obj in response.context["cl"].result_list}


def theirs_rows(theirs, url_name):
    """The ids of `theirs`' rows that a list would show."""
    sessions = {str(theirs.old.pk), str(theirs.new.pk)}
    by_list = {
        "admin:sessions_app_organization_changelist": {str(theirs.organization.pk)},
        "admin:sessions_app_whatsappsession_changelist": sessions,
        "admin:sessions_app_whatsappgroup_changelist": {str(g.pk) for g in theirs.groups},
        "admin:sessions_app_sessionmigration_changelist": {
            str(pk) for pk in theirs.old.migrations_out.values_list("pk", flat=True)
        },
        "admin:scheduling_workshop_changelist": {str(w.pk) for w in theirs.workshops},
        "admin:scheduling_webinar_changelist": {str(w.pk) for w in theirs.webinars},
        "admin:scheduling_notificationcampaign_changelist": {
            str(c.pk) for c in theirs.campaigns + theirs.finished_campaigns
        },
        "admin:scheduling_scheduledwhatsappmessage_changelist": {
            str(m.pk) for m in theirs.pending_messages + theirs.sent_messages
        },
    }
    return by_list[url_name]


class TestLists:
    @pytest.mark.parametrize("url_name", CHANGELISTS)
    def test_staff_see_only_their_organizations_rows(self, client, two_tenants, url_name):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        listed = rows_listed(client, url_name)
        assert listed, f"{url_name} shows none of the staff member's own rows"
        assert not listed & theirs_rows(theirs, url_name)

    @pytest.mark.parametrize("url_name", CHANGELISTS)
    def test_superusers_see_every_organization(self, admin_client, two_tenants, url_name):
        ours, theirs = two_tenants
        listed = rows_listed(admin_client, url_name)
        assert theirs_rows(theirs, url_name) <= listed
        assert theirs_rows(ours, url_name) <= listed

    def test_a_member_of_two_organizations_sees_both(self, client, two_tenants):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization, theirs.organization))
        listed = rows_listed(client, "admin:sessions_app_whatsappsession_changelist")
        assert {str(theirs.old.pk), str(ours.old.pk)} <= listed

    def test_search_finds_nothing_of_another_organization(self, client, two_tenants):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        url = "admin:sessions_app_whatsappsession_changelist"
        assert rows_listed(client, url, q="+55 11 92222-0000") == set()
        assert rows_listed(client, url, q=str(theirs.old.pk)) == set()
        assert rows_listed(client, url, q="+55 11 91111-0000") == {
            str(ours.old.pk),
            str(ours.new.pk),
        }

    def test_filtering_by_another_organization_shows_nothing(self, client, two_tenants):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        listed = rows_listed(
            client,
            "admin:scheduling_workshop_changelist",
            organization__id__exact=str(theirs.organization.pk),
        )
        assert listed == set()

    def test_the_organization_filter_offers_only_their_organizations(self, client, two_tenants):
        ours, _theirs = two_tenants
        second = factories.OrganizationFactory(name="Ours too")
        factories.WhatsAppSessionFactory(organization=second)
        client.force_login(staff_member(ours.organization, second))
        for url_name in CHANGELISTS[1:5]:
            response = client.get(reverse(url_name))
            html = response.content.decode()
            assert "Ours too" in html, url_name
            assert "Theirs" not in html, url_name

    def test_lookups_beyond_an_id_on_the_organization_path_are_refused(self, client, two_tenants):
        ours, _theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        probe = {"group__session__organization__memberships__user__password__startswith": "p"}
        response = client.get(
            reverse("admin:scheduling_scheduledwhatsappmessage_changelist"), probe
        )
        assert response.status_code == HTTPStatus.BAD_REQUEST


class TestPages:
    def test_another_organizations_row_answers_as_if_it_did_not_exist(self, client, two_tenants):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        missing = factories.WhatsAppSessionFactory.build()  # a valid id that is in no table

        def answer(view, pk):
            url = reverse(f"admin:sessions_app_whatsappsession_{view}", args=[pk])
            response = client.get(url, follow=True)
            chain = [target for target, _status in response.redirect_chain]
            shown = response.context["messages"] if response.context else []
            notes = [str(message).replace(str(pk), "ID") for message in shown]
            return response.status_code, chain, notes

        for view in ("change", "history", "delete"):
            assert answer(view, theirs.old.pk) == answer(view, missing.pk), view
        _status, chain, notes = answer("change", theirs.old.pk)
        assert chain == [reverse("admin:index")]
        assert "doesn\u2019t exist" in notes[0]

    def test_own_rows_open(self, client, two_tenants):
        ours, _theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        for url in (
            reverse("admin:sessions_app_whatsappsession_change", args=[ours.old.pk]),
            reverse("admin:scheduling_workshop_change", args=[ours.workshops[0].pk]),
            reverse("admin:sessions_app_organization_change", args=[ours.organization.pk]),
        ):
            assert client.get(url).status_code == HTTPStatus.OK

    def test_a_crafted_change_post_for_another_organization_changes_nothing(
        self, client, two_tenants
    ):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        workshop = theirs.workshops[0]
        response = client.post(
            reverse("admin:scheduling_workshop_change", args=[workshop.pk]),
            {
                "organization": str(theirs.organization.pk),
                "title": "Taken over",
                "starts_at_0": "2030-01-01",
                "starts_at_1": "10:00:00",
                "whatsapp_session": str(theirs.old.pk),
            },
        )
        assert response.status_code == HTTPStatus.FOUND
        workshop.refresh_from_db()
        assert workshop.title != "Taken over"

    def test_foreign_key_choices_exclude_other_organizations(self, client, two_tenants):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        workshop = ours.workshops[0]
        response = client.post(
            reverse("admin:scheduling_workshop_change", args=[workshop.pk]),
            {
                "organization": str(ours.organization.pk),
                "title": "Moved to their phone",
                "starts_at_0": "2030-01-01",
                "starts_at_1": "10:00:00",
                "whatsapp_session": str(theirs.new.pk),
            },
        )
        assert response.status_code == HTTPStatus.OK
        assert "whatsapp_session" in response.context["adminform"].form.errors
        workshop.refresh_from_db()
        assert workshop.whatsapp_session == ours.old

    def test_an_organization_cannot_be_handed_to_another_organization(self, client, two_tenants):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        workshop = ours.workshops[0]
        response = client.post(
            reverse("admin:scheduling_workshop_change", args=[workshop.pk]),
            {
                "organization": str(theirs.organization.pk),
                "title": workshop.title,
                "starts_at_0": "2030-01-01",
                "starts_at_1": "10:00:00",
                "whatsapp_session": "",
            },
        )
        assert response.status_code == HTTPStatus.OK
        assert "organization" in response.context["adminform"].form.errors
        assert Workshop.objects.get(pk=workshop.pk).organization == ours.organization

    def test_a_crafted_delete_of_another_organizations_rows_deletes_nothing(
        self, client, two_tenants
    ):
        ours, theirs = two_tenants
        user = staff_member(ours.organization)
        user.user_permissions.add(*Permission.objects.filter(codename="delete_workshop"))
        client.force_login(user)
        response = client.post(
            reverse("admin:scheduling_workshop_changelist"),
            {
                "action": "delete_selected",
                "_selected_action": [str(w.pk) for w in theirs.workshops],
                "post": "yes",
            },
            follow=True,
        )
        assert response.status_code == HTTPStatus.OK
        assert Workshop.objects.filter(pk__in=[w.pk for w in theirs.workshops]).count() == len(
            theirs.workshops
        )


class TestAutocomplete:
    def autocomplete(self, client, app_label, model_name, field_name, term=""):
        response = client.get(
            reverse("admin:autocomplete"),
            {
                "app_label": app_label,
                "model_name": model_name,
                "field_name": field_name,
                "term": term,
            },
        )
        assert response.status_code == HTTPStatus.OK
        return {result["id"] for result in response.json()["results"]}

    def test_session_choices_are_only_their_organizations(self, client, two_tenants):
        ours, theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        found = self.autocomplete(client, "scheduling", "workshop", "whatsapp_session")
        assert {str(ours.old.pk), str(ours.new.pk)} <= found
        assert not found & {str(theirs.old.pk), str(theirs.new.pk)}
        assert (
            self.autocomplete(client, "scheduling", "workshop", "whatsapp_session", "9222") == set()
        )

    def test_organization_choices_are_only_their_organizations(self, client, two_tenants):
        ours, _theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        found = self.autocomplete(client, "sessions_app", "whatsappsession", "organization")
        assert found == {str(ours.organization.pk)}

    def test_group_choices_are_only_their_organizations(self, client, two_tenants):
        ours, _theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        found = self.autocomplete(client, "scheduling", "scheduledwhatsappmessage", "group")
        assert found == {str(group.pk) for group in ours.groups}


def test_a_session_of_another_organization_is_absent_from_the_session_count(client, two_tenants):
    ours, _theirs = two_tenants
    client.force_login(staff_member(ours.organization))
    response = client.get(reverse("admin:sessions_app_whatsappsession_changelist"))
    assert (
        response.context["cl"].result_count
        == WhatsAppSession.objects.filter(organization=ours.organization).count()
    )
    assert response.context["cl"].full_result_count == response.context["cl"].result_count
