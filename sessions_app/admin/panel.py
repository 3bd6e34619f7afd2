"""The "What points at this session" panel of a session's page, with links to the audit.

Its rows are the registry's (`sessions_app.references.pointing_rows`): each count is the one the
sessions list adds up, and each link opens that table's list filtered to the very same rows.
"""

from urllib.parse import urlencode

from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Q
from django.db.models.constants import LOOKUP_SEP
from django.urls import reverse
from django.utils.translation import gettext as _

from sessions_app.models import SessionMigration
from sessions_app.references import PointingRows, pointing_rows
from sessions_app.selectors import session_reference_counts


def reference_rows(session, *, admin_site) -> list[dict]:
    """The panel: per table, a label, a count and, when the table has an admin, its list
    filtered to the rows counted."""
    counts = session_reference_counts(session)
    return [
        {
            "label": rows.label,
            "count": counts.get(rows.key, 0),
            "url": changelist_url(rows, session, admin_site=admin_site),
        }
        for rows in pointing_rows()
    ]


def changelist_url(rows: PointingRows, session, *, admin_site) -> str | None:
    """The admin list of `rows`' table filtered to those pointing at `session`, in the query
    parameters the admin's own filters use; None when the table has no admin."""
    if not admin_site.is_registered(rows.model):
        return None
    opts = rows.model._meta
    url = reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_changelist")
    lookups = {f"{rows.session_path}{LOOKUP_SEP}id{LOOKUP_SEP}exact": str(session.pk)}
    for lookup, value in rows.where.items():
        lookups[_filter_parameter(rows.model, lookup)] = _filter_value(value)
    return f"{url}?{urlencode(lookups)}"


def _filter_parameter(model, lookup: str) -> str:
    """`status` → `status__exact`, as the admin's list filters name it; a lookup that already
    ends in one (`status__in`) is kept."""
    try:
        get_fields_from_path(model, lookup)
    except (FieldDoesNotExist, NotRelationField):
        return lookup
    return f"{lookup}{LOOKUP_SEP}exact"


def _filter_value(value) -> str:
    """A lookup's value as the admin's changelist reads it from the query string."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(item) for item in value)
    return str(value)


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
            "label": _("Moved out of this session"),
            "count": counts["out_of"],
            "url": f"{audit}?{urlencode({'old_session__id__exact': session.pk})}",
        },
        {
            "label": _("Moved into this session"),
            "count": counts["into"],
            "url": f"{audit}?{urlencode({'new_session__id__exact': session.pk})}",
        },
    ]
