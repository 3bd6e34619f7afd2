"""The admin's "Refresh status from gateway" action on WhatsApp sessions."""

from django.contrib import admin, messages

from sessions_app.services.gateway_status import sessions_refresh_status


@admin.action(description="Refresh status from gateway", permissions=["change"])
def refresh_status_from_gateway(modeladmin, request, queryset):
    results = sessions_refresh_status(queryset=queryset)
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
