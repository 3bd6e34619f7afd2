"""Every admin form explains its fields: the admin's own help texts, and the organization's."""

import pytest
from django.contrib import admin
from django.urls import reverse

from sessions_app.admin_tenancy import ORGANIZATION_HELP_TEXT, OrganizationScopedAdmin

pytestmark = pytest.mark.django_db

SCOPED = [
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


@pytest.mark.parametrize("model_admin", SCOPED, ids=lambda a: a.model._meta.model_name)
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
