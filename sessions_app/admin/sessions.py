"""WhatsApp sessions: the list, a session's page and its actions."""

from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.views.main import ChangeList
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.display import admin_change_link, short_id_of, shown_datetime
from sessions_app.admin.gateway_actions import (
    refresh_status_from_gateway,
    sync_groups_from_gateway,
)
from sessions_app.admin.moves import MoveReferencesActions
from sessions_app.admin.pairing import SessionPairingAdmin
from sessions_app.admin.panel import migration_links, reference_rows
from sessions_app.admin.search import PhoneSearchAdmin
from sessions_app.admin.timeline import phone_number as phone_timeline_link
from sessions_app.admin.timeline import timeline_urls
from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.forms import WhatsAppSessionAdminForm
from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.selectors import (
    audit_entry_count,
    phone_change_of,
    reference_counts_by_session,
)


class SessionChangeList(ChangeList):
    """Counts what points at the sessions shown on the page, not at every session listed."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        counts = reference_counts_by_session([session.pk for session in self.result_list])
        for session in self.result_list:
            session.reference_count = counts.get(session.pk, 0)


@admin.register(WhatsAppSession)
class WhatsAppSessionAdmin(
    SessionPairingAdmin,
    MoveReferencesActions,
    PhoneSearchAdmin,
    OrganizationScopedAdmin,
    admin.ModelAdmin,
):
    form = WhatsAppSessionAdminForm
    # Sortable only where an index keeps it cheap at 20,000 sessions: the id, phone and times;
    # not the organization's or successor's names, nor the reference counts, nor the status
    # (three values: its filter does what sorting would). Narrow enough for 1280 px with the
    # navigation sidebar open: the creation time is on the session's page and is the default
    # order, the successor shows as the short id the list uses, and the organization comes
    # last (only for those who see several).
    list_display = [
        "short_id",
        phone_timeline_link,
        "status_name",
        "connected",
        "disconnected",
        "superseded_by_short",
        "reference_count",
        "organization_name",
    ]
    organization_columns = ("organization_name",)
    list_filter = ["status", "organization"]
    search_fields = ["phone_number", "id"]
    phone_search_fields = ("phone_number",)
    list_select_related = ["organization", "superseded_by"]
    autocomplete_fields = ["organization"]
    readonly_fields = [
        "id",
        "gateway_name",
        "phone_number",
        "status",
        "session_data",
        "last_report_at",
        "superseded_by_link",
        "connected_at",
        "disconnected_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["organization", "gateway_name", "phone_number", "status"]}),
        (
            _("History"),
            {
                "fields": [
                    "id",
                    "superseded_by_link",
                    "connected_at",
                    "disconnected_at",
                    "last_report_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        (_("Gateway"), {"fields": ["session_data"], "classes": ["collapse"]}),
    ]
    actions = [
        "move_references",
        "adopt_references",
        refresh_status_from_gateway,
        sync_groups_from_gateway,
        "pair_again",
    ]
    move_references_confirmation_template = None

    # Lists and pages -----------------------------------------------------------------------

    def get_urls(self):
        return [*timeline_urls(self), *super().get_urls()]

    def get_changelist(self, request, **kwargs):
        return SessionChangeList

    def get_readonly_fields(self, request, obj=None):
        # Status, phone and times come from the gateway (apply_status_report) only.
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "organization"]

    @admin.display(description=_("Session"), ordering="id")
    def short_id(self, session):
        return short_id_of(session)

    @admin.display(description=_("Gateway name"))
    def gateway_name(self, session):
        return session.gateway_session_name or "-"

    @admin.display(description=_("Organization"))
    def organization_name(self, session):
        return str(session.organization)

    @admin.display(description=_("Status"))
    def status_name(self, session):
        return session.get_status_display()

    @admin.display(description=_("Connected"), ordering="connected_at")
    def connected(self, session):
        return shown_datetime(session.connected_at)

    @admin.display(description=_("Disconnected"), ordering="disconnected_at")
    def disconnected(self, session):
        return shown_datetime(session.disconnected_at)

    @admin.display(description=_("Superseded by"))
    def superseded_by_link(self, session):
        return admin_change_link(session.superseded_by)

    @admin.display(description=_("Superseded by"))
    def superseded_by_short(self, session):
        successor = session.superseded_by
        if successor is None:
            return "-"
        return admin_change_link(successor, short_id_of(successor), title=str(successor))

    # Not sortable: sorting would count references for every session, not just the page's.
    @admin.display(description=_("Rows pointing here"))
    def reference_count(self, session):
        return session.reference_count

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["references"] = reference_rows(obj, admin_site=self.admin_site)
            context["migration_links"] = migration_links(obj)
            context["phone_change"] = phone_change_of(obj)
            context["can_migrate"] = self.has_migrate_permission(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Deleting ------------------------------------------------------------------------------
    # The audit is kept for good: nobody may delete its entries, superusers included, so a
    # session an entry names cannot be deleted. The delete pages say so, instead of listing the
    # audit among the permissions the user lacks.

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(SessionMigration._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        return _with_audit_entry_count(response, lambda context: [context["object"]])

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _func, name, description = actions["delete_selected"]
            actions["delete_selected"] = (delete_selected_sessions, name, description)
        return actions


def delete_selected_sessions(modeladmin, request, queryset):
    """Django's "Delete selected" action, saying when the audit keeps the sessions."""
    response = delete_selected(modeladmin, request, queryset)
    return _with_audit_entry_count(response, lambda context: context["queryset"])


def _with_audit_entry_count(response, sessions_of):
    """A delete confirmation refused because of protected rows, with the number of audit entries
    among them (`audit_entry_count`) for the page to say why."""
    context = getattr(response, "context_data", None)
    if isinstance(response, TemplateResponse) and context and context.get("protected"):
        context["audit_entry_count"] = audit_entry_count(sessions_of(context))
    return response
