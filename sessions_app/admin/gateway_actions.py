"""The admin's gateway actions on WhatsApp sessions: refresh status, sync groups."""

from django.contrib import admin, messages

from sessions_app.services.gateway_status import refresh_statuses
from sessions_app.services.groups import sessions_sync_groups


@admin.action(description="Refresh status from gateway", permissions=["change"])
def refresh_status_from_gateway(modeladmin, request, queryset):
    results = refresh_statuses(queryset=queryset)
    refreshed = [r for r in results if not r.error]
    if refreshed:
        modeladmin.message_user(
            request,
            f"Refreshed {len(refreshed)} session(s) from the gateway.",
            messages.SUCCESS,
        )
    for result in results:
        if result.error:
            modeladmin.message_user(request, f"{result.session}: {result.error}", messages.WARNING)
        if result.replaced is not None:
            modeladmin.message_user(
                request,
                f"{result.replaced}: the gateway now reports phone {result.session.phone_number}. "
                f"New session {str(result.session.pk)[:8]} took over its gateway name; nothing "
                "moved, because the phones differ.",
                messages.WARNING,
            )
    skipped = queryset.count() - len(results)
    if skipped:
        modeladmin.message_user(request, f"Skipped {skipped} superseded session(s).", messages.INFO)


@admin.action(description="Sync groups from gateway", permissions=["change"])
def sync_groups_from_gateway(modeladmin, request, queryset):
    report = sessions_sync_groups(queryset=queryset)
    for outcome in report.outcomes:
        if outcome.error:
            modeladmin.message_user(request, f"{outcome.session}: {outcome.error}", messages.ERROR)
            continue
        result = outcome.result
        level = messages.WARNING if result.pending_in_vanished else messages.SUCCESS
        modeladmin.message_user(
            request, f"{outcome.session}: groups synced ({result.summary()}).", level
        )
    if report.skipped:
        modeladmin.message_user(
            request,
            f"Skipped {report.skipped} session(s) that are superseded or not connected.",
            messages.INFO,
        )
