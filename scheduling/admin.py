from django.contrib import admin, messages
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from scheduling.admin_views.attention import attention_urls
from scheduling.forms import CampaignForm, EventForm, ScheduledMessageForm
from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from scheduling.services import messages_retry_now
from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.services.supersession import attach_to_live_sessions


class FollowsLiveSessionAdmin:
    """A row saved onto a superseded session goes on to the live end of its chain."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        attach_to_live_sessions(type(obj)._default_manager.filter(pk=obj.pk))


EVENT_HELP_TEXTS = {
    "title": _("Shown to staff and in the reminders."),
    "starts_at": _("When the event starts; reminders are scheduled relative to it."),
}


class EventMessageInline(admin.TabularInline):
    """An event's scheduled messages, read-only: the dispatcher owns their state."""

    model = ScheduledWhatsAppMessage
    fields = ["send_at", "status", "group", "body", "attempts", "sent_at", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["send_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WorkshopMessageInline(EventMessageInline):
    fk_name = "workshop"


class WebinarMessageInline(EventMessageInline):
    fk_name = "webinar"


@admin.register(Workshop)
class WorkshopAdmin(FollowsLiveSessionAdmin, OrganizationScopedAdmin, admin.ModelAdmin):
    form = EventForm
    help_texts = EVENT_HELP_TEXTS
    list_display = ["title", "organization", "starts_at", "whatsapp_session"]
    list_filter = ["organization"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"
    list_select_related = ["organization", "whatsapp_session"]
    autocomplete_fields = ["organization", "whatsapp_session"]
    inlines = [WorkshopMessageInline]


@admin.register(Webinar)
class WebinarAdmin(FollowsLiveSessionAdmin, OrganizationScopedAdmin, admin.ModelAdmin):
    form = EventForm
    help_texts = EVENT_HELP_TEXTS
    list_display = ["title", "organization", "starts_at", "whatsapp_session"]
    list_filter = ["organization"]
    search_fields = ["title"]
    date_hierarchy = "starts_at"
    list_select_related = ["organization", "whatsapp_session"]
    autocomplete_fields = ["organization", "whatsapp_session"]
    inlines = [WebinarMessageInline]


@admin.register(NotificationCampaign)
class NotificationCampaignAdmin(FollowsLiveSessionAdmin, OrganizationScopedAdmin, admin.ModelAdmin):
    form = CampaignForm
    help_texts = {
        "name": _("Shown to staff only."),
        "status": _("Scheduled, pending and sending campaigns follow a reconnected phone."),
        "body": _("The text posted to the groups."),
        "scheduled_at": _("When the campaign is sent."),
    }
    list_display = ["name", "organization", "status", "session", "scheduled_at"]
    list_filter = ["status", "organization"]
    search_fields = ["name"]
    list_select_related = ["organization", "session"]
    autocomplete_fields = ["organization", "session"]


def _kind_label(model) -> str:
    return capfirst(model._meta.verbose_name)


class MessageKindFilter(admin.SimpleListFilter):
    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("workshop", _kind_label(Workshop)), ("webinar", _kind_label(Webinar))]

    def queryset(self, request, queryset):
        if self.value() in ("workshop", "webinar"):
            return queryset.filter(**{f"{self.value()}__isnull": False})
        return queryset


@admin.register(ScheduledWhatsAppMessage)
class ScheduledWhatsAppMessageAdmin(
    FollowsLiveSessionAdmin, OrganizationScopedAdmin, admin.ModelAdmin
):
    form = ScheduledMessageForm
    organization_field = "group__session__organization"
    list_display = [
        "send_at",
        "status",
        "kind",
        "group",
        "workshop",
        "webinar",
        "attempts",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", MessageKindFilter]
    # Counting a million messages on every page view costs more than the page itself.
    show_full_result_count = False
    # The dispatcher's bookkeeping is shown, never edited by hand.
    readonly_fields = [
        "attempts",
        "last_error",
        "sent_at",
        "next_attempt_at",
        "lease_expires_at",
        "claimed_by",
        "gateway_message_id",
    ]
    actions = ["retry_now"]
    search_fields = ["body", "group__name", "group__group_jid"]
    # The events are read for the page's rows after it is cut: joined, they would be read for
    # every message the filter matches before the sort picks a hundred.
    list_select_related = ["group"]
    autocomplete_fields = ["group", "workshop", "webinar"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("workshop", "webinar")

    def get_urls(self):
        return [*attention_urls(self), *super().get_urls()]

    @admin.display(description=_("kind"))
    def kind(self, obj):
        return _kind_label(Workshop if obj.workshop_id else Webinar)

    @admin.action(description=_("Retry now"), permissions=["change"])
    def retry_now(self, request, queryset):
        selected = queryset.count()
        count = messages_retry_now(queryset=queryset)
        if not count:
            self.message_user(
                request,
                _("None of the selected messages had failed: nothing was retried."),
                messages.WARNING,
            )
            return
        self.message_user(
            request,
            ngettext(
                "%(count)d failed message will be sent on the next pass.",
                "%(count)d failed messages will be sent on the next pass.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
        if skipped := selected - count:
            self.message_user(
                request,
                ngettext(
                    "%(count)d selected message had not failed and was left alone.",
                    "%(count)d selected messages had not failed and were left alone.",
                    skipped,
                )
                % {"count": skipped},
                messages.INFO,
            )
