"""What a migration does to every foreign key that points at a session or a group.

Each app declares its own foreign keys in its `references.py`, one line each, as `REFERENCES`;
`declared_references()` collects those of every installed app. The `sessions_app.E001` system
check fails `manage.py check` when a foreign key to `WhatsAppSession` or `WhatsAppGroup` in any
installed app is declared nowhere, so a new table that points at sessions cannot be forgotten
by the migration. For example, in `billing/references.py` and `polls/references.py`:

    REFERENCES = (Reference("billing.Invoice.session", KeepHistory()),)
    REFERENCES = (
        Reference("polls.Poll.session", Move("polls", _("Open polls"), where={"status": "open"})),
    )

Every view of a session's references reads the declarations: the migration and its undo, the
counts and their labels, the "What points at this session" panel, the sessions list's "Rows
pointing here", the audit's tables and the admin's links. A `Move` with its label is all a new
referencing table needs to show up in each of them.

The keys this app's own declarations add to a migration's counts (and its audit's `moved_ids`):

- `organizations`: organizations whose community session it was;
- `groups_moved`: groups moved to the new session (and made active);
- `groups_merged`: groups deactivated on the old session because the new one has the same
  `group_jid`.

A `RepointOnMerge` on a foreign key to a group adds two keys read as one column: the rows
re-pointed from a merged group to the new session's group of the same `group_jid`, and the
rows that changed session with their moved group, untouched. The panel counts the same rows
in the session's groups, so a move of the session moves exactly what it shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from types import MappingProxyType

from django.apps import apps
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.utils.functional import Promise
from django.utils.module_loading import module_has_submodule
from django.utils.translation import gettext_lazy as _

SESSION_MODEL = "sessions_app.WhatsAppSession"
GROUP_MODEL = "sessions_app.WhatsAppGroup"

# What staff read: text, or text marked for translation (read in the staff member's language).
Label = str | Promise

# The default labels of a group reference's counts.
_GROUPS_MOVED = _("Groups moved")
_GROUPS_MERGED = _("Groups merged")
_ACTIVE_GROUPS = _("Active groups")
_REPOINTED_HOW = _("re-pointed to the new session's group")
_FOLLOWED_HOW = _("with its group")


@dataclass(frozen=True)
class Move:
    """Re-point the rows matching `where` (all rows when empty) from the old session to the new.
    `label` names those rows for staff."""

    count_key: str
    label: Label
    where: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MergeGroups:
    """Move each group to the new session, or merge it into the new session's group of the same
    `group_jid`: the old group is deactivated and stays on the old session as history. The
    session's active groups are what still points at it."""

    moved_key: str
    merged_key: str
    moved_label: Label = _GROUPS_MOVED
    merged_label: Label = _GROUPS_MERGED
    active_key: str = "groups"
    active_label: Label = _ACTIVE_GROUPS


@dataclass(frozen=True)
class RepointOnMerge:
    """A foreign key to a group: when its group is merged, the rows matching `where` (lookups on
    the row's own columns) are re-pointed to the new session's group (`count_key`). Rows of a
    group that moves follow it untouched; those matching `where` are counted and listed under
    `followed_key`, so the counts name every such row that changed session. Staff read both
    keys as one column, `label`."""

    count_key: str
    label: Label
    where: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    followed_key: str = ""
    repointed_how: Label = _REPOINTED_HOW
    followed_how: Label = _FOLLOWED_HOW


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
        return tuple(key for column in self.count_columns for key in column.keys)

    @property
    def count_columns(self) -> tuple[CountColumn, ...]:
        """The columns this reference adds to a migration's counts."""
        rule = self.rule
        if isinstance(rule, Move):
            return (CountColumn(rule.label, self.model_label, {rule.count_key: ""}),)
        if isinstance(rule, MergeGroups):
            return (
                CountColumn(rule.moved_label, self.model_label, {rule.moved_key: ""}),
                CountColumn(rule.merged_label, self.model_label, {rule.merged_key: ""}),
            )
        if isinstance(rule, RepointOnMerge):
            if not rule.followed_key:
                return (CountColumn(rule.label, self.model_label, {rule.count_key: ""}),)
            how = {rule.count_key: rule.repointed_how, rule.followed_key: rule.followed_how}
            return (CountColumn(rule.label, self.model_label, how),)
        return ()

    @property
    def pointing_rows(self) -> PointingRows | None:
        """The rows of this reference that still point at a session, if a move takes any."""
        rule = self.rule
        if isinstance(rule, Move):
            return PointingRows(
                rule.count_key, rule.label, self.model_label, self.field_name, rule.where
            )
        if isinstance(rule, MergeGroups):
            return PointingRows(
                rule.active_key,
                rule.active_label,
                self.model_label,
                self.field_name,
                MappingProxyType({"is_active": True}),
            )
        if isinstance(rule, RepointOnMerge):
            session_path = f"{self.field_name}{LOOKUP_SEP}{group_session_field()}"
            return PointingRows(
                rule.count_key, rule.label, self.model_label, session_path, rule.where
            )
        return None


@dataclass(frozen=True)
class CountColumn:
    """One column of a migration's counts as staff read them: `how` maps each count key the
    column adds up to how its rows moved ("" when the column has one key)."""

    label: Label
    model_label: str
    how: Mapping[str, Label]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.how)

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)


@dataclass(frozen=True)
class PointingRows:
    """The rows of one table that point at a session now, under `key`: those matching `where`
    whose `session_path` leads to it. A move of the session takes exactly these."""

    key: str
    label: Label
    model_label: str
    session_path: str
    where: Mapping[str, object]

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)

    def of(self, session) -> models.QuerySet:
        """These rows for `session` (a session, its id or an `OuterRef` to one)."""
        return self.model._default_manager.filter(**{self.session_path: session}, **self.where)


# This app's own foreign keys; each other app declares its own in its `references.py`.
REFERENCES: tuple[Reference, ...] = (
    Reference(
        "sessions_app.Organization.community_session",
        Move("organizations", _("Community of organizations")),
    ),
    Reference("sessions_app.WhatsAppGroup.session", MergeGroups("groups_moved", "groups_merged")),
    Reference("sessions_app.WhatsAppSession.superseded_by", KeepHistory()),
    Reference("sessions_app.SessionMigration.old_session", KeepHistory()),
    Reference("sessions_app.SessionMigration.new_session", KeepHistory()),
)

# Staff read what names a session first, then its groups, then the rows in its groups.
_READING_ORDER = {Move: 0, MergeGroups: 1, RepointOnMerge: 2, KeepHistory: 3}


@cache
def declared_references() -> tuple[Reference, ...]:
    """The `REFERENCES` of every installed app's `references.py`, read once, in reading order:
    within a kind of rule, the apps built on sessions in `INSTALLED_APPS` order, then this
    app's own."""
    own, others = [], []
    for app_config in apps.get_app_configs():
        if not module_has_submodule(app_config.module, "references"):
            continue
        module = import_module(f"{app_config.name}.references")
        (own if module.__name__ == __name__ else others).extend(getattr(module, "REFERENCES", ()))
    return tuple(sorted([*others, *own], key=lambda ref: _READING_ORDER[type(ref.rule)]))


def references_to(target_label: str) -> list[Reference]:
    """The declared references whose foreign key points at `target_label`, in reading order."""
    return [
        ref for ref in declared_references() if ref.field.related_model._meta.label == target_label
    ]


def count_columns() -> list[CountColumn]:
    """The columns of a migration's counts, in reading order."""
    return [column for ref in declared_references() for column in ref.count_columns]


def count_keys() -> list[str]:
    """Every key a migration reports, in reading order."""
    return [key for column in count_columns() for key in column.keys]


def pointing_rows() -> list[PointingRows]:
    """Per table, the rows that point at a session now and a move would take, in reading
    order: what a session's page counts and links to."""
    return [rows for ref in declared_references() if (rows := ref.pointing_rows) is not None]


def group_session_field() -> str:
    """The name of the group's foreign key to its session."""
    [ref] = [ref for ref in declared_references() if isinstance(ref.rule, MergeGroups)]
    return ref.field_name
