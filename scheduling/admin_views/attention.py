""" "Needs attention": what staff of their organizations should fix now, each item linked to the
admin list where it is fixed."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduling.admin_views.chart import hour_chart
from scheduling.selectors_attention import (
    CHART_HOURS,
    DISPATCHER_QUIET_AFTER,
    FAILED_WINDOW,
    LIST_LIMIT,
    dispatcher_pulse,
    failed_messages_since,
    message_outcomes_per_hour,
    messages_waiting_on_down_sessions,
    sessions_holding_references,
)
from sessions_app.admin_tenancy import user_organization_id_set

URL_NAME = "scheduling_attention"


def attention_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view(lambda request: attention_view(model_admin, request))
    return [path("attention/", view, name=URL_NAME)]


def _sessions_list(session_ids) -> str:
    ids = ",".join(str(pk) for pk in session_ids)
    return (
        f"{reverse('admin:sessions_app_whatsappsession_changelist')}?{urlencode({'id__in': ids})}"
    )


def attention_view(model_admin, request: HttpRequest):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    organization_ids = (
        None if request.user.is_superuser else list(user_organization_id_set(request))
    )
    now = timezone.now()

    held = sessions_holding_references(organization_ids=organization_ids)
    waiting = messages_waiting_on_down_sessions(organization_ids=organization_ids)
    failed_since = now - FAILED_WINDOW
    failed = failed_messages_since(organization_ids=organization_ids, since=failed_since)
    pulse = dispatcher_pulse(now=now)
    chart = hour_chart(message_outcomes_per_hour(organization_ids=organization_ids, now=now))

    messages_list = reverse("admin:scheduling_scheduledwhatsappmessage_changelist")
    failed_query = {"status__exact": "failed", "updated_at__gte": failed_since.isoformat()}
    quiet_for = pulse.quiet_for(now)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Needs attention"),
        "subtitle": None,
        "opts": model_admin.opts,
        "held": held.listed,
        "held_count": held.count,
        "held_rows": held.rows,
        "held_url": _sessions_list(held.ids[:100]) if held.ids else None,
        "waiting": waiting[:LIST_LIMIT],
        "waiting_count": sum(item.pending for item in waiting),
        "waiting_url": _sessions_list([item.session.pk for item in waiting][:100])
        if waiting
        else None,
        "failed_recent": failed.recent,
        "failed_count": failed.count,
        "failed_url": f"{messages_list}?{urlencode(failed_query)}",
        "pulse": pulse,
        "quiet_minutes": int(quiet_for.total_seconds() // 60) if quiet_for else None,
        "quiet_after_minutes": int(DISPATCHER_QUIET_AFTER.total_seconds() // 60),
        "chart": chart,
        "chart_hours": CHART_HOURS,
        "now": now,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/scheduling/attention.html", context)
