from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q

from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.models import (
    Organization,
    OrganizationMembership,
    SessionMigration,
    WhatsAppGroup,
    WhatsAppSession,
)
from sessions_app.phones import normalize_phone_number


class OrganizationMembershipInline(admin.TabularInline):
    model = OrganizationMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "pk"
    list_display = ["name", "community_session", "created_at"]
    search_fields = ["name", "id"]
    autocomplete_fields = ["community_session"]
    inlines = [OrganizationMembershipInline]
    list_select_related = ["community_session"]


@admin.register(WhatsAppSession)
class WhatsAppSessionAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = [
        "id",
        "organization",
        "phone_number",
        "status",
        "superseded_by",
        "connected_at",
        "disconnected_at",
        "created_at",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["phone_number", "id"]
    list_select_related = ["organization", "superseded_by"]
    readonly_fields = [
        "superseded_by",
        "connected_at",
        "disconnected_at",
        "created_at",
        "updated_at",
    ]
    autocomplete_fields = ["organization"]

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # Staff paste phones the way they see them (`+55 11 99999-9999`); stored ones are E.164.
        try:
            phone_number = normalize_phone_number(search_term)
        except ValidationError:
            return results, may_have_duplicates
        matches = Q(pk__in=results.values("pk")) | Q(phone_number=phone_number)
        return queryset.filter(matches), may_have_duplicates


@admin.register(WhatsAppGroup)
class WhatsAppGroupAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "session__organization"
    list_display = ["name", "group_jid", "session", "is_active", "created_at"]
    list_filter = ["is_active", "session__organization"]
    search_fields = ["name", "group_jid"]
    list_select_related = ["session"]
    autocomplete_fields = ["session"]


@admin.register(SessionMigration)
class SessionMigrationAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ["created_at", "trigger", "actor", "old_session", "new_session", "counts"]
    list_filter = ["trigger", "organization"]
    list_select_related = ["actor", "old_session", "new_session"]
