"""Staff see and act on their own organizations' rows only; superusers see everything."""

from http import HTTPStatus

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.admin_tenancy import ORGANIZATION_HELP_TEXT, OrganizationScopedAdmin
from sessions_app.models import Organization, SessionMigration, WhatsAppGroup, WhatsAppSession
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

    def test_the_organization_filter_lists_the_chosen_organization_once(self, client, two_tenants):
        ours, _theirs = two_tenants
        second = factories.OrganizationFactory(name="Ours too")
        client.force_login(staff_member(ours.organization, second))

        response = client.get(
            reverse("admin:sessions_app_whatsappsession_changelist"),
            {"organization__id__exact": str(ours.organization.pk)},
        )

        [organization_filter] = [
            spec
            for spec in response.context["cl"].filter_specs
            if getattr(spec, "field_path", None) == "organization"
        ]
        assert [name for _pk, name in organization_filter.lookup_choices] == sorted(
            [ours.organization.name, "Ours too"]
        )

    def test_staff_of_one_organization_are_offered_no_organization_filter(
        self, client, two_tenants
    ):
        ours, _theirs = two_tenants
        client.force_login(staff_member(ours.organization))

        response = client.get(reverse("admin:sessions_app_whatsappsession_changelist"))

        assert [
            spec
            for spec in response.context["cl"].filter_specs
            if getattr(spec, "field_path", None) == "organization"
        ] == []

    def test_an_organization_filter_value_that_is_no_id_is_reported_not_a_crash(
        self, client, two_tenants
    ):
        ours, _theirs = two_tenants
        client.force_login(staff_member(ours.organization))
        url = reverse("admin:sessions_app_whatsappsession_changelist")

        response = client.get(url, {"organization__id__exact": "not-an-id"})

        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"] == f"{url}?e=1"

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
        # Their phone, searched for in full: a fragment such as "9222" can also be part of one
        # of our sessions' random ids.
        their_phone = theirs.old.phone_number
        assert (
            self.autocomplete(client, "scheduling", "workshop", "whatsapp_session", their_phone)
            == set()
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


# One row of a tenant per model whose admin is scoped, and the relation fields its forms offer
# (add form, change form) that point at rows of a scoped admin.
SCOPED_MODELS = {
    Organization: (lambda t: t.organization, ["community_session"]),
    WhatsAppSession: (lambda t: t.old, ["organization"]),
    WhatsAppGroup: (lambda t: t.groups[0], ["session"]),
    SessionMigration: (lambda t: t.old.migrations_out.get(), []),
    Workshop: (lambda t: t.workshops[0], ["organization", "whatsapp_session"]),
    Webinar: (lambda t: t.webinars[0], ["organization", "whatsapp_session"]),
    NotificationCampaign: (lambda t: t.campaigns[0], ["organization", "session"]),
    ScheduledWhatsAppMessage: (lambda t: t.pending_messages[0], ["group", "workshop", "webinar"]),
}
OBJECT_PERMISSIONS = ["has_view_permission", "has_change_permission", "has_delete_permission"]


def every_permission_on_scoped_models() -> list[str]:
    return [
        f"{model._meta.app_label}.{action}_{model._meta.model_name}"
        for model in SCOPED_MODELS
        for action in ("add", "view", "change", "delete")
    ]


def request_of(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_every_scoped_admin_is_checked_one_by_one():
    scoped = {
        model
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, OrganizationScopedAdmin)
        and not model.__module__.startswith("tests.")  # the test settings' own app
    }
    assert scoped == set(SCOPED_MODELS)


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda model: model.__name__)
class TestObjectChecks:
    """Each admin's own checks, called with a row its queryset would never hand it."""

    def test_another_organizations_row_is_refused_by_every_object_permission(
        self, two_tenants, model
    ):
        ours, theirs = two_tenants
        row_of, _fields = SCOPED_MODELS[model]
        user = staff_member(ours.organization, permissions=every_permission_on_scoped_models())
        request = request_of(user)
        model_admin = admin.site._registry[model]

        assert model_admin.has_view_permission(request) is True
        assert model_admin.belongs_to_user(request, row_of(ours)) is True
        assert model_admin.belongs_to_user(request, row_of(theirs)) is False
        for name in OBJECT_PERMISSIONS:
            check = getattr(model_admin, name)
            # The same answer as for the model as a whole on one's own row; never on theirs.
            assert check(request, row_of(ours)) == check(request), name
            assert check(request, row_of(theirs)) is False, name

    def test_a_member_of_both_organizations_and_a_superuser_may(self, two_tenants, model):
        ours, theirs = two_tenants
        row_of, _fields = SCOPED_MODELS[model]
        member = staff_member(
            ours.organization,
            theirs.organization,
            permissions=every_permission_on_scoped_models(),
        )
        superuser = factories.UserFactory(is_superuser=True)
        model_admin = admin.site._registry[model]

        for user in (member, superuser):
            request = request_of(user)
            assert model_admin.belongs_to_user(request, row_of(theirs)) is True
            for name in OBJECT_PERMISSIONS:
                check = getattr(model_admin, name)
                assert check(request, row_of(theirs)) == check(request), (user, name)

    def test_the_forms_offer_only_rows_of_ones_own_organizations(self, two_tenants, model):
        ours, theirs = two_tenants
        row_of, expected_fields = SCOPED_MODELS[model]
        user = staff_member(ours.organization, permissions=every_permission_on_scoped_models())
        request = request_of(user)
        model_admin = admin.site._registry[model]

        checked = set()
        for obj in (None, row_of(ours)):
            form = model_admin.get_form(request, obj, change=obj is not None)
            for name, field in form.base_fields.items():
                if not hasattr(field, "queryset"):
                    continue
                related_admin = admin.site._registry.get(field.queryset.model)
                path = getattr(related_admin, "organization_field", None)
                if path is None:
                    continue
                choices = field.queryset
                assert not choices.filter(**{path: theirs.organization.pk}).exists(), name
                assert choices.filter(**{path: ours.organization.pk}).exists(), name
                checked.add(name)
        assert checked == set(expected_fields)


# Help texts: every admin form explains its fields, the admin's own words first.

SCOPED_WITH_ADD_FORMS = [
    model_admin
    for model_admin in admin.site._registry.values()
    if isinstance(model_admin, OrganizationScopedAdmin)
    and model_admin.has_add_permission.__func__ is admin.ModelAdmin.has_add_permission
]


def add_form(client, model_admin):
    meta = model_admin.model._meta
    response = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
    assert response.status_code == 200
    return response.context["adminform"].form


@pytest.mark.parametrize(
    "model_admin", SCOPED_WITH_ADD_FORMS, ids=lambda a: a.model._meta.model_name
)
def test_an_add_form_shows_the_admins_help_texts(admin_client, model_admin):
    form = add_form(admin_client, model_admin)

    shown = {name: str(form.fields[name].help_text) for name in model_admin.help_texts}
    assert shown == {name: str(text) for name, text in model_admin.help_texts.items()}
    form_class = model_admin.form
    own = getattr(getattr(form_class, "Meta", None), "help_texts", None) or {}
    if "organization" in form.fields and "organization" not in model_admin.help_texts:
        # A form that explains its organization field keeps its own words.
        expected = own.get("organization", ORGANIZATION_HELP_TEXT)
        assert str(form.fields["organization"].help_text) == str(expected)
    explained_as_organization = [
        name
        for name, field in form.fields.items()
        if str(field.help_text) == str(ORGANIZATION_HELP_TEXT)
    ]
    assert set(explained_as_organization) <= {"organization"}


def test_a_form_that_explains_its_organization_field_keeps_its_own_words(admin_client):
    from sessions_app.models import WhatsAppSession

    form = add_form(admin_client, admin.site._registry[WhatsAppSession])

    assert str(form.fields["organization"].help_text) == (
        "The organization the session sends for; fixed once the session exists."
    )


def test_a_staff_page_reads_the_users_organizations_once(client, two_tenants):
    """Each object check and column asks which organizations the user is in; one query
    answers them all for the request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ours, _theirs = two_tenants
    client.force_login(staff_member(ours.organization))
    url = reverse("admin:sessions_app_whatsappsession_change", args=[ours.new.pk])

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)

    assert response.status_code == HTTPStatus.OK
    # Queries of the memberships themselves; lists scope their rows with them in a subquery.
    memberships = [q for q in queries if q["sql"].startswith('SELECT "organization_memberships"')]
    assert len(memberships) == 1
