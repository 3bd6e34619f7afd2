"""Reads for a phone's timeline: every session of one phone in one organization, and the
migrations between them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db.models import Q

from sessions_app.models import Organization, SessionMigration, WhatsAppSession
from sessions_app.selectors import with_reference_counts

# The trigger an undo is audited with, where the audit knows undos.
UNDO_TRIGGER = "undo"


@dataclass
class TimelineEntry:
    """One session of the phone and the migrations shown right before it."""

    session: WhatsAppSession  # annotated with `reference_count`
    migrations_before: list[SessionMigration] = field(default_factory=list)


@dataclass
class PhoneTimeline:
    organization: Organization
    phone_number: str
    entries: list[TimelineEntry]
    # Migrations out of the last session (e.g. forced to another phone's session).
    migrations_after: list[SessionMigration] = field(default_factory=list)

    @property
    def sessions_holding_references(self) -> list[WhatsAppSession]:
        return [entry.session for entry in self.entries if entry.session.reference_count]


def phone_timeline(*, organization_id: uuid.UUID, phone_number: str) -> PhoneTimeline | None:
    """The timeline of `phone_number` (E.164) in the organization, or None when the phone has no
    session there. Two queries, however many sessions and migrations the phone has."""
    sessions = list(
        with_reference_counts(
            WhatsAppSession.objects.filter(
                organization_id=organization_id, phone_number=phone_number
            )
        )
        .select_related("organization", "superseded_by")
        .order_by("created_at", "id")
    )
    if not sessions:
        return None
    position = {session.pk: index for index, session in enumerate(sessions)}
    migrations = (
        SessionMigration.objects.filter(organization_id=organization_id)
        .filter(Q(old_session__in=position) | Q(new_session__in=position))
        .select_related("old_session", "new_session", "actor")
        .order_by("created_at", "id")
    )
    # Gap k sits before session k; gap len(sessions) after the last one.
    gaps: list[list[SessionMigration]] = [[] for _ in range(len(sessions) + 1)]
    for migration in migrations:
        gaps[_gap_of(migration, position)].append(migration)
    return PhoneTimeline(
        organization=sessions[0].organization,
        phone_number=phone_number,
        entries=[
            TimelineEntry(session=session, migrations_before=gaps[index])
            for index, session in enumerate(sessions)
        ],
        migrations_after=gaps[-1],
    )


def _gap_of(migration: SessionMigration, position: dict) -> int:
    """Where a migration reads best: before the later of its two sessions when both are this
    phone's (so a move and its undo sit between the same two sessions); before the session it
    moved into, or after the one it moved out of, when the other is another phone's."""
    old = position.get(migration.old_session_id)
    new = position.get(migration.new_session_id)
    if old is not None and new is not None:
        return max(old, new)
    if new is not None:
        return new
    return old + 1


def is_undo(migration: SessionMigration) -> bool:
    return migration.trigger == UNDO_TRIGGER
