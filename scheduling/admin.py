from django.contrib import admin

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ["title", "organization", "starts_at", "whatsapp_session"]
    list_filter = ["organization"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"
    list_select_related = ["organization", "whatsapp_session"]
    autocomplete_fields = ["organization", "whatsapp_session"]


@admin.register(Webinar)
class WebinarAdmin(admin.ModelAdmin):
    list_display = ["title", "organization", "starts_at", "whatsapp_session"]
    list_filter = ["organization"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"
    list_select_related = ["organization", "whatsapp_session"]
    autocomplete_fields = ["organization", "whatsapp_session"]


@admin.register(NotificationCampaign)
class NotificationCampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "status", "session", "scheduled_at"]
    list_filter = ["status", "organization"]
    search_fields = ["name"]
    list_select_related = ["organization", "session"]
    autocomplete_fields = ["organization", "session"]


@admin.register(ScheduledWhatsAppMessage)
class ScheduledWhatsAppMessageAdmin(admin.ModelAdmin):
    list_display = ["send_at", "status", "group", "workshop", "webinar", "attempts", "sent_at"]
    list_filter = ["status"]
    search_fields = ["body", "group__name", "group__group_jid"]
    list_select_related = ["group", "workshop", "webinar"]
    autocomplete_fields = ["group", "workshop", "webinar"]
