"""The audit of every migration: read-only and append-only, with the rows each one moved."""

import contextlib

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.audit_rows import listed_rows, moved_rows
from sessions_app.admin.counts import summarize_counts
from sessions_app.admin.display import admin_change_link, short_id_of, shown_datetime
from sessions_app.admin.search import PhoneSearchAdmin
from sessions_app.admin.undo import UndoFromAuditMixin
from sessions_app.admin_tenancy import OrganizationScopedAdmin
from sessions_app.models import SessionMigration
from sessions_app.references import count_keys


@admin.register(SessionMigration)
class SessionMigrationAdmin(
    UndoFromAuditMixin, PhoneSearchAdmin, OrganizationScopedAdmin, admin.ModelAdmin
):
    """The audit: read-only and append-only for everyone, superusers included. An entry can be
    undone (which appends an entry of its own)."""

    list_display = [
        "when",
        "trigger",
        "actor_name",
        "organization",
        "old_to_new",
        "counts_summary",
    ]
    list_filter = ["trigger", "organization"]
    list_select_related = ["organization", "actor", "old_session", "new_session", "undone_by"]
    search_fields = ["old_session__phone_number", "new_session__phone_number", "id"]
    phone_search_fields = ("old_session__phone_number", "new_session__phone_number")
    date_hierarchy = "created_at"
    fields = [
        "created_at",
        "organization",
        "trigger",
        "actor_name",
        "forced",
        "old_session_link",
        "new_session_link",
        "counts_summary",
        "undo_link",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("When"), ordering="created_at")
    def when(self, migration):
        return shown_datetime(migration.created_at)

    @admin.display(description=_("Who"), ordering="actor__username")
    def actor_name(self, migration):
        # Plain text: staff reading the audit usually cannot open user pages.
        if migration.actor is None:
            if migration.trigger == SessionMigration.Trigger.AUTOMATIC:
                return pgettext("nobody moved it", "(automatic)")
            return "-"
        return migration.actor.get_username()

    @admin.display(description=_("Old → new"))
    def old_to_new(self, migration):
        """`e553e3e7 → 6858c66b` over the phone (both when they differ): short enough for the
        list to fit beside the sidebar, each session whole on hover."""
        old, new = migration.old_session, migration.new_session
        phones = old.phone_number or "-"
        if new.phone_number != old.phone_number:
            phones = f"{phones} → {new.phone_number or '-'}"
        return format_html(
            '{} → {}<br><span class="quiet">{}</span>',
            admin_change_link(old, short_id_of(old), title=str(old)),
            admin_change_link(new, short_id_of(new), title=str(new)),
            phones,
        )

    @admin.display(description=_("Old session"))
    def old_session_link(self, migration):
        return admin_change_link(migration.old_session)

    @admin.display(description=_("New session"))
    def new_session_link(self, migration):
        return admin_change_link(migration.new_session)

    @admin.display(description=_("What moved"))
    def counts_summary(self, migration):
        summary = summarize_counts(migration.counts)
        undone_by = getattr(migration, "undone_by", None)
        if undone_by is not None:
            return format_html(
                gettext("{summary} · undone by {undo}"),
                summary=summary,
                undo=admin_change_link(undone_by, shown_datetime(undone_by.created_at)),
            )
        return summary

    @admin.display(description=_("Undo"))
    def undo_link(self, migration):
        if migration.undoes_id is not None:
            return format_html(
                gettext("Undoes {migration}"), migration=admin_change_link(migration.undoes)
            )
        undone_by = getattr(migration, "undone_by", None)
        if undone_by is not None:
            who = undone_by.actor.get_username() if undone_by.actor else "-"
            return format_html(
                gettext("Undone by {undo} ({who}, {when})"),
                undo=admin_change_link(undone_by),
                who=who,
                when=shown_datetime(undone_by.created_at),
            )
        return "-"

    def get_queryset(self, request):
        # The moved ids run to tens of thousands: read a page of them when shown, never a list.
        return super().get_queryset(request).defer("moved_ids")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            pages = {}
            for key in count_keys():
                with contextlib.suppress(ValueError):
                    pages[key] = int(request.GET.get(f"moved_{key}", 1))
            context["moved_rows"] = moved_rows(obj, pages, admin_site=self.admin_site)
            context["left_rows"] = listed_rows(obj, obj.left_ids, admin_site=self.admin_site)
            context["can_undo"] = self.can_undo(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
