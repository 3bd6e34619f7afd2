"""Reads about sessions: what still points at them."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from sessions_app.models import WhatsAppSession
from sessions_app.references import (
    GROUP_MODEL,
    SESSION_MODEL,
    MergeGroups,
    Move,
    RepointOnMerge,
    group_session_field,
    references_to,
)

# Parts are selected as `refs_<key>`, clear of the model's own field names.
ANNOTATION_PREFIX = "refs_"


def _count(rows: QuerySet) -> Coalesce:
    """A correlated `SELECT COUNT(*)` over `rows`, which already filter on the outer session."""
    counted = rows.order_by().annotate(_group=Value(1)).values("_group")
    counted = counted.annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _reference_subqueries() -> dict[str, Coalesce]:
    """Per key, a subquery counting what points at the outer session now, from the registry."""
    subqueries: dict[str, Coalesce] = {}
    for ref in references_to(SESSION_MODEL):
        manager = ref.model._default_manager
        if isinstance(ref.rule, Move):
            rows = manager.filter(**{ref.field_name: OuterRef("pk")}, **ref.rule.where)
            subqueries[ref.rule.count_key] = _count(rows)
        elif isinstance(ref.rule, MergeGroups):
            rows = manager.filter(**{ref.field_name: OuterRef("pk")}, is_active=True)
            subqueries["groups"] = _count(rows)
    for ref in references_to(GROUP_MODEL):
        if isinstance(ref.rule, RepointOnMerge):
            session_path = f"{ref.field_name}__{group_session_field()}"
            rows = ref.model._default_manager.filter(
                **{session_path: OuterRef("pk")}, **ref.rule.where
            )
            subqueries[ref.rule.count_key] = _count(rows)
    return subqueries


def with_reference_counts(queryset: QuerySet[WhatsAppSession]) -> QuerySet[WhatsAppSession]:
    """Annotate each session with `reference_count`, everything that still points at it:
    workshops, webinars, active campaigns, organizations whose community it is, its active
    groups and the pending messages in its groups. One subquery per part, no per-row queries."""
    total = Value(0, output_field=IntegerField())
    for subquery in _reference_subqueries().values():
        total = total + subquery
    return queryset.annotate(reference_count=total)


def session_reference_counts(session: WhatsAppSession) -> dict[str, int]:
    """What still points at `session` now, per part, in one query."""
    parts = {f"{ANNOTATION_PREFIX}{key}": expr for key, expr in _reference_subqueries().items()}
    row = WhatsAppSession.objects.filter(pk=session.pk).values(**parts).get()
    return {name.removeprefix(ANNOTATION_PREFIX): row[name] for name in parts}
