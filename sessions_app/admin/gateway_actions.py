"""The admin's gateway actions on WhatsApp sessions: refresh status, sync groups.

Each says what happened at the level it deserves: success only when something was done, a
warning when nothing was, an error when the gateway refused or failed."""

from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.display import short_id_of
from sessions_app.services.gateway_status import refresh_statuses
from sessions_app.services.groups import sessions_sync_groups


@admin.action(description=_("Refresh status from gateway"), permissions=["change"])
def refresh_status_from_gateway(modeladmin, request, queryset):
    results = refresh_statuses(queryset=queryset)
    refreshed = [r for r in results if not r.error]
    if refreshed:
        modeladmin.message_user(
            request,
            ngettext(
                "Refreshed %(count)d session from the gateway.",
                "Refreshed %(count)d sessions from the gateway.",
                len(refreshed),
            )
            % {"count": len(refreshed)},
            messages.SUCCESS,
        )
    for result in results:
        if result.error:
            modeladmin.message_user(request, f"{result.session}: {result.error}", messages.ERROR)
        if result.replaced is not None:
            modeladmin.message_user(
                request,
                gettext(
                    "%(old)s: the gateway now reports phone %(phone)s. New session %(new)s took "
                    "over its gateway name; nothing moved, because the phones differ."
                )
                % {
                    "old": result.replaced,
                    "phone": result.session.phone_number,
                    "new": short_id_of(result.session),
                },
                messages.WARNING,
            )
    skipped = queryset.count() - len(results)
    if skipped:
        modeladmin.message_user(
            request,
            ngettext(
                "Skipped %(count)d superseded session: a newer session took its gateway name.",
                "Skipped %(count)d superseded sessions: newer sessions took their gateway names.",
                skipped,
            )
            % {"count": skipped},
            messages.WARNING,
        )


@admin.action(description=_("Sync groups from gateway"), permissions=["change"])
def sync_groups_from_gateway(modeladmin, request, queryset):
    report = sessions_sync_groups(queryset=queryset)
    for outcome in report.outcomes:
        if outcome.error:
            modeladmin.message_user(request, f"{outcome.session}: {outcome.error}", messages.ERROR)
            continue
        result = outcome.result
        level = messages.WARNING if result.pending_in_vanished else messages.SUCCESS
        modeladmin.message_user(
            request,
            gettext("%(session)s: groups synced (%(summary)s).")
            % {"session": outcome.session, "summary": result.summary()},
            level,
        )
    if report.skipped:
        modeladmin.message_user(
            request,
            ngettext(
                "Skipped %(count)d session that is superseded or not connected.",
                "Skipped %(count)d sessions that are superseded or not connected.",
                report.skipped,
            )
            % {"count": report.skipped},
            messages.WARNING,
        )
