"""The line above a filtered list saying what it shows: "Filtered: pointing at session e553e3e7
(disconnected) · Status: Pending", with a link back to every row.

A filter in the sidebar is easy to miss, and a list opened from a link (the session page's
panel, "Needs attention") may be filtered by parameters no sidebar filter shows: both are read
here, from the changelist itself.
"""

from __future__ import annotations

import contextlib

from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext

from sessions_app.admin.filters import session_label
from sessions_app.admin_tenancy import scope_to_user_organizations
from sessions_app.models import WhatsAppSession

_OPERATORS = {"exact": "", "gte": "≥ ", "gt": "> ", "lte": "≤ ", "lt": "< "}


def filter_summary(changelist, request) -> dict | None:
    """What `changelist` is filtered by, one phrase per filter, and the link that clears them;
    None when the list is not filtered."""
    params = changelist.get_filters_params()
    consumed = set()
    phrases = []
    for spec in changelist.filter_specs:
        expected = set(spec.expected_parameters())
        consumed |= expected
        if expected & set(params):
            phrases.append(_spec_phrase(spec, changelist))
    if changelist.date_hierarchy:
        # The date hierarchy shows its own choice above the list.
        consumed |= {f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    for key, values in params.items():
        if key not in consumed:
            phrases.append(_lookup_phrase(changelist.model, key, values[-1], request))
    phrases = [phrase for phrase in phrases if phrase]
    if not phrases:
        return None
    return {
        "phrases": phrases,
        "clear_url": changelist.get_query_string(remove=list(params)),
    }


def _spec_phrase(spec, changelist) -> str:
    summary = getattr(spec, "summary", None)
    if summary is not None:
        return summary()
    # Read only when the filter's parameters are in use, so its "All" is not the one selected.
    chosen = [str(choice["display"]) for choice in spec.choices(changelist) if choice["selected"]]
    if not chosen:
        return ""
    return f"{capfirst(spec.title)}: {', '.join(chosen)}"


def _lookup_phrase(model, key: str, value: str, request) -> str:
    """A query parameter no filter of the sidebar reads, e.g. `updated_at__gte=…` from a link,
    in words: "Updated at ≥ 2026-11-24 16:19"."""
    parts = key.split(LOOKUP_SEP)
    fields, lookups = [], []
    for end in range(len(parts), 0, -1):
        with contextlib.suppress(FieldDoesNotExist, NotRelationField):
            fields = get_fields_from_path(model, LOOKUP_SEP.join(parts[:end]))
            lookups = parts[end:]
            break
    if not fields:
        return f"{key} = {value}"
    if len(fields) > 1 and fields[-1].primary_key:
        # `community_session__id__exact`: the related row itself.
        fields, lookups = fields[:-1], ["exact", *lookups][-1:]
    field = fields[-1]
    lookup = lookups[-1] if lookups else "exact"
    if field.is_relation and lookup == "exact":
        return _related_phrase(field, value, request)
    if field.choices and lookup in ("exact", "in"):
        labels = dict(field.flatchoices)
        chosen = [str(labels.get(item, item)) for item in value.split(",")]
        return f"{capfirst(field.verbose_name)}: {', '.join(chosen)}"
    if lookup == "in":
        count = len(value.split(","))
        if field.primary_key:
            opts = model._meta
            name = opts.verbose_name if count == 1 else opts.verbose_name_plural
            return ngettext("%(count)d chosen %(name)s", "%(count)d chosen %(name)s", count) % {
                "count": count,
                "name": name,
            }
        return ngettext(
            "%(field)s: %(count)d chosen value", "%(field)s: one of %(count)d chosen values", count
        ) % {"field": capfirst(field.verbose_name), "count": count}
    if lookup == "isnull":
        empty = value.lower() in ("1", "true")
        text = gettext("%(field)s is empty") if empty else gettext("%(field)s is set")
        return text % {"field": capfirst(field.verbose_name)}
    shown = value
    if isinstance(field, models.DateTimeField) and (moment := parse_datetime(value)):
        shown = formats.localize(timezone.template_localtime(moment))
    operator = _OPERATORS.get(lookup, f"{lookup} ")
    return f"{capfirst(field.verbose_name)} {operator or '= '}{shown}"


def _related_phrase(field, value: str, request) -> str:
    if field.related_model is WhatsAppSession:
        sessions = scope_to_user_organizations(
            WhatsAppSession.objects.filter(pk=value), "organization", request.user
        )
        with contextlib.suppress(ValidationError):
            if session := sessions.first():
                return gettext("pointing at session %(session)s") % {
                    "session": session_label(session)
                }
        return gettext("pointing at a session you cannot see")
    return f"{capfirst(field.verbose_name)} = {value}"
