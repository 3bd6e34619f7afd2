from django.contrib import admin

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from sessions_app.admin_tenancy import OrganizationScopedAdmin

EVENT_HELP_TEXTS = {
    "title": "Shown to staff and in the reminders.",
    "starts_at": "When the event starts; reminders are scheduled relative to it.",
}


@admin.register(Workshop)
class WorkshopAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    help_texts = EVENT_HELP_TEXTS
    list_display = ["title", "organization", "starts_at", "whatsapp_session"]
    list_filter = ["organization"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"
    list_select_related = ["organization", "whatsapp_session"]
    autocomplete_fields = ["organization", "whatsapp_session"]


@admin.register(Webinar)
class WebinarAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    help_texts = EVENT_HELP_TEXTS
    list_display = ["title", "organization", "starts_at", "whatsapp_session"]
    list_filter = ["organization"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"
    list_select_related = ["organization", "whatsapp_session"]
    autocomplete_fields = ["organization", "whatsapp_session"]


@admin.register(NotificationCampaign)
class NotificationCampaignAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    help_texts = {
        "name": "Shown to staff only.",
        "status": "Scheduled, pending and sending campaigns follow a reconnected phone.",
        "body": "The text posted to the groups.",
        "scheduled_at": "When the campaign is sent.",
    }
    list_display = ["name", "organization", "status", "session", "scheduled_at"]
    list_filter = ["status", "organization"]
    search_fields = ["name"]
    list_select_related = ["organization", "session"]
    autocomplete_fields = ["organization", "session"]


@admin.register(ScheduledWhatsAppMessage)
class ScheduledWhatsAppMessageAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "group__session__organization"
    list_display = ["send_at", "status", "group", "workshop", "webinar", "attempts", "sent_at"]
    list_filter = ["status"]
    search_fields = ["body", "group__name", "group__group_jid"]
    list_select_related = ["group", "workshop", "webinar"]
    autocomplete_fields = ["group", "workshop", "webinar"]
