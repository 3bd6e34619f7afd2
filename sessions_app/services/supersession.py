"""Nothing stays on a superseded session: rows attached to one go to the live end of its chain.

A migration moves what points at the old session at that moment. Rows can come back later: a
draft campaign scheduled after the move, a message a dispatcher held while its group was
merged and then gave back, a failed message retried. The callers that do those things pass the
rows here; the dispatcher's periodic sweep (`sweep_references(superseded_only=True)`) catches the
rest.
"""

from __future__ import annotations

import logging

from django.db import router, transaction
from django.db.models import QuerySet

from sessions_app.models import WhatsAppGroup, WhatsAppSession
from sessions_app.references import (
    GROUP_MODEL,
    SESSION_MODEL,
    Move,
    RepointOnMerge,
    group_session_field,
    references_to,
)

logger = logging.getLogger(__name__)

# A reconnect chain longer than this is a data error, not history: stop following it there.
MAX_CHAIN = 32


def chain_end(session_id) -> object:
    """The id of the session at the end of `session_id`'s `superseded_by` chain."""
    seen = {session_id}
    current = session_id
    for _ in range(MAX_CHAIN):
        following = (
            WhatsAppSession.objects.filter(pk=current)
            .values_list("superseded_by_id", flat=True)
            .first()
        )
        if following is None or following in seen:
            break
        seen.add(following)
        current = following
    return current


def attach_to_live_sessions(rows: QuerySet) -> int:
    """Move the rows of `rows` that a migration would move but sit on a superseded session to
    the live end of its chain; pending messages in a superseded session's group go to that
    session's group of the same `group_jid`. Returns how many rows changed."""
    model = rows.model
    changed = 0
    with transaction.atomic(using=router.db_for_write(model)):
        for ref in references_to(SESSION_MODEL):
            if ref.model is model and isinstance(ref.rule, Move):
                changed += _follow_sessions(rows, ref)
        for ref in references_to(GROUP_MODEL):
            if ref.model is model and isinstance(ref.rule, RepointOnMerge):
                changed += _follow_groups(rows, ref)
    return changed


def _follow_sessions(rows: QuerySet, ref) -> int:
    stranded = rows.filter(**ref.rule.where, **{f"{ref.field_name}__superseded_by__isnull": False})
    changed = 0
    for session_id in set(stranded.values_list(ref.field.attname, flat=True)):
        live = chain_end(session_id)
        moved = stranded.filter(**{ref.field.attname: session_id}).update(
            **{ref.field.attname: live}
        )
        logger.info("%s %s of superseded session %s → %s", moved, ref.label, session_id, live)
        changed += moved
    return changed


def _follow_groups(rows: QuerySet, ref) -> int:
    session_path = f"{ref.field_name}__{group_session_field()}"
    stranded = rows.filter(**ref.rule.where, **{f"{session_path}__superseded_by__isnull": False})
    pairs = set(
        stranded.values_list(ref.field.attname, session_path, f"{ref.field_name}__group_jid")
    )
    changed = 0
    for group_id, session_id, group_jid in pairs:
        live_group = (
            WhatsAppGroup.objects.filter(
                **{f"{group_session_field()}_id": chain_end(session_id)}, group_jid=group_jid
            )
            .values_list("pk", flat=True)
            .first()
        )
        if live_group is None:
            continue  # the live session has no such group yet: the sweep moves the group itself
        changed += stranded.filter(**{ref.field.attname: group_id}).update(
            **{ref.field.attname: live_group}
        )
    return changed
