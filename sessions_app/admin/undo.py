"""Undoing a migration from its audit page, behind a preview like the move confirmation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext

from sessions_app.admin.audit_rows import listed_rows
from sessions_app.admin.counts import count_list, summarize_counts
from sessions_app.admin.display import admin_change_link, templates_for
from sessions_app.models import SessionMigration
from sessions_app.services.migration import SessionMigrationError, UndoResult, undo_migration

MIGRATE_PERMISSION = "sessions_app.migrate_whatsappsession"


class UndoFromAuditMixin:
    """Mix into the audit's ModelAdmin: `<id>/undo/` previews an undo (a dry run of
    `undo_migration`) and does it when the page is posted back with `post=yes`."""

    undo_confirmation_template: str | None = None

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/undo/",
                self.admin_site.admin_view(self.undo_view),
                name="{}_{}_undo".format(*info),
            ),
            *super().get_urls(),
        ]

    def has_migrate_permission(self, request) -> bool:
        return request.user.has_perm(MIGRATE_PERMISSION)

    def can_undo(self, request, migration: SessionMigration) -> bool:
        return (
            self.has_migrate_permission(request)
            and migration.trigger != SessionMigration.Trigger.UNDO
            and not SessionMigration.objects.filter(undoes=migration).exists()
        )

    def undo_view(self, request, object_id):
        # Scoped like every page of the audit: another organization's entry does not exist.
        migration = self.get_object(request, unquote(object_id))
        if migration is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not (
            self.has_view_permission(request, migration) and self.has_migrate_permission(request)
        ):
            raise PermissionDenied
        change_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[migration.pk]
        )
        if request.method == "POST" and request.POST.get("post") == "yes":
            try:
                result = undo_migration(migration, actor=request.user)
            except SessionMigrationError as refusal:
                self.message_user(
                    request,
                    gettext("Nothing moved. %(refusal)s") % {"refusal": refusal},
                    messages.ERROR,
                )
                return HttpResponseRedirect(change_url)
            level = messages.SUCCESS if any(result.counts.values()) else messages.WARNING
            self.message_user(request, self.undo_message(result), level)
            return HttpResponseRedirect(change_url)

        refusal, preview = "", None
        try:
            preview = undo_migration(migration, actor=request.user, dry_run=True)
        except SessionMigrationError as exc:
            refusal = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Undo this migration"),
            "subtitle": None,
            "opts": self.opts,
            "migration": migration,
            "change_url": change_url,
            "refusal": refusal,
            "preview": preview,
            "back_rows": listed_rows(migration, preview.moved_ids, admin_site=self.admin_site)
            if preview
            else [],
            "left_rows": listed_rows(migration, preview.left, admin_site=self.admin_site)
            if preview
            else [],
            "back_total": sum(count_list(preview.counts)) if preview else 0,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            self.undo_confirmation_template or templates_for(self.opts, "undo_confirmation"),
            context,
        )

    @staticmethod
    def undo_message(result: UndoResult) -> str:
        audit = admin_change_link(result.undo, gettext("audit entry of the undo"))
        if not any(result.counts.values()):
            return format_html(
                gettext(
                    "Undone, but nothing went back: every row it moved has changed since ({audit})."
                ),
                audit=audit,
            )
        summary = summarize_counts(result.counts)
        if not result.left_count:
            return format_html(
                gettext("Undone: moved back {summary} ({audit})."), summary=summary, audit=audit
            )
        return format_html(
            ngettext(
                "Undone: moved back {summary}; {count} row changed since stays where it is "
                "({audit}).",
                "Undone: moved back {summary}; {count} rows changed since stay where they are "
                "({audit}).",
                result.left_count,
            ),
            summary=summary,
            count=result.left_count,
            audit=audit,
        )
