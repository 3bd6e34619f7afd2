"""WhatsApp groups, each on the session that posts to it."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.display import admin_change_link, short_id_of, truncated
from sessions_app.admin.filters import SessionListFilter
from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.models import WhatsAppGroup


class ActiveListFilter(admin.SimpleListFilter):
    """Groups by whether they are in use: "By status: Active, Inactive". Reads the parameter
    the session page's panel links with (`is_active__exact=1`)."""

    title = _("status")
    parameter_name = "is_active__exact"

    def lookups(self, request, model_admin):
        return [("1", _("Active")), ("0", _("Inactive"))]

    def queryset(self, request, queryset):
        if self.value() in ("1", "0"):
            return queryset.filter(is_active=self.value() == "1")
        return queryset


@admin.register(WhatsAppGroup)
class WhatsAppGroupAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "session__organization"
    # Names and JIDs are cut to fit 1280 px with the navigation sidebar open (whole on hover);
    # the session shows as the short id every list uses.
    list_display = ["group_name", "jid", "session_link", "is_active", "created_at"]
    list_filter = [
        ActiveListFilter,
        ("session", SessionListFilter),
        "session__organization",
    ]
    search_fields = ["name", "group_jid"]
    list_select_related = ["session"]
    autocomplete_fields = ["session"]
    help_texts = {
        "session": _("The session that is a member of this group and posts to it."),
        "name": _("The group's name as shown in WhatsApp."),
    }

    @admin.display(description=_("name"), ordering="name")
    def group_name(self, group):
        return truncated(group.name, 40)

    @admin.display(description=_("group JID"), ordering="group_jid")
    def jid(self, group):
        return truncated(group.group_jid, 26)

    @admin.display(description=_("session"))
    def session_link(self, group):
        return admin_change_link(
            group.session, short_id_of(group.session), title=str(group.session)
        )
