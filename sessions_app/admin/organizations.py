"""Organizations and their staff members."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.pairing import OrganizationPairingAdmin
from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.forms import OrganizationAdminForm
from sessions_app.models import Organization, OrganizationMembership
from sessions_app.services.supersession import attach_to_live_sessions


class OrganizationMembershipInline(admin.TabularInline):
    model = OrganizationMembership
    extra = 0
    autocomplete_fields = ["user"]
    verbose_name = _("staff member")
    verbose_name_plural = _("staff members")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user":
            formfield.help_text = _("Staff members see and act on this organization's data.")
        return formfield


@admin.register(Organization)
class OrganizationAdmin(OrganizationPairingAdmin, OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "pk"
    form = OrganizationAdminForm
    list_display = ["name", "community_session", "created_at"]
    search_fields = ["name", "id"]
    autocomplete_fields = ["community_session"]
    inlines = [OrganizationMembershipInline]
    list_select_related = ["community_session"]

    def has_add_permission(self, request):
        # A new organization has no members yet, so only a superuser could ever see it.
        return request.user.is_superuser and super().has_add_permission(request)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        attach_to_live_sessions(Organization.objects.filter(pk=obj.pk))
