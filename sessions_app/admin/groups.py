"""WhatsApp groups, each on the session that posts to it."""

from django.contrib import admin

from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.models import WhatsAppGroup


@admin.register(WhatsAppGroup)
class WhatsAppGroupAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "session__organization"
    list_display = ["name", "group_jid", "session", "is_active", "created_at"]
    list_filter = ["is_active", "session__organization"]
    search_fields = ["name", "group_jid"]
    list_select_related = ["session"]
    autocomplete_fields = ["session"]
    help_texts = {
        "session": "The session that is a member of this group and posts to it.",
        "name": "The group's name as shown in WhatsApp.",
    }
