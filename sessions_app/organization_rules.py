"""One organization: a row never points at another organization's session, group or event.

PostgreSQL enforces it (migration `0003_one_organization`); forms and services ask the
functions below first, so staff read a reason instead of a database error.
"""

from __future__ import annotations

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

# Why a row breaks the rule, by the key its query below reports.
_REASONS = {
    "session": _("its session belongs to another organization"),
    "community_session": _("its community session belongs to another organization"),
    "group_and_event": _("its group and its workshop or webinar belong to different organizations"),
}

# Each query lists (table, row id, reason key) for the rows that break the rule.
_CROSS_ORGANIZATION_QUERIES = [
    """SELECT 'workshops', w.id, 'session'
       FROM workshops w JOIN whatsapp_sessions s ON s.id = w.whatsapp_session_id
       WHERE s.organization_id <> w.organization_id""",
    """SELECT 'webinars', w.id, 'session'
       FROM webinars w JOIN whatsapp_sessions s ON s.id = w.whatsapp_session_id
       WHERE s.organization_id <> w.organization_id""",
    """SELECT 'notification_campaigns', c.id, 'session'
       FROM notification_campaigns c JOIN whatsapp_sessions s ON s.id = c.session_id
       WHERE s.organization_id <> c.organization_id""",
    """SELECT 'organizations', o.id, 'community_session'
       FROM organizations o JOIN whatsapp_sessions s ON s.id = o.community_session_id
       WHERE s.organization_id <> o.id""",
    """SELECT 'scheduled_whatsapp_messages', m.id, 'group_and_event'
       FROM scheduled_whatsapp_messages m
       JOIN whatsapp_groups g ON g.id = m.group_id
       JOIN whatsapp_sessions s ON s.id = g.session_id
       LEFT JOIN workshops w ON w.id = m.workshop_id
       LEFT JOIN webinars b ON b.id = m.webinar_id
       WHERE s.organization_id <> COALESCE(w.organization_id, b.organization_id)""",
]


def cross_organization_rows(connection) -> list[tuple[str, str, str]]:
    """Every row that points across organizations, as (table, id, reason)."""
    rows = []
    with connection.cursor() as cursor:
        for sql in _CROSS_ORGANIZATION_QUERIES:
            cursor.execute(sql)
            rows += [
                (table, str(row_id), str(_REASONS[reason]))
                for table, row_id, reason in cursor.fetchall()
            ]
    return rows


def refuse_cross_organization_rows(connection) -> None:
    """Raise, naming the rows to fix first, when any row points across organizations."""
    bad = cross_organization_rows(connection)
    if bad:
        listed = "; ".join(f"{table} {row_id}: {reason}" for table, row_id, reason in bad[:20])
        if len(bad) > 20:
            listed += gettext(" (and %(count)d more)") % {"count": len(bad) - 20}
        raise RuntimeError(
            ngettext(
                "%(count)d row points at another organization's session, group or event: "
                "%(rows)s. Point it at a row of its own organization, then migrate again.",
                "%(count)d rows point at another organization's session, group or event: "
                "%(rows)s. Point each at a row of its own organization, then migrate again.",
                len(bad),
            )
            % {"count": len(bad), "rows": listed}
        )


def session_organization_error(*, organization_id, session) -> str:
    """Why `session` cannot serve a row of `organization_id`; empty when it can."""
    if session is None or organization_id is None or session.organization_id == organization_id:
        return ""
    return gettext(
        "Pick a session of this row's organization: %(session)s belongs to another organization."
    ) % {"session": session}


def message_organization_error(*, group, event) -> str:
    """Why a message cannot go to `group` for `event`; empty when it can."""
    if group is None or event is None:
        return ""
    if group.session.organization_id != event.organization_id:
        return gettext(
            "Pick a group of %(event)s's organization: group %(group)s belongs to another "
            "organization's session."
        ) % {"event": event, "group": group}
    return ""
