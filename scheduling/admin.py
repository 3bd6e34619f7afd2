from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from scheduling.admin_views.attention import attention_urls
from scheduling.forms import CampaignForm, EventForm, ScheduledMessageForm
from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage, Webinar, Workshop
from scheduling.services import messages_retry_now
from sessions_app.admin.display import admin_change_link, short_id_of, truncated
from sessions_app.admin.filters import GroupSessionListFilter, SessionListFilter
from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import live_sessions_of
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
    list_filter = [("whatsapp_session", SessionListFilter), "organization"]
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
    list_filter = [("whatsapp_session", SessionListFilter), "organization"]
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
    list_filter = ["status", ("session", SessionListFilter), "organization"]
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


def _sending_session_cell(session: WhatsAppSession) -> str:
    link = admin_change_link(session, short_id_of(session), title=str(session))
    if session.status == WhatsAppSession.Status.CONNECTED:
        return link
    return format_html(
        '{}<br><span class="session-down">{}</span>',
        link,
        str(session.get_status_display()).lower(),
    )


class MessageChangeList(ChangeList):
    """Reads the sending session of the messages on the page: the live end of their event's
    session's chain, as the dispatcher resolves it, for the page's events at once."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        events = [message.event for message in self.result_list]
        sending = live_sessions_of(event.whatsapp_session_id for event in events if event)
        for message, event in zip(self.result_list, events, strict=True):
            message.sending_session = sending.get(event.whatsapp_session_id) if event else None


@admin.register(ScheduledWhatsAppMessage)
class ScheduledWhatsAppMessageAdmin(
    FollowsLiveSessionAdmin, OrganizationScopedAdmin, admin.ModelAdmin
):
    form = ScheduledMessageForm
    organization_field = "group__session__organization"
    # What staff look for first, to fit 1280 px with the navigation sidebar open: when, how it
    # went, through which session, then where it belongs. Long texts are cut, whole on hover;
    # when a message was sent is on its page.
    list_display = [
        "send_at",
        "status",
        "text",
        "sending_session",
        "attempts",
        "next_attempt_at",
        "error",
        "event_title",
        "group_name",
    ]
    list_filter = [
        "status",
        MessageKindFilter,
        ("group__session", GroupSessionListFilter),
        "group__session__organization",
    ]
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

    def get_changelist(self, request, **kwargs):
        return MessageChangeList

    def get_urls(self):
        return [*attention_urls(self), *super().get_urls()]

    @admin.display(description=_("text"))
    def text(self, message):
        return truncated(message.body, 40)

    @admin.display(description=_("sending session"))
    def sending_session(self, message):
        session = getattr(message, "sending_session", None)
        if session is None:
            return "-"
        # The rows of a page share a few sessions (`MessageChangeList` reads each once): each
        # one's link is written once too.
        if (cell := getattr(session, "_sending_session_cell", None)) is None:
            cell = session._sending_session_cell = _sending_session_cell(session)
        return cell

    @admin.display(description=_("last error"))
    def error(self, message):
        return truncated(message.last_error, 40)

    @admin.display(description=_("event"))
    def event_title(self, message):
        event = message.event
        if event is None:
            return "-"
        return truncated(event.title, 32, title=f"{_kind_label(type(event))}: {event.title}")

    @admin.display(description=_("group"))
    def group_name(self, message):
        return truncated(str(message.group), 32)

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
                messages.WARNING,
            )
