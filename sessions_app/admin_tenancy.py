"""Tenant scoping for the admin: staff see and act on their own organizations' rows only.

Every ModelAdmin of the project mixes in `OrganizationScopedAdmin` and names the path from its
model to `Organization`. The scoping happens in `get_queryset`, which Django's admin uses for the
changelist, search, filters, the action queryset, change/delete/history pages and the
autocomplete view, so a row of another organization behaves exactly like a row that does not
exist. Foreign-key choices and the organization list filter are narrowed the same way, so a
form can only save a row into one of the user's organizations. Superusers see everything.
"""

import contextlib

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sessions_app.models import Organization, OrganizationMembership

ORGANIZATION_HELP_TEXT = gettext_lazy(
    "The organization this row belongs to; only your own are listed."
)


def staff_organization_ids(user) -> QuerySet:
    """A subquery of the organization ids `user` belongs to (no query until used)."""
    return OrganizationMembership.objects.filter(user_id=user.pk).values("organization_id")


def scope_to_user_organizations(queryset: QuerySet, organization_field: str, user) -> QuerySet:
    """Limit `queryset` to rows whose `organization_field` is one of `user`'s organizations."""
    if user.is_superuser:
        return queryset
    return queryset.filter(**{f"{organization_field}__in": staff_organization_ids(user)})


# A superuser of a large installation sees thousands of organizations: the filter lists the
# first ones by name (and the one in use); the others are reached from their own pages.
MAX_ORGANIZATION_CHOICES = 100


class UserOrganizationListFilter(admin.RelatedFieldListFilter):
    """The organization filter, offering only the organizations the user belongs to."""

    def field_choices(self, field, request, model_admin):
        organizations = scope_to_user_organizations(
            Organization.objects.order_by("name"), "pk", request.user
        )
        choices = list(organizations.values_list("pk", "name")[:MAX_ORGANIZATION_CHOICES])
        shown = {str(pk) for pk, _name in choices}
        in_use = [value for value in self.lookup_val or [] if value not in shown]
        if in_use:
            # Not an id: the changelist reports the bad parameter itself.
            with contextlib.suppress(ValidationError):
                choices += organizations.filter(pk__in=in_use).values_list("pk", "name")
        return sorted(choices, key=lambda choice: choice[1])

    def has_output(self):
        # Django drops a filter without output together with its parameter; keep one in use
        # shown, so filtering by an organization the user is not in shows nothing, not all.
        in_use = self.lookup_val is not None or self.lookup_val_isnull is not None
        return in_use or super().has_output()


class OrganizationScopedAdmin:
    """Mix into a ModelAdmin before `admin.ModelAdmin`; set `organization_field`."""

    # Path from the model to its organization, e.g. "session__organization"; "pk" for
    # Organization itself.
    organization_field: str = "organization"
    # Help texts for form fields whose model field has none, keyed by field name.
    help_texts: dict[str, str] = {}
    # The list columns that name a row's organization: left out for staff of one organization,
    # on whose lists every row would show the same name.
    organization_columns: tuple[str, ...] = ("organization",)

    # Scoping -------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return scope_to_user_organizations(queryset, self.organization_field, request.user)

    def get_field_queryset(self, db, db_field, request):
        """Foreign-key and many-to-many choices: only the rows the user may see."""
        queryset = super().get_field_queryset(db, db_field, request)
        related_model = db_field.remote_field.model
        related_admin = self.admin_site._registry.get(related_model)
        organization_field = getattr(related_admin, "organization_field", None)
        if organization_field is None:
            return queryset
        if queryset is None:
            queryset = related_model._default_manager.using(db).all()
        return scope_to_user_organizations(queryset, organization_field, request.user)

    def get_list_filter(self, request):
        """Swap every plain filter on an organization for one offering only the user's own."""
        list_filter = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and self._names_organization(item):
                item = (item, UserOrganizationListFilter)
            list_filter.append(item)
        return list_filter

    # Lists ---------------------------------------------------------------------------------

    def get_list_display(self, request):
        list_display = super().get_list_display(request)
        if sees_several_organizations(request):
            return list_display
        return [column for column in list_display if column not in self.organization_columns]

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj):
        """Django's checkbox, without a form widget's template per row: that rendering was a
        large share of a 100-row list's time."""
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )

    # Per-object permissions ----------------------------------------------------------------
    # Asked about rows that did not come through `get_queryset` too: Django's delete summary
    # asks each related model's admin about every row a delete would cascade to, and views
    # of our own ask before acting on a row they looked up.

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self.belongs_to_user(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.belongs_to_user(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.belongs_to_user(request, obj)

    def belongs_to_user(self, request: HttpRequest, obj) -> bool:
        """Whether `obj` (None: the model as a whole) is in one of the user's organizations."""
        if obj is None or request.user.is_superuser:
            return True
        return organization_id_of(obj, self.organization_field) in user_organization_id_set(request)

    # Forms ---------------------------------------------------------------------------------

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and not formfield.help_text:
            help_text = self.help_texts.get(db_field.name)
            if help_text is None and db_field.name == "organization":
                help_text = ORGANIZATION_HELP_TEXT
            if help_text:
                formfield.help_text = help_text
        return formfield

    def _names_organization(self, field_path: str) -> bool:
        # A plain filter is a field path (Django's checks refuse anything else).
        last = get_fields_from_path(self.model, field_path)[-1]
        return last.is_relation and last.related_model is Organization


def organization_id_of(obj, organization_field: str):
    """Follow `organization_field` on an instance: the id of the organization it belongs to."""
    if organization_field == "pk":
        return obj.pk
    *relations, last = organization_field.split(LOOKUP_SEP)
    for name in relations:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id", None)


def sees_several_organizations(request: HttpRequest) -> bool:
    """Whether the request user's lists can hold rows of more than one organization."""
    return request.user.is_superuser or len(user_organization_id_set(request)) > 1


def user_organization_id_set(request: HttpRequest) -> set:
    """The ids of the request user's organizations, read once per request."""
    cached = getattr(request, "_staff_organization_ids", None)
    if cached is None:
        cached = set(
            OrganizationMembership.objects.filter(user_id=request.user.pk).values_list(
                "organization_id", flat=True
            )
        )
        request._staff_organization_ids = cached
    return cached
