"""A phone's timeline: every session of one phone in one organization, in order, with what moved
between them and what still points at each."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sessions_app.admin.counts import summarize_counts
from sessions_app.admin_tenancy import user_organization_id_set
from sessions_app.phones import normalize_phone_number
from sessions_app.selectors_timeline import is_undo, phone_timeline

URL_NAME = "sessions_app_whatsappsession_timeline"


def timeline_url(session) -> str | None:
    """The timeline of `session`'s phone; None while the gateway has not reported a phone."""
    if not session.phone_number:
        return None
    return reverse(f"admin:{URL_NAME}", args=[session.organization_id, session.phone_number])


@admin.display(description=_("Phone number"), ordering="phone_number")
def phone_number(session) -> str:
    """The sessions list's phone column, opening the phone's timeline. Named after the field it
    shows, so the column keeps its CSS class (`column-phone_number`)."""
    url = timeline_url(session)
    if url is None:
        return "-"
    return format_html(
        '<a href="{}" title="{}">{}</a>',
        url,
        gettext("Timeline of this phone"),
        session.phone_number,
    )


def timeline_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view(
        lambda request, organization_id, phone: timeline_view(
            model_admin, request, organization_id=organization_id, phone=phone
        )
    )
    return [path("timeline/<uuid:organization_id>/<str:phone>/", view, name=URL_NAME)]


def timeline_view(model_admin, request: HttpRequest, *, organization_id: uuid.UUID, phone: str):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    # Another organization's phone answers exactly like a phone with no session.
    not_found = Http404(gettext("No session of this organization has this phone."))
    try:
        phone_number = normalize_phone_number(phone)
    except ValidationError:
        raise not_found from None
    if not request.user.is_superuser and organization_id not in user_organization_id_set(request):
        raise not_found
    timeline = phone_timeline(organization_id=organization_id, phone_number=phone_number)
    if timeline is None:
        raise not_found

    rows = []
    for entry in timeline.entries:
        rows.extend(_migration_row(migration) for migration in entry.migrations_before)
        rows.append({"kind": "session", "session": entry.session})
    rows.extend(_migration_row(migration) for migration in timeline.migrations_after)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Timeline of %(phone)s") % {"phone": phone_number},
        "subtitle": timeline.organization.name,
        "opts": model_admin.opts,
        "timeline": timeline,
        "rows": rows,
        "session_count": len(timeline.entries),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(
        request,
        [
            f"admin/{model_admin.opts.app_label}/{model_admin.opts.model_name}/timeline.html",
            "admin/timeline.html",
        ],
        context,
    )


def _migration_row(migration) -> dict:
    return {
        "kind": "migration",
        "migration": migration,
        "summary": summarize_counts(migration.counts),
        "is_undo": is_undo(migration),
        "undoes_id": getattr(migration, "undoes_id", None),
    }
