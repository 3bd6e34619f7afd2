"""Moving every reference from an old WhatsApp session to a newer one.

What moves is read from `sessions_app.references`; each rule is one set-based step
(`sessions_app.services.move_statements`), and on PostgreSQL the steps and the audit row are one
statement: the number of statements never grows with the number of rows, and the moved ids never
leave the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field, replace
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections, router, transaction
from django.db.models import BooleanField, Exists, F, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions_app import sweep_marks
from sessions_app.dates import local_datetime
from sessions_app.gateway.base import GATEWAY_NAME_KEYS
from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.references import (
    GROUP_MODEL,
    SESSION_MODEL,
    MergeGroups,
    Move,
    Reference,
    RepointOnMerge,
    count_keys,
    declared_references,
    group_session_field,
    references_to,
)
from sessions_app.services.move_statements import (
    AuditedMove,
    Step,
    audited_move_statement,
    list_step_rows,
    run_audited_move,
    run_steps,
)
from sessions_app.update_sql import (
    execute_returning_ids,
    ids_as_text,
    qualified_pk,
    update_returning_ids,
    where_sql,
)

logger = logging.getLogger(__name__)


class SessionMigrationError(Exception):
    """A refused move; `str(exc)` is a one-line reason for staff."""


@dataclass
class MigrationResult:
    """What one migration moved (or, on a dry run, would move), per count key."""

    old: WhatsAppSession
    new: WhatsAppSession
    counts: dict[str, int]
    # None when the ids stayed in the database: read from the audit when first asked for.
    listed_ids: dict[str, list[str]] | None = None
    migration: SessionMigration | None = None
    dry_run: bool = False

    @property
    def moved_ids(self) -> dict[str, list[str]]:
        if self.listed_ids is None:
            audited = self.migration.moved_ids if self.migration is not None else {}
            self.listed_ids = {key: audited.get(key, []) for key in self.counts}
        return self.listed_ids

    @property
    def moved_anything(self) -> bool:
        return any(self.counts.values())

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class _Plan:
    """An undo's old and new sessions, locked, and where the statements run."""

    old: WhatsAppSession
    new: WhatsAppSession
    using: str
    dry_run: bool
    moved_ids: dict[str, list[str]] = field(default_factory=dict)


def migrate_session(
    old: WhatsAppSession,
    new: WhatsAppSession,
    *,
    trigger: str,
    actor: AbstractBaseUser | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> MigrationResult:
    """Move every reference from `old` to `new` as `sessions_app.references` declares, and
    record what moved in a `SessionMigration` (none on a dry run or when nothing moved).

    Refused with `SessionMigrationError`, changing nothing, when the sessions are the same or of
    different organizations, when `new` is not connected, and, unless `force`, when `old` is
    still connected or the phone numbers differ. A second run finds nothing and writes nothing.
    """
    _refuse_unknown_trigger(trigger)
    if old.pk == new.pk:
        raise SessionMigrationError(
            _("Session %(id)s cannot move its references to itself.") % {"id": old.pk}
        )
    using = router.db_for_write(WhatsAppSession)
    with transaction.atomic(using=using):
        locked_old, locked_new = _lock_pair(old, new, using=using)
        result = _migrate_locked(
            locked_old,
            locked_new,
            trigger=trigger,
            actor=actor,
            dry_run=dry_run,
            force=force,
            using=using,
        )
        if not dry_run:
            old.superseded_by, new.superseded_by = locked_old.superseded_by, None
        return result


def _refuse_unknown_trigger(trigger: str) -> None:
    if trigger not in SessionMigration.Trigger.values:
        raise SessionMigrationError(
            _("Unknown trigger %(trigger)r; expected one of %(choices)s.")
            % {"trigger": trigger, "choices": ", ".join(SessionMigration.Trigger)}
        )


def _migrate_locked(
    old: WhatsAppSession,
    new: WhatsAppSession,
    *,
    trigger: str,
    actor: AbstractBaseUser | None,
    dry_run: bool,
    force: bool,
    using: str,
) -> MigrationResult:
    """`migrate_session` of two distinct sessions whose rows this transaction has locked,
    `old` and `new` being those rows as read."""
    _refuse_unless_allowed(old, new, force=force)
    if dry_run:
        listed = list_step_rows(_move_steps(old, new, using=using), using=using).moved
        moved_ids = {key: listed.get(key, []) for key in count_keys()}
        return MigrationResult(
            old=old,
            new=new,
            counts={key: len(ids) for key, ids in moved_ids.items()},
            listed_ids=moved_ids,
            dry_run=True,
        )
    now = timezone.now()
    sessions_before = {"old": _session_state(old), "new": _session_state(new)}
    audit = SessionMigration(
        organization_id=new.organization_id,
        old_session=old,
        new_session=new,
        trigger=trigger,
        actor=actor,
        forced=force,
    )
    # Built from the sessions as read, before the copies follow the move: on PostgreSQL one
    # statement, elsewhere one statement per step.
    if connections[using].vendor == "postgresql":
        move, steps = _audited_move(old, new, now=now, using=using), []
    else:
        move = None
        steps = [*_move_steps(old, new, using=using), *_supersede_steps(old, by=new, now=now)]
    _mark_superseded(old, by=new, now=now)
    sessions_prior = _sessions_prior(sessions_before, old, new)
    if move is not None:
        result = MigrationResult(old=old, new=new, counts={})
        result.counts = run_audited_move(
            move, audit, fixed_prior_state={"sessions": sessions_prior}, using=using
        )
        result.migration = audit if not audit._state.adding else None
    else:
        result = _run_move_steps(steps, audit, sessions_prior=sessions_prior, using=using)
    if result.migration is not None:
        logger.info(
            "Moved references of session %s to %s (%s): %s",
            old.pk,
            new.pk,
            trigger,
            result.counts,
        )
    return result


def _sessions_prior(before: dict, old: WhatsAppSession, new: WhatsAppSession) -> dict:
    """The sessions before the move and as the move leaves them, so an undo can tell whether
    anything changed them since."""
    return {
        role: {**state, "set_updated_at": _iso(session.updated_at)}
        for (role, state), session in zip(before.items(), (old, new), strict=True)
    }


# What the move statement is compiled for, once per shape; `_audited_move` puts the real
# sessions' ids and time in their place.
_OLD_STANDIN = uuid.UUID("00000000-5e55-4000-8000-0000000000a1")
_NEW_STANDIN = uuid.UUID("00000000-5e55-4000-8000-0000000000b2")
_NOW_STANDIN = dt.datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=dt.UTC)


@dataclass
class _CompiledMoves:
    """The move statements compiled from one set of declared references, by shape."""

    references: object = None
    by_shape: dict[tuple, AuditedMove] = field(default_factory=dict)


_compiled_moves = _CompiledMoves()


def _audited_move(
    old: WhatsAppSession, new: WhatsAppSession, *, now: dt.datetime, using: str
) -> AuditedMove:
    """The move of `old` to `new` as one audited statement.

    Django compiles it once per shape of move (whether each session's `superseded_by` changes)
    and database, with stand-in ids, and again when the declared references change: compiling
    it took longer than running it. Only the parameters differ between two moves of one shape.
    """
    shape = (using, old.superseded_by_id != new.pk, new.superseded_by_id is not None)
    references = declared_references()
    if _compiled_moves.references is not references:
        _compiled_moves.references, _compiled_moves.by_shape = references, {}
    template = _compiled_moves.by_shape.get(shape)
    if template is None:
        template = _compiled_moves.by_shape[shape] = _compile_move(*shape)
    real = {_OLD_STANDIN: old.pk, _NEW_STANDIN: new.pk, _NOW_STANDIN: now}

    def given(params: list) -> list:
        return [
            real.get(value, value) if isinstance(value, uuid.UUID | dt.datetime) else value
            for value in params
        ]

    return replace(
        template,
        before_audit=given(template.before_audit),
        after_audit=given(template.after_audit),
    )


def forget_compiled_statements() -> None:
    """Drop the statements compiled once (the moves, the read of the undos that hold a
    session): the next use compiles them again, as in a new process."""
    _compiled_moves.references, _compiled_moves.by_shape = None, {}
    _held_query.cache_clear()


def _compile_move(using: str, supersedes_old: bool, revives_new: bool) -> AuditedMove:
    old = WhatsAppSession(
        pk=_OLD_STANDIN, superseded_by_id=None if supersedes_old else _NEW_STANDIN
    )
    new = WhatsAppSession(pk=_NEW_STANDIN, superseded_by_id=_OLD_STANDIN if revives_new else None)
    steps = [
        *_move_steps(old, new, using=using),
        *_supersede_steps(old, by=new, now=_NOW_STANDIN),
    ]
    move = audited_move_statement(steps, count_keys=count_keys(), using=using)
    # A stand-in Django wrote into the SQL, or passed in another form, would not be replaced.
    spelled = [str(_OLD_STANDIN), str(_NEW_STANDIN), _OLD_STANDIN.hex, _NEW_STANDIN.hex]
    expected = {_OLD_STANDIN, _NEW_STANDIN}
    if supersedes_old or revives_new:
        expected.add(_NOW_STANDIN)
    params = [*move.before_audit, *move.after_audit]
    passed = {p for p in params if isinstance(p, uuid.UUID | dt.datetime)}
    texts = [move.sql, *(p for p in params if isinstance(p, str))]
    if any(spelling in text for text in texts for spelling in spelled) or not expected <= passed:
        raise RuntimeError("The move statement does not carry its sessions as parameters.")
    return move


def _run_move_steps(
    steps: list[Step], audit: SessionMigration, *, sessions_prior: dict, using: str
) -> MigrationResult:
    """The move's steps one statement each, then its audit when anything moved."""
    keys = count_keys()
    result = MigrationResult(old=audit.old_session, new=audit.new_session, counts={})
    recorded = run_steps(steps, using=using)
    result.listed_ids = {key: recorded.moved.get(key, []) for key in keys}
    result.counts = {key: len(ids) for key, ids in result.listed_ids.items()}
    if result.moved_anything:
        audit.counts, audit.moved_ids = result.counts, result.listed_ids
        audit.prior_state = {**recorded.prior, "sessions": sessions_prior}
        audit.save(using=using, force_insert=True)
        result.migration = audit
    return result


def _move_steps(old: WhatsAppSession, new: WhatsAppSession, *, using: str) -> list[Step]:
    """A step for every declared rule, in the order that keeps every join true when they run one
    by one."""
    steps: list[Step] = []
    for ref in references_to(SESSION_MODEL):
        if isinstance(ref.rule, Move):
            rows = ref.model._default_manager.using(using).filter(
                **{ref.field_name: old.pk}, **ref.rule.where
            )
            steps.append(
                Step(rows, into=(("moved", ref.rule.count_key),), values={ref.field_name: new.pk})
            )
        elif isinstance(ref.rule, MergeGroups):
            steps += _group_steps(old, new, ref, using=using)
    return steps


def _supersede_steps(old: WhatsAppSession, *, by: WhatsAppSession, now: dt.datetime) -> list[Step]:
    sessions = WhatsAppSession._default_manager
    steps = []
    if old.superseded_by_id != by.pk:
        steps.append(
            Step(sessions.filter(pk=old.pk), values={"superseded_by": by.pk, "updated_at": now})
        )
    if by.superseded_by_id is not None:
        # A superseded session that connected again is the live one now: without this, the two
        # would point at each other and senders would follow the wrong way.
        steps.append(
            Step(sessions.filter(pk=by.pk), values={"superseded_by": None, "updated_at": now})
        )
    return steps


def _mark_superseded(old: WhatsAppSession, *, by: WhatsAppSession, now: dt.datetime) -> None:
    """The in-memory copies as `_supersede_steps` leaves the rows."""
    if old.superseded_by_id != by.pk:
        old.superseded_by, old.updated_at = by, now
    if by.superseded_by_id is not None:
        by.superseded_by, by.updated_at = None, now


def adopt_predecessors(
    session: WhatsAppSession,
    *,
    trigger: str,
    actor: AbstractBaseUser | None = None,
    dry_run: bool = False,
) -> list[MigrationResult]:
    """Migrate into `session` every disconnected, not yet superseded session of its organization
    with the same phone number: what a reconnect does automatically."""
    _refuse_unknown_trigger(trigger)
    using = router.db_for_write(WhatsAppSession)
    with transaction.atomic(using=using):
        # Lock the whole phone's sessions at once, in id order, before moving any of them: a
        # concurrent status report or sweep on the same phone locks the same set the same way.
        # A phone once known never changes; a caller's copy that does not know it yet has the
        # statement read it from the database.
        phone_sessions = lock_phone_sessions(
            session, session.phone_number, using=using, read_phone=not session.phone_number
        )
        current = next((s for s in phone_sessions if s.pk == session.pk), None)
        if current is None or current.status != WhatsAppSession.Status.CONNECTED:
            return []  # it changed in between; its next report or the sweep adopts them
        candidates = [s for s in phone_sessions if _is_predecessor(s, current)]
        if not candidates:
            return []
        # Read once the locks are held: an undo that ended while this waited for them is seen.
        held = held_among([s.pk for s in candidates], using=using)
        predecessors = sorted(
            (s for s in candidates if s.pk not in held),
            key=lambda s: (s.created_at, str(s.pk)),
        )
        # Already locked, and refused as a whole: no lock or savepoint of their own per move.
        return [
            _migrate_locked(
                predecessor,
                current,
                trigger=trigger,
                actor=actor,
                dry_run=dry_run,
                force=False,
                using=using,
            )
            for predecessor in predecessors
        ]


def adopt_into_live_successor(session: WhatsAppSession, *, trigger: str) -> list[MigrationResult]:
    """A session that disconnects after a newer session of its phone already connected (its
    report came late) hands its references to that session, as the connect would have."""
    if session.status != WhatsAppSession.Status.DISCONNECTED or not session.phone_number:
        return []
    successor = (
        WhatsAppSession.objects.using(router.db_for_write(WhatsAppSession))
        .filter(
            organization_id=session.organization_id,
            phone_number=session.phone_number,
            status=WhatsAppSession.Status.CONNECTED,
            superseded_by__isnull=True,
        )
        .exclude(pk=session.pk)
        .order_by("-connected_at", "-created_at")
        .first()
    )
    return adopt_predecessors(successor, trigger=trigger) if successor else []


def held_for_staff() -> Exists:
    """Sessions an undo gave their references back to, which staff have not moved by hand
    since: neither the automatic path nor the sweep adopts them, or the next connect of the same
    phone would undo the undo. A filter on `WhatsAppSession`."""
    return Exists(_standing_undos().filter(new_session=OuterRef("pk")))


# Stands for the ids `held_among` asks about in its query, compiled once.
_IDS_STANDIN: list = []


def held_among(session_ids: list, *, using: str) -> set:
    """Those of `session_ids` an undo holds for staff (`held_for_staff`): the same query, which
    Django compiles once on PostgreSQL, as compiling it took longer than running it."""
    if connections[using].vendor != "postgresql":
        held = _standing_undos().using(using).filter(new_session__in=session_ids)
        return set(held.values_list("new_session_id", flat=True))
    sql, params = _held_query(using)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [session_ids if p is _IDS_STANDIN else p for p in params])
        return {row[0] for row in cursor.fetchall()}


@cache
def _held_query(using: str) -> tuple[str, list]:
    ids = RawSQL("SELECT unnest(%s::uuid[])", (_IDS_STANDIN,))
    query = _standing_undos().using(using).filter(new_session__in=ids)
    sql, params = query.values_list("new_session_id").query.get_compiler(using).as_sql()
    return sql, list(params)


def _standing_undos() -> QuerySet[SessionMigration]:
    """The undos whose session (their `new_session`) staff have not moved by hand since."""
    moved_by_hand_since = SessionMigration.objects.filter(
        old_session=OuterRef("new_session"),
        trigger__in=(SessionMigration.Trigger.ADMIN, SessionMigration.Trigger.COMMAND),
        created_at__gt=OuterRef("created_at"),
    )
    return SessionMigration.objects.filter(trigger=SessionMigration.Trigger.UNDO).exclude(
        Exists(moved_by_hand_since)
    )


def lock_phone_sessions(
    session: WhatsAppSession, phone_number: str | None, *, using: str, read_phone: bool = False
) -> list[WhatsAppSession]:
    """Lock `session` and its organization's sessions of `phone_number`, in id order, in one
    statement. With `read_phone`, the phone is instead the one the database holds for `session`
    while it is connected, read by the same statement.

    Every path that migrates locks sessions in id order, so two of them never wait on each other
    in a cycle. Must run inside a transaction.
    """
    from sessions_app.selectors import sessions_where

    where, params = "id = %s", [session.pk]
    if read_phone:
        where += (
            " OR (organization_id = %s AND phone_number = (SELECT phone.phone_number"
            " FROM whatsapp_sessions AS phone WHERE phone.id = %s AND phone.status = %s))"
        )
        params += [session.organization_id, session.pk, WhatsAppSession.Status.CONNECTED]
    elif phone_number:
        where += " OR (organization_id = %s AND phone_number = %s)"
        params += [session.organization_id, phone_number]
    return sessions_where(where, params, using=using, lock=True)


def _is_predecessor(candidate: WhatsAppSession, session: WhatsAppSession) -> bool:
    return (
        candidate.pk != session.pk
        and candidate.organization_id == session.organization_id
        and candidate.phone_number == session.phone_number
        and candidate.status == WhatsAppSession.Status.DISCONNECTED
        and candidate.superseded_by_id is None
    )


def _lock_pair(
    old: WhatsAppSession, new: WhatsAppSession, *, using: str
) -> tuple[WhatsAppSession, WhatsAppSession]:
    locked = {
        s.pk: s
        for s in WhatsAppSession.objects.using(using)
        .select_for_update(no_key=True)
        .filter(pk__in=[old.pk, new.pk])
        .order_by("pk")
    }
    for session in (old, new):
        if session.pk not in locked:
            raise SessionMigrationError(_("Session %(id)s does not exist.") % {"id": session.pk})
    return locked[old.pk], locked[new.pk]


def _refuse_unless_allowed(old: WhatsAppSession, new: WhatsAppSession, *, force: bool) -> None:
    if old.organization_id != new.organization_id:
        raise SessionMigrationError(
            _(
                "Sessions %(old)s and %(new)s belong to different organizations; references "
                "never move between organizations."
            )
            % {"old": old.pk, "new": new.pk}
        )
    if new.status != WhatsAppSession.Status.CONNECTED:
        raise SessionMigrationError(
            _("Session %(id)s is %(status)s; references only move to a connected session.")
            % {"id": new.pk, "status": new.status_in_sentence}
        )
    if force:
        return
    if old.status == WhatsAppSession.Status.CONNECTED:
        raise SessionMigrationError(
            _("Session %(id)s is still connected; force the move to take its references anyway.")
            % {"id": old.pk}
        )
    if not old.phone_number or old.phone_number != new.phone_number:
        no_phone = _("no phone")
        raise SessionMigrationError(
            _(
                "Sessions %(old)s (%(old_phone)s) and %(new)s (%(new_phone)s) are not the same "
                "phone; force the move to take its references anyway."
            )
            % {
                "old": old.pk,
                "old_phone": old.phone_number or no_phone,
                "new": new.pk,
                "new_phone": new.phone_number or no_phone,
            }
        )


def _group_steps(
    old: WhatsAppSession, new: WhatsAppSession, ref: Reference, *, using: str
) -> list[Step]:
    groups = ref.model._default_manager.using(using)
    session_field = ref.field_name
    jids_of_new = groups.filter(**{session_field: new.pk}).values("group_jid")
    merged = groups.filter(**{session_field: old.pk}, group_jid__in=jids_of_new)
    moving = groups.filter(**{session_field: old.pk}).exclude(group_jid__in=jids_of_new)
    steps: list[Step] = []
    # Re-point first, while the merged groups still sit on the old session: the original plan
    # moved the groups first, so its join found nothing and the messages stayed behind.
    for group_ref in references_to(GROUP_MODEL):
        if isinstance(group_ref.rule, RepointOnMerge):
            rows = group_ref.model._default_manager.using(using).filter(**group_ref.rule.where)
            steps.append(
                Step(
                    rows.filter(**{f"{group_ref.field_name}__in": merged}),
                    into=(("moved", group_ref.rule.count_key),),
                    statement=_repoint_statement(
                        group_ref, rows, from_session=old, to_session=new, using=using
                    ),
                )
            )
            if group_ref.rule.followed_key:
                steps.append(
                    Step(
                        rows.filter(**{f"{group_ref.field_name}__in": moving}),
                        into=(("moved", group_ref.rule.followed_key),),
                    )
                )
    # A merge's target is the new session's group of that group_jid whether active or not, and
    # it ends active: after A→B→A the live session must not be left with inactive groups only.
    active_jids_of_old = groups.filter(**{session_field: old.pk}, is_active=True)
    steps.append(
        Step(
            groups.filter(
                **{session_field: new.pk},
                is_active=False,
                group_jid__in=active_jids_of_old.values("group_jid"),
            ),
            into=(("prior", "groups_activated"),),
            values={"is_active": True},
        )
    )
    steps.append(
        Step(
            merged.filter(is_active=True),
            into=(("moved", ref.rule.merged_key),),
            values={"is_active": False},
        )
    )
    # Inactive groups move apart from active ones, so an undo knows which were inactive before.
    moving_values = {session_field: new.pk, "is_active": True}
    steps.append(
        Step(
            moving.filter(is_active=False),
            into=(("prior", "groups_moved_inactive"), ("moved", ref.rule.moved_key)),
            values=moving_values,
        )
    )
    steps.append(
        Step(
            moving.filter(is_active=True),
            into=(("moved", ref.rule.moved_key),),
            values=moving_values,
        )
    )
    return steps


def _session_state(session: WhatsAppSession) -> dict[str, str | None]:
    return {
        "superseded_by": str(session.superseded_by_id) if session.superseded_by_id else None,
        "updated_at": _iso(session.updated_at),
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _update_returning_ids(plan: _Plan, rows: QuerySet, values: dict[str, object]) -> list[str]:
    """Set `values` on `rows` in one statement, returning the ids it changed; a dry run only
    reads the ids."""
    if plan.dry_run:
        return ids_as_text(rows.model, rows.values_list("pk", flat=True))
    return update_returning_ids(rows, values, using=plan.using)


@dataclass
class SweepReport:
    results: list[MigrationResult] = field(default_factory=list)
    # (session id, one-line reason) for each move the sweep could not make.
    failures: list[tuple[str, str]] = field(default_factory=list)


def sweep_references(
    *,
    organization_id: object | None = None,
    trigger: str = SessionMigration.Trigger.COMMAND,
    dry_run: bool = False,
    superseded_only: bool = False,
) -> SweepReport:
    """Finish what the automatic path missed, one transaction per session:

    - every connected session adopts its predecessors (a failed automatic migration, or a
      session made connected by `QuerySet.update`, which sends no signal);
    - every superseded session that holds references again (rows attached to it after it was
      superseded) hands them to the live end of its `superseded_by` chain.
    """
    report = SweepReport()
    planned_olds: set = set()
    sessions = WhatsAppSession.objects.all()
    if organization_id is not None:
        sessions = sessions.filter(organization_id=organization_id)

    # A session without a phone has no predecessor: its NULL phone equals no other.
    waiting = WhatsAppSession.objects.filter(
        organization_id=OuterRef("organization_id"),
        phone_number=OuterRef("phone_number"),
        status=WhatsAppSession.Status.DISCONNECTED,
        superseded_by__isnull=True,
    ).exclude(held_for_staff())
    adopters = (
        sessions.filter(status=WhatsAppSession.Status.CONNECTED)
        .filter(Exists(waiting))
        .order_by(F("connected_at").desc(nulls_last=True), "-created_at")
    )
    for session in adopters if not superseded_only else ():
        try:
            results = adopt_predecessors(session, trigger=trigger, dry_run=dry_run)
        except SessionMigrationError as exc:
            report.failures.append((str(session.pk), str(exc)))
            continue
        for result in results:
            # A dry run supersedes nothing, so two live sessions of one phone would both list
            # the same predecessor; the real run moves it once, into the first.
            if result.old.pk not in planned_olds:
                planned_olds.add(result.old.pk)
                report.results.append(result)

    for session in _superseded_holding_rows(sessions, dry_run=dry_run):
        if session.pk in planned_olds:
            continue
        live = live_successor(session)
        if live is None:
            continue  # the phone has not reconnected yet: its next connect adopts it
        try:
            result = migrate_session(session, live, trigger=trigger, dry_run=dry_run)
        except SessionMigrationError as exc:
            report.failures.append((str(session.pk), str(exc)))
            continue
        report.results.append(result)
    return report


def _superseded_holding_rows(
    sessions: QuerySet[WhatsAppSession], *, dry_run: bool
) -> QuerySet[WhatsAppSession] | list[WhatsAppSession]:
    """The superseded sessions among `sessions` that the sweep hands on and that hold rows,
    oldest first: of those PostgreSQL noted (`sessions_app.sweep_marks`), or, where the notes
    cannot be trusted, of every superseded session. Nothing when none of them holds a row."""
    from sessions_app.selectors import holding_references

    swept = sessions.filter(sweep_marks.swept())
    ids = sweep_marks.sessions_holding_rows(
        forget=not dry_run, using=router.db_for_write(WhatsAppSession)
    )
    if ids is None:
        holding = holding_references(swept)
    elif ids:
        holding = swept.filter(pk__in=ids)
    else:
        return []
    return holding.order_by("created_at", "pk")


def live_successor(session: WhatsAppSession) -> WhatsAppSession | None:
    """The connected session at the end of `session`'s `superseded_by` chain, if any: the
    chain read in one query however long it is."""
    from sessions_app.selectors import live_sessions_of

    if session.superseded_by_id is None:
        return None
    end = live_sessions_of([session.pk]).get(session.pk)
    if end is None or end.pk == session.pk or end.status != WhatsAppSession.Status.CONNECTED:
        return None
    return end


# Undo ------------------------------------------------------------------------------------------


@dataclass
class UndoResult:
    """What an undo put back (or, on a dry run, would put back), per count key, and what it
    left where it is, `{key: [{"id": ..., "reason": ...}]}`."""

    counts: dict[str, int]
    moved_ids: dict[str, list[str]]
    left: dict[str, list[dict[str, str]]]
    undo: SessionMigration | None = None

    @property
    def left_count(self) -> int:
        return sum(len(rows) for rows in self.left.values())


def undo_migration(
    migration: SessionMigration, *, actor: AbstractBaseUser | None, dry_run: bool = False
) -> UndoResult:
    """Move back exactly the rows `migration` moved that are still where it put them, and record
    the undo (`trigger="undo"`, linked to `migration`) with the rows left and why.

    Still where it put them: on the new session; for groups, the same group and activity; for
    campaigns and messages, still in a status that moves. Merged groups are reactivated on the
    old session with the messages the merge re-pointed; `superseded_by` is restored; the old
    session is then held apart from the automatic path and the sweep (`held_for_staff`) until
    staff move it by hand. Refused with `SessionMigrationError`, changing nothing, for an undo or
    a migration already undone. Same locks as a move, one transaction, a fixed number of
    statements whatever the number of rows.
    """
    if migration.trigger == SessionMigration.Trigger.UNDO:
        raise SessionMigrationError(
            _(
                "Migration %(id)s is itself an undo and cannot be undone; move the references "
                "by hand instead."
            )
            % {"id": migration.pk}
        )
    using = router.db_for_write(SessionMigration)
    with transaction.atomic(using=using):
        old, new = _lock_pair(migration.old_session, migration.new_session, using=using)
        # Locked after the sessions, as every path locks them first.
        locked = (
            SessionMigration.objects.using(using)
            .select_for_update(no_key=True)
            .filter(pk=migration.pk)
            .first()
        )
        if locked is None:
            raise SessionMigrationError(
                _("Migration %(id)s does not exist.") % {"id": migration.pk}
            )
        done = SessionMigration.objects.using(using).filter(undoes=locked).first()
        if done is not None:
            raise SessionMigrationError(
                _(
                    "Migration %(id)s was already undone by %(undo)s on %(when)s; a new move is "
                    "the way forward."
                )
                % {"id": migration.pk, "undo": done.pk, "when": local_datetime(done.created_at)}
            )
        _refuse_a_second_live_name(old, new, locked, using=using)
        plan = _Plan(old=old, new=new, using=using, dry_run=dry_run)
        left: dict[str, list[dict[str, str]]] = {}
        _undo_references(plan, locked, left)
        moved_ids = {key: plan.moved_ids[key] for key in count_keys()}
        result = UndoResult(
            counts={key: len(ids) for key, ids in moved_ids.items()},
            moved_ids=moved_ids,
            left={key: rows for key, rows in left.items() if rows},
        )
        if dry_run:
            return result
        _restore_sessions(plan, locked)
        result.undo = SessionMigration.objects.using(using).create(
            organization_id=locked.organization_id,
            old_session=new,
            new_session=old,
            trigger=SessionMigration.Trigger.UNDO,
            actor=actor,
            undoes=locked,
            counts=result.counts,
            moved_ids=moved_ids,
            left_ids=result.left,
        )
        logger.info(
            "Undid migration %s (%s → %s): %s back, %s left",
            locked.pk,
            old.pk,
            new.pk,
            result.counts,
            result.left_count,
        )
        return result


def _refuse_a_second_live_name(
    old: WhatsAppSession, new: WhatsAppSession, migration: SessionMigration, *, using: str
) -> None:
    """An undo makes the old session live again: refused when a live session now holds one of
    its gateway names, since a name addresses exactly one live session."""
    before = ((migration.prior_state or {}).get("sessions") or {}).get("old") or {}
    if old.superseded_by_id != new.pk or before.get("superseded_by"):
        return  # it stays superseded
    for key in GATEWAY_NAME_KEYS:
        name = old.gateway_name(key)
        holder = (
            WhatsAppSession.objects.using(using)
            .filter(superseded_by__isnull=True, **{f"session_data__{key}": name})
            .first()
            if name
            else None
        )
        if holder is not None:
            raise SessionMigrationError(
                _(
                    "Session %(id)s would be live again under the gateway name %(name)r, which "
                    "live session %(holder)s holds now; move the references by hand instead."
                )
                % {"id": old.pk, "name": name, "holder": holder.pk}
            )


def _undo_references(plan: _Plan, migration: SessionMigration, left: dict) -> None:
    """One statement per rule, in the order that keeps every join true: messages go back to the
    merged groups while those still sit on the old session, groups after."""
    moved = migration.moved_ids or {}
    prior = migration.prior_state or {}
    for ref in references_to(SESSION_MODEL):
        if isinstance(ref.rule, Move):
            _undo_move(plan, ref, moved.get(ref.rule.count_key) or [], left)
        elif isinstance(ref.rule, MergeGroups):
            for group_ref in references_to(GROUP_MODEL):
                if isinstance(group_ref.rule, RepointOnMerge):
                    _undo_repoint(plan, group_ref, moved.get(group_ref.rule.count_key) or [], left)
            _undo_groups(plan, ref, moved, prior, left)
            for group_ref in references_to(GROUP_MODEL):
                if isinstance(group_ref.rule, RepointOnMerge) and group_ref.rule.followed_key:
                    _report_followers(plan, group_ref, ref, moved, left)


def _undo_move(plan: _Plan, ref: Reference, ids: list[str], left: dict) -> None:
    key = ref.rule.count_key
    manager = ref.model._default_manager.using(plan.using)
    rows = manager.filter(
        _among(plan, ref.model, ids), **{ref.field_name: plan.new.pk}, **ref.rule.where
    )
    plan.moved_ids[key] = _update_returning_ids(plan, rows, {ref.field_name: plan.old.pk})
    _note_left(plan, ref, key, ids, left, ref.field_name, ref.rule.where)


def _undo_repoint(plan: _Plan, ref: Reference, ids: list[str], left: dict) -> None:
    """Re-pointed rows still in the new session's group of their `group_jid`, and still matching
    the rule, go back to the old session's group of that `group_jid`."""
    key = ref.rule.count_key
    if not ids:
        plan.moved_ids[key] = []
        return
    group_field = ref.field_name
    session_field = group_session_field()
    rows = ref.model._default_manager.using(plan.using).filter(
        _among(plan, ref.model, ids), **ref.rule.where
    )
    if plan.dry_run:
        old_jids = _groups(ref).filter(**{session_field: plan.old.pk}).values("group_jid")
        going_back = rows.filter(
            **{f"{group_field}__{session_field}": plan.new.pk},
            **{f"{group_field}__group_jid__in": old_jids},
        )
        plan.moved_ids[key] = ids_as_text(ref.model, going_back.values_list("pk", flat=True))
    else:
        plan.moved_ids[key] = _repoint_between_sessions(
            plan, ref, rows, from_session=plan.new, to_session=plan.old
        )
    _note_left(plan, ref, key, ids, left, f"{group_field}__{session_field}", ref.rule.where)


def _among(plan: _Plan, model, ids) -> Q | RawSQL:
    """A filter on `model`'s rows whose id is one of `ids`.

    On PostgreSQL, `id = ANY(array)`: one parameter however many ids, and hashed, so it stays
    fast whichever way the planner goes when a big move has left its statistics behind.
    """
    ids = list(ids)
    connection = connections[plan.using]
    if connection.vendor != "postgresql" or not ids:
        return Q(pk__in=ids)
    column = qualified_pk(connection, model)
    return RawSQL(f"{column} = ANY(%s::uuid[])", (ids,), output_field=BooleanField())


def _groups(ref: Reference) -> QuerySet:
    return ref.field.related_model._default_manager.all()


def _undo_groups(plan: _Plan, ref: Reference, moved: dict, prior: dict, left: dict) -> None:
    groups = ref.model._default_manager.using(plan.using)
    session_field = ref.field_name
    old, new = {session_field: plan.old.pk}, {session_field: plan.new.pk}

    merged_ids = moved.get(ref.rule.merged_key) or []
    plan.moved_ids[ref.rule.merged_key] = _update_returning_ids(
        plan,
        groups.filter(_among(plan, ref.model, merged_ids), is_active=False, **old),
        {"is_active": True},
    )
    _note_left(plan, ref, ref.rule.merged_key, merged_ids, left, session_field, {})

    # The merge's targets it activated go back to inactive, unless moved since.
    activated = prior.get("groups_activated") or []
    _update_returning_ids(
        plan, groups.filter(_among(plan, ref.model, activated), **new), {"is_active": False}
    )

    moved_ids = moved.get(ref.rule.moved_key) or []
    was_inactive = prior.get("groups_moved_inactive") or []
    # A group of the same group_jid on the old session (synced since) keeps the one it has.
    movable = groups.filter(_among(plan, ref.model, moved_ids), is_active=True, **new).exclude(
        group_jid__in=groups.filter(**old).values("group_jid")
    )
    back = [
        *_update_returning_ids(
            plan,
            movable.filter(_among(plan, ref.model, was_inactive)),
            {session_field: plan.old.pk, "is_active": False},
        ),
        *_update_returning_ids(
            plan,
            movable.exclude(_among(plan, ref.model, was_inactive)),
            {session_field: plan.old.pk},
        ),
    ]
    plan.moved_ids[ref.rule.moved_key] = back
    _note_left(plan, ref, ref.rule.moved_key, moved_ids, left, session_field, {})


def _report_followers(
    plan: _Plan, ref: Reference, group_ref: Reference, moved: dict, left: dict
) -> None:
    """Rows that followed their group: back with it when it went back (they are not touched)."""
    key = ref.rule.followed_key
    ids = moved.get(key) or []
    if not ids:
        plan.moved_ids[key] = []
        return
    groups_back = set(plan.moved_ids.get(group_ref.rule.moved_key) or [])
    rows = ref.model._default_manager.using(plan.using).filter(_among(plan, ref.model, ids))
    current = {str(pk): str(group_id) for pk, group_id in rows.values_list("pk", ref.field.attname)}
    plan.moved_ids[key] = [i for i in ids if current.get(i) in groups_back]
    went_back = set(plan.moved_ids[key])
    for row_id in ids:
        if row_id not in went_back:
            if row_id not in current:
                reason = _("deleted since")
            else:
                reason = _("its group stayed where it is")
            left.setdefault(key, []).append({"id": row_id, "reason": reason})


def _note_left(
    plan: _Plan,
    ref: Reference,
    key: str,
    ids: list[str],
    left: dict,
    session_path: str,
    where: dict,
) -> None:
    """The ids of `key` that did not go back, each with why, read in one query."""
    back = set(plan.moved_ids.get(key) or [])
    rest = [row_id for row_id in ids if row_id not in back]
    if not rest:
        return
    where_fields = [lookup.split("__")[0] for lookup in where]
    found = {
        str(row[0]): row[1:]
        for row in ref.model._default_manager.using(plan.using)
        .filter(_among(plan, ref.model, rest))
        .values_list("pk", session_path, *where_fields)
    }
    for row_id in rest:
        row = found.get(row_id)
        if row is None:
            reason = _("deleted since")
        elif str(row[0]) not in (str(plan.new.pk), str(plan.old.pk)):
            reason = (
                _("on session %(id)s now") % {"id": row[0]} if row[0] else _("on no session now")
            )
        elif where and not _matches(row[1:], where):
            values = ", ".join(
                _value_as_shown(ref.model, name, value)
                for name, value in zip(where_fields, row[1:], strict=True)
            )
            reason = _("now %(values)s") % {"values": values}
        elif key == _rule_key(ref, "merged_key"):
            reason = _("active again since")
        elif key == _rule_key(ref, "moved_key"):
            reason = _("deactivated since, or the old session has a group of its group_jid now")
        else:
            reason = _("changed since")
        left.setdefault(key, []).append({"id": row_id, "reason": reason})


def _rule_key(ref: Reference, name: str) -> str | None:
    return getattr(ref.rule, name, None)


def _value_as_shown(model, field_name: str, value) -> str:
    """`value` of `model.field_name` as staff read it: a choice by its label, in lower case to
    sit inside a sentence ("now sent")."""
    choices = dict(model._meta.get_field(field_name).flatchoices)
    return str(choices[value]).lower() if value in choices else str(value)


def _matches(values, where) -> bool:
    for value, (lookup, expected) in zip(values, where.items(), strict=True):
        if lookup.endswith("__in"):
            if value not in expected:
                return False
        elif value != expected:
            return False
    return True


def _repoint_between_sessions(
    plan: _Plan,
    ref: Reference,
    rows: QuerySet,
    *,
    from_session: WhatsAppSession,
    to_session: WhatsAppSession,
) -> list[str]:
    """Run `_repoint_statement`: the ids it re-pointed."""
    statement = _repoint_statement(
        ref, rows, from_session=from_session, to_session=to_session, using=plan.using
    )
    return execute_returning_ids(statement, ref.model, using=plan.using)


def _repoint_statement(
    ref: Reference,
    rows: QuerySet,
    *,
    from_session: WhatsAppSession,
    to_session: WhatsAppSession,
    using: str,
) -> tuple[str, list]:
    """Point each of `rows` whose group is on `from_session` at `to_session`'s group of the same
    `group_jid`: one `UPDATE … FROM` (no `RETURNING`); `rows` filters on the row's own columns
    only."""
    connection = connections[using]
    qn = connection.ops.quote_name
    group_meta = ref.field.related_model._meta
    session_field = group_meta.get_field(group_session_field())
    table = qn(ref.model._meta.db_table)
    sql = (
        f"UPDATE {table} SET {qn(ref.field.column)} = to_group.{qn(group_meta.pk.column)}"
        f" FROM {qn(group_meta.db_table)} AS from_group"
        f" JOIN {qn(group_meta.db_table)} AS to_group"
        f" ON to_group.{qn('group_jid')} = from_group.{qn('group_jid')}"
        f" AND to_group.{qn(session_field.column)} = %s"
        f" WHERE {table}.{qn(ref.field.column)} = from_group.{qn(group_meta.pk.column)}"
        f" AND from_group.{qn(session_field.column)} = %s"
    )
    params = [
        session_field.get_db_prep_value(to_session.pk, connection),
        session_field.get_db_prep_value(from_session.pk, connection),
    ]
    where, where_params = where_sql(rows, using=using)
    if where:
        sql += f" AND ({where})"
        params.extend(where_params)
    return sql, params


def _restore_sessions(plan: _Plan, migration: SessionMigration) -> None:
    """Put back each session's `superseded_by` as it was before the move, where it is still what
    the move made it; its `updated_at` too when nothing else changed the row since."""
    states = (migration.prior_state or {}).get("sessions") or {}
    now = timezone.now()
    # What the move left in `superseded_by`: the old session superseded by the new, the new
    # one live.
    set_by_move = {"old": str(plan.new.pk), "new": ""}
    for role, session in (("old", plan.old), ("new", plan.new)):
        # A move audited before the sessions' state was recorded: both count as live before it.
        state = states.get(role) or {}
        before = state.get("superseded_by")
        if str(session.superseded_by_id or "") != set_by_move[role] or set_by_move[role] == str(
            before or ""
        ):
            continue
        untouched = state.get("set_updated_at") == _iso(session.updated_at)
        updated_at = (
            dt.datetime.fromisoformat(state["updated_at"])
            if untouched and state["updated_at"]
            else now
        )
        WhatsAppSession.objects.using(plan.using).filter(pk=session.pk).update(
            superseded_by=before, updated_at=updated_at
        )
        session.superseded_by_id, session.updated_at = before, updated_at
