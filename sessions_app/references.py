"""What a migration does to every foreign key that points at a session or a group.

One line per foreign key. The `sessions_app.E001` system check fails `manage.py check` when a
foreign key to `WhatsAppSession` or `WhatsAppGroup` in any installed app is missing here, so a new
table that points at sessions cannot be forgotten by the migration. For example:

    Reference("billing.Invoice.session", KeepHistory()),
    Reference("polls.Poll.session", Move("polls", where={"status__in": ("open",)})),

A `Move` adds its key to the migration's counts, its audit and the reference counts staff see.

The keys of a migration's counts (and of its audit's `moved_ids`):

- `workshops`, `webinars`: events re-pointed to the new session;
- `campaigns`: scheduled, pending and sending campaigns re-pointed;
- `organizations`: organizations whose community session it was;
- `groups_moved`: groups moved to the new session (and made active);
- `groups_merged`: groups deactivated on the old session because the new one has the same
  `group_jid`;
- `scheduled_messages`: pending messages re-pointed from a merged group to the new session's
  group of the same `group_jid`;
- `messages_with_groups`: pending messages that changed session with their moved group, untouched.

"Pending messages" means the same rows everywhere: the session page's panel counts the pending
messages in the session's groups, and a move of that session moves exactly those, as
`scheduled_messages` plus `messages_with_groups`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from django.apps import apps
from django.db import models

SESSION_MODEL = "sessions_app.WhatsAppSession"
GROUP_MODEL = "sessions_app.WhatsAppGroup"


@dataclass(frozen=True)
class Move:
    """Re-point the rows matching `where` (all rows when empty) from the old session to the new."""

    count_key: str
    where: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MergeGroups:
    """Move each group to the new session, or merge it into the new session's group of the same
    `group_jid`: the old group is deactivated and stays on the old session as history."""

    moved_key: str
    merged_key: str


@dataclass(frozen=True)
class RepointOnMerge:
    """A foreign key to a group: when its group is merged, the rows matching `where` (lookups on
    the row's own columns) are re-pointed to the new session's group (`count_key`). Rows of a
    group that moves follow it untouched; those matching `where` are counted and listed under
    `followed_key`, so the counts name every such row that changed session."""

    count_key: str
    where: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    followed_key: str = ""


@dataclass(frozen=True)
class KeepHistory:
    """Never touched by a migration: the row records the past."""


Rule = Move | MergeGroups | RepointOnMerge | KeepHistory


@dataclass(frozen=True)
class Reference:
    """`label` is `app_label.Model.field`; `rule` says what a migration does to it."""

    label: str
    rule: Rule

    @property
    def model_label(self) -> str:
        return self.label.rsplit(".", 1)[0]

    @property
    def field_name(self) -> str:
        return self.label.rsplit(".", 1)[1]

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)

    @property
    def field(self) -> models.ForeignKey:
        return self.model._meta.get_field(self.field_name)

    @property
    def count_keys(self) -> tuple[str, ...]:
        if isinstance(self.rule, Move):
            return (self.rule.count_key,)
        if isinstance(self.rule, RepointOnMerge):
            return tuple(key for key in (self.rule.count_key, self.rule.followed_key) if key)
        if isinstance(self.rule, MergeGroups):
            return (self.rule.moved_key, self.rule.merged_key)
        return ()


# Campaigns still to be sent follow a reconnect; finished ones keep their history.
_ACTIVE_CAMPAIGN_STATUSES = ("scheduled", "pending", "sending")

REFERENCES: tuple[Reference, ...] = (
    Reference("scheduling.Workshop.whatsapp_session", Move("workshops")),
    Reference("scheduling.Webinar.whatsapp_session", Move("webinars")),
    Reference(
        "scheduling.NotificationCampaign.session",
        Move("campaigns", where={"status__in": _ACTIVE_CAMPAIGN_STATUSES}),
    ),
    Reference("sessions_app.Organization.community_session", Move("organizations")),
    Reference("sessions_app.WhatsAppGroup.session", MergeGroups("groups_moved", "groups_merged")),
    Reference(
        "scheduling.ScheduledWhatsAppMessage.group",
        RepointOnMerge(
            "scheduled_messages",
            where={"status": "pending"},
            followed_key="messages_with_groups",
        ),
    ),
    Reference("sessions_app.WhatsAppSession.superseded_by", KeepHistory()),
    Reference("sessions_app.SessionMigration.old_session", KeepHistory()),
    Reference("sessions_app.SessionMigration.new_session", KeepHistory()),
)


def references_to(target_label: str) -> list[Reference]:
    """The declared references whose foreign key points at `target_label`, in declaration order."""
    return [ref for ref in REFERENCES if ref.field.related_model._meta.label == target_label]


def count_keys() -> list[str]:
    """Every key a migration reports, in declaration order."""
    return [key for ref in REFERENCES for key in ref.count_keys]


def group_session_field() -> str:
    """The name of the group's foreign key to its session."""
    [ref] = [ref for ref in REFERENCES if isinstance(ref.rule, MergeGroups)]
    return ref.field_name
