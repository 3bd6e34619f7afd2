"""The "What points at this session" panel of a session's page, with links to the audit."""

from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse

from scheduling.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.models import SessionMigration
from sessions_app.selectors import session_reference_counts

_ACTIVE_CAMPAIGN_STATUSES = ",".join(NotificationCampaign.ACTIVE_STATUSES)

# What still points at a session, per table: (key in `session_reference_counts`, label,
# changelist, the lookup naming the session there, the filters that make the count).
REFERENCE_LINKS = [
    (
        "workshops",
        "Workshops",
        "admin:scheduling_workshop_changelist",
        "whatsapp_session__id__exact",
        {},
    ),
    (
        "webinars",
        "Webinars",
        "admin:scheduling_webinar_changelist",
        "whatsapp_session__id__exact",
        {},
    ),
    (
        "campaigns",
        "Active campaigns",
        "admin:scheduling_notificationcampaign_changelist",
        "session__id__exact",
        {"status__in": _ACTIVE_CAMPAIGN_STATUSES},
    ),
    (
        "organizations",
        "Community of organizations",
        "admin:sessions_app_organization_changelist",
        "community_session__id__exact",
        {},
    ),
    (
        "groups",
        "Active groups",
        "admin:sessions_app_whatsappgroup_changelist",
        "session__id__exact",
        {"is_active__exact": "1"},
    ),
    (
        "scheduled_messages",
        "Pending messages",
        "admin:scheduling_scheduledwhatsappmessage_changelist",
        "group__session__id__exact",
        {"status__exact": ScheduledWhatsAppMessage.Status.PENDING},
    ),
]


def reference_rows(session) -> list[dict]:
    """The "What points at this session" panel: a count and a filtered list per table."""
    counts = session_reference_counts(session)
    rows = []
    for key, label, changelist, session_lookup, extra_filters in REFERENCE_LINKS:
        query = urlencode({session_lookup: str(session.pk), **extra_filters})
        rows.append(
            {
                "label": label,
                "count": counts.get(key, 0),
                "url": f"{reverse(changelist)}?{query}",
            }
        )
    return rows


def migration_links(session) -> list[dict]:
    """Links to the audit entries that moved references out of and into this session."""
    involving = SessionMigration.objects.filter(Q(old_session=session) | Q(new_session=session))
    counts = involving.aggregate(
        out_of=Count("pk", filter=Q(old_session=session)),
        into=Count("pk", filter=Q(new_session=session)),
    )
    audit = reverse("admin:sessions_app_sessionmigration_changelist")
    return [
        {
            "label": "Moved out of this session",
            "count": counts["out_of"],
            "url": f"{audit}?{urlencode({'old_session__id__exact': session.pk})}",
        },
        {
            "label": "Moved into this session",
            "count": counts["into"],
            "url": f"{audit}?{urlencode({'new_session__id__exact': session.pk})}",
        },
    ]
