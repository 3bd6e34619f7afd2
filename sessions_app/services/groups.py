"""A session's groups, read from the gateway.

`sync_groups` is the one service behind the automatic sync after a connect, the admin action
and `manage.py sync_groups`. It upserts the gateway's groups by (session, `group_jid`), keeps
what the gateway no longer lists as inactive history, and never touches a message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import router, transaction
from django.db.models import Count, IntegerField, Q, QuerySet, Value
from django.utils.translation import gettext, ngettext, ngettext_lazy

from sessions_app.gateway import BaseGatewayBackend, GatewayError, GatewayGroup, get_gateway
from sessions_app.models import WhatsAppGroup, WhatsAppSession
from sessions_app.references import GROUP_MODEL, RepointOnMerge, references_to

logger = logging.getLogger(__name__)

GROUP_JID_SUFFIX = "@g.us"
# What a sync counts, as staff read each count in its summary.
SYNC_COUNT_TEXTS = {
    "created": ngettext_lazy("created %(count)d", "created %(count)d", "count"),
    "renamed": ngettext_lazy("renamed %(count)d", "renamed %(count)d", "count"),
    "reactivated": ngettext_lazy("reactivated %(count)d", "reactivated %(count)d", "count"),
    "deactivated": ngettext_lazy("deactivated %(count)d", "deactivated %(count)d", "count"),
    "unchanged": ngettext_lazy("unchanged %(count)d", "unchanged %(count)d", "count"),
    "communities_skipped": ngettext_lazy(
        "communities skipped %(count)d", "communities skipped %(count)d", "count"
    ),
}
SYNC_COUNT_KEYS = tuple(SYNC_COUNT_TEXTS)
_NAME_MAX = WhatsAppGroup._meta.get_field("name").max_length


class GroupSyncError(Exception):
    """A sync that could not run; `str(exc)` is a one-line reason and nothing changed."""


@dataclass(frozen=True)
class VanishedGroup:
    """A group the gateway no longer lists, made inactive, with what still waits on it."""

    id: object
    group_jid: str
    name: str
    pending_messages: int


@dataclass
class GroupSyncResult:
    session: WhatsAppSession
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SYNC_COUNT_KEYS, 0))
    vanished: list[VanishedGroup] = field(default_factory=list)

    @property
    def pending_in_vanished(self) -> int:
        return sum(group.pending_messages for group in self.vanished)

    def summary(self) -> str:
        parts = [SYNC_COUNT_TEXTS[key] % {"count": n} for key, n in self.counts.items() if n]
        if pending := self.pending_in_vanished:
            parts.append(
                ngettext(
                    "%(count)d pending message in groups now inactive",
                    "%(count)d pending messages in groups now inactive",
                    pending,
                )
                % {"count": pending}
            )
        return ", ".join(parts) or gettext("no groups")


def sync_groups(
    session: WhatsAppSession, *, gateway: BaseGatewayBackend | None = None
) -> GroupSyncResult:
    """Make `session`'s groups what the gateway lists for it.

    New groups are created active; known ones get the gateway's name and become active again;
    groups it no longer lists become inactive (never deleted) and are reported with their
    pending messages. Community parent groups are skipped (WhatsApp refuses sends to them);
    announcement groups are kept. Only a connected, live session is synced. Raises
    GroupSyncError, changing nothing, when the gateway fails or the session cannot be synced.
    """
    own_gateway = gateway is None
    gateway = gateway or get_gateway()
    try:
        name = session.gateway_name(gateway.session_key)
        if not name:
            raise GroupSyncError(
                gettext(
                    'Session %(id)s has no "%(key)s" in session_data: the gateway does not know it.'
                )
                % {"id": session.pk, "key": gateway.session_key}
            )
        _refuse_unless_live(_current(session))
        try:
            listed = gateway.list_groups(name)
        except GatewayError as exc:
            raise GroupSyncError(
                gettext("Groups of session %(id)s were not synced: %(error)s")
                % {"id": session.pk, "error": exc}
            ) from exc
    finally:
        if own_gateway:
            gateway.close()
    sendable, communities = _sendable(listed)
    result = _apply_group_list(session, sendable)
    result.counts["communities_skipped"] = communities
    logger.info("Synced groups of session %s (%s): %s", session.pk, name, result.counts)
    for group in result.vanished:
        if group.pending_messages:
            logger.warning(
                "Group %s (%s) of session %s is no longer listed by the gateway; %d pending "
                "message(s) wait on it",
                group.group_jid,
                group.name,
                session.pk,
                group.pending_messages,
            )
    return result


def _current(session: WhatsAppSession, *, lock: bool = False) -> WhatsAppSession:
    sessions = WhatsAppSession.objects.using(router.db_for_write(WhatsAppSession))
    if lock:
        # The lock a migration takes: a sync and a migration of this session run one at a time.
        sessions = sessions.select_for_update(no_key=True)
    current = sessions.filter(pk=session.pk).first()
    if current is None:
        raise GroupSyncError(gettext("Session %(id)s does not exist.") % {"id": session.pk})
    return current


def _refuse_unless_live(session: WhatsAppSession) -> None:
    if session.superseded_by_id is not None:
        raise GroupSyncError(
            gettext("Session %(id)s is superseded by %(successor)s; sync the live session instead.")
            % {"id": session.pk, "successor": session.superseded_by_id}
        )
    if session.status != WhatsAppSession.Status.CONNECTED:
        raise GroupSyncError(
            gettext("Session %(id)s is %(status)s; groups sync from a connected session.")
            % {"id": session.pk, "status": session.status_in_sentence}
        )


def _sendable(listed: list[GatewayGroup]) -> tuple[dict[str, str], int]:
    """`group_jid` → name of the groups a message can go to, once each; and how many community
    parents were left out."""
    groups: dict[str, str] = {}
    communities = 0
    for group in listed:
        jid = group.group_jid.strip()
        if not jid.endswith(GROUP_JID_SUFFIX):
            continue  # a chat, a channel or a broadcast list, not a group
        if group.is_community:
            communities += 1
            continue
        groups[jid] = (group.name or "").strip()[:_NAME_MAX]
    return groups, communities


def _apply_group_list(session: WhatsAppSession, listed: dict[str, str]) -> GroupSyncResult:
    """Write what the gateway listed, in one transaction holding the session's lock; the number
    of statements does not grow with the number of groups."""
    using = router.db_for_write(WhatsAppGroup)
    with transaction.atomic(using=using):
        current = _current(session, lock=True)
        _refuse_unless_live(current)  # a migration may have superseded it meanwhile
        result = GroupSyncResult(session=current)
        counts = result.counts
        groups = WhatsAppGroup.objects.using(using)
        rows = groups.filter(session=current).values_list("group_jid", "name", "is_active")
        known = {jid: name for jid, name, _ in rows}
        active = {jid for jid, _, is_active in rows if is_active}

        upserts = []
        for jid, name in listed.items():
            if jid not in known:
                counts["created"] += 1
            elif (name and name != known[jid]) or jid not in active:
                counts["renamed"] += bool(name) and name != known[jid]
                counts["reactivated"] += jid not in active
            else:
                counts["unchanged"] += 1
                continue
            upserts.append(
                WhatsAppGroup(
                    session=current, group_jid=jid, name=name or known.get(jid, ""), is_active=True
                )
            )
        # One INSERT … ON CONFLICT DO UPDATE for the new, renamed and returning groups.
        groups.bulk_create(
            upserts,
            update_conflicts=True,
            unique_fields=["session", "group_jid"],
            update_fields=["name", "is_active"],
        )

        vanished = _with_pending_counts(
            groups.filter(session=current, is_active=True).exclude(group_jid__in=list(listed))
        )
        result.vanished = [
            VanishedGroup(g.pk, g.group_jid, g.name, g.pending_messages) for g in vanished
        ]
        groups.filter(pk__in=[g.id for g in result.vanished]).update(is_active=False)
        counts["deactivated"] = len(result.vanished)
    return result


def _with_pending_counts(groups: QuerySet) -> QuerySet:
    """`groups` annotated with `pending_messages`: the rows a merge would carry along (the
    registry's `RepointOnMerge` references), as staff count them."""
    total = Value(0, output_field=IntegerField())
    for ref in references_to(GROUP_MODEL):
        if isinstance(ref.rule, RepointOnMerge):
            related = ref.field.related_query_name()
            where = Q(**{f"{related}__{lookup}": value for lookup, value in ref.rule.where.items()})
            total = total + Count(related, filter=where, distinct=True)
    return groups.annotate(pending_messages=total)


@dataclass(frozen=True)
class SyncOutcome:
    session: WhatsAppSession
    result: GroupSyncResult | None = None
    error: str = ""


@dataclass
class SyncReport:
    outcomes: list[SyncOutcome] = field(default_factory=list)
    skipped: int = 0  # sessions not synced because they are superseded or not connected

    @property
    def failed(self) -> list[SyncOutcome]:
        return [outcome for outcome in self.outcomes if outcome.error]


def sessions_sync_groups(*, queryset: QuerySet[WhatsAppSession]) -> SyncReport:
    """Sync the groups of every connected, live session of `queryset`, each on its own: one
    that cannot be synced is reported with its reason and the others go on."""
    live = Q(superseded_by__isnull=True, status=WhatsAppSession.Status.CONNECTED)
    report = SyncReport(skipped=queryset.exclude(live).count())
    gateway = get_gateway()
    try:
        for session in queryset.filter(live).order_by("created_at", "pk"):
            try:
                report.outcomes.append(SyncOutcome(session, sync_groups(session, gateway=gateway)))
            except GroupSyncError as exc:
                report.outcomes.append(SyncOutcome(session, error=str(exc)))
    finally:
        gateway.close()
    return report


def sync_groups_after_connect(session_id: object) -> GroupSyncResult | None:
    """The automatic sync right after `session_id` connected (and adopted its predecessors).

    Never raises: the connect it follows has happened whatever the gateway answers. A sync that
    could not run is logged with its reason; the admin action or `manage.py sync_groups` runs it
    again.
    """
    session = WhatsAppSession.objects.filter(pk=session_id).first()
    if session is None:
        return None
    try:
        return sync_groups(session)
    except GroupSyncError as exc:
        logger.warning("Automatic group sync skipped: %s", exc)
    except Exception:
        logger.exception("Automatic group sync of session %s failed", session_id)
    return None
