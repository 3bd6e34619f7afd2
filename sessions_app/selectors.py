"""Reads about sessions: what still points at them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from django.db import connection, connections
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from sessions_app.models import SessionMigration, WhatsAppSession
from sessions_app.references import pointing_rows
from sessions_app.services.supersession import MAX_CHAIN

# Parts are selected as `refs_<key>`, clear of the model's own field names.
ANNOTATION_PREFIX = "refs_"


def _count(rows: QuerySet) -> Coalesce:
    """A correlated `SELECT COUNT(*)` over `rows`, which already filter on the outer session."""
    counted = rows.order_by().annotate(_group=Value(1)).values("_group")
    counted = counted.annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _reference_rows() -> dict[str, QuerySet]:
    """Per key, the rows pointing at the outer session now (`OuterRef("pk")`), from the
    registry."""
    return {rows.key: rows.of(OuterRef("pk")) for rows in pointing_rows()}


def _reference_subqueries() -> dict[str, Coalesce]:
    """Per key, a subquery counting what points at the outer session now, from the registry."""
    return {key: _count(rows) for key, rows in _reference_rows().items()}


def holding_references(queryset: QuerySet[WhatsAppSession]) -> QuerySet[WhatsAppSession]:
    """The sessions of `queryset` that anything still points at.

    One semi-join per part, united: each probes the part's index once per session of
    `queryset`, where counting would read every row that points at them, and where the same
    tests joined by OR would read every part's table whole."""
    parts = [
        queryset.order_by().filter(Exists(rows)).values("pk") for rows in _reference_rows().values()
    ]
    return queryset.filter(pk__in=parts[0].union(*parts[1:]))


def with_reference_counts(queryset: QuerySet[WhatsAppSession]) -> QuerySet[WhatsAppSession]:
    """Annotate each session with `reference_count`, everything that still points at it: the
    rows of every table in `sessions_app.references.pointing_rows`. One subquery per part, no
    per-row queries."""
    total = Value(0, output_field=IntegerField())
    for subquery in _reference_subqueries().values():
        total = total + subquery
    return queryset.annotate(reference_count=total)


def reference_counts_by_session(session_ids: list) -> dict:
    """Everything that still points at each of `session_ids` (say, one page of a list), keyed
    by id: one query whose cost follows the number of ids, never the number of sessions."""
    if not session_ids:
        return {}
    rows = with_reference_counts(WhatsAppSession.objects.filter(pk__in=session_ids).order_by())
    return dict(rows.values_list("pk", "reference_count"))


def session_reference_counts(session: WhatsAppSession) -> dict[str, int]:
    """What still points at `session` now, per part, in one query."""
    parts = {f"{ANNOTATION_PREFIX}{key}": expr for key, expr in _reference_subqueries().items()}
    row = WhatsAppSession.objects.filter(pk=session.pk).values(**parts).get()
    return {name.removeprefix(ANNOTATION_PREFIX): row[name] for name in parts}


# session_data keys linking the two sessions of a phone change.
PHONE_CHANGED_TO_KEY = "phone_changed_to"
PHONE_CHANGED_FROM_KEY = "phone_changed_from"


@dataclass(frozen=True)
class PhoneChange:
    """A gateway session that began reporting another phone: `old` kept its phone and was
    disconnected, `new` took the gateway name with the new phone. Nothing moved between them."""

    old: WhatsAppSession
    new: WhatsAppSession

    def other_than(self, session: WhatsAppSession) -> WhatsAppSession:
        return self.new if session.pk == self.old.pk else self.old


def phone_change_of(session: WhatsAppSession) -> PhoneChange | None:
    """The phone change `session` took part in, on either side, if any (one query at most)."""
    data = session.session_data if isinstance(session.session_data, dict) else {}
    for key, session_is_old in ((PHONE_CHANGED_TO_KEY, True), (PHONE_CHANGED_FROM_KEY, False)):
        other_id = data.get(key)
        if not other_id:
            continue
        other = (
            WhatsAppSession.objects.filter(pk=other_id, organization_id=session.organization_id)
            .select_related("organization")
            .first()
        )
        if other is not None:
            return PhoneChange(session, other) if session_is_old else PhoneChange(other, session)
    return None


def moved_id_pages(
    migration: SessionMigration, offsets: dict[str, int], limit: int
) -> dict[str, tuple[int, list[str]]]:
    """Per count key, how many ids `migration` moved and `limit` of them from `offsets[key]`,
    cut out by the database so the audit's full list never travels to a page."""
    if connection.vendor != "postgresql":
        moved = SessionMigration.objects.values_list("moved_ids", flat=True).get(pk=migration.pk)
        return {
            key: (len(ids), ids[offsets.get(key, 0) : offsets.get(key, 0) + limit])
            for key, ids in (moved or {}).items()
        }
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT moved.key, jsonb_array_length(moved.value),
                      jsonb_path_query_array(moved.value, '$[$from to $to]', jsonb_build_object(
                          'from', coalesce((%s::jsonb ->> moved.key)::int, 0),
                          'to', coalesce((%s::jsonb ->> moved.key)::int, 0) + %s - 1))
               FROM session_migrations, jsonb_each(session_migrations.moved_ids) AS moved
               WHERE session_migrations.id = %s AND jsonb_typeof(moved.value) = 'array'""",
            [json.dumps(offsets), json.dumps(offsets), limit, migration.pk],
        )
        # Django has psycopg hand jsonb over as text.
        return {key: (total, json.loads(ids)) for key, total, ids in cursor.fetchall()}


def audit_entry_count(sessions) -> int:
    """How many entries of the migration audit name any of `sessions` (sessions or a queryset
    of them), as the old session or the new."""
    return SessionMigration.objects.filter(
        Q(old_session__in=sessions) | Q(new_session__in=sessions)
    ).count()


def sessions_where(
    where: str, params: list, *, using: str, lock: bool = False
) -> list[WhatsAppSession]:
    """The sessions that `where` (SQL on the sessions table's own columns) selects, in id order,
    every field loaded; with `lock`, locked `FOR NO KEY UPDATE` where the database can.

    Written as SQL for the reads every gateway report makes (its session by name, the lock on
    its phone's sessions): compiling them through the ORM took longer than running them."""
    db_connection = connections[using]
    quote = db_connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in WhatsAppSession._meta.concrete_fields)
    table = quote(WhatsAppSession._meta.db_table)
    id_column = quote(WhatsAppSession._meta.pk.column)
    locking = lock and db_connection.features.has_select_for_no_key_update
    sql = (
        f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {id_column}"
        f"{' FOR NO KEY UPDATE' if locking else ''}"
    )
    # Ids as the database keeps them (SQLite has no uuid type), as a UUID field would write them.
    ids = WhatsAppSession._meta.pk
    params = [
        ids.get_db_prep_value(value, db_connection) if isinstance(value, uuid.UUID) else value
        for value in params
    ]
    return list(WhatsAppSession.objects.using(using).raw(sql, params))


def live_sessions_of(session_ids) -> dict:
    """Each of `session_ids` mapped to the session at the live end of its `superseded_by` chain
    (itself when not superseded), in one query on any database however long the chains are;
    one instance per session. A chain longer than `MAX_CHAIN` stops there."""
    ids = {pk for pk in session_ids if pk is not None}
    if not ids:
        return {}
    manager = WhatsAppSession._default_manager
    pk_field = WhatsAppSession._meta.pk
    db_connection = connections[manager.db]
    quote = db_connection.ops.quote_name
    table = quote(WhatsAppSession._meta.db_table)
    id_column = quote(pk_field.column)
    following = quote(WhatsAppSession._meta.get_field("superseded_by").column)
    # Walked in the database, link by link from each start; the row where the walk ends (no
    # successor, or MAX_CHAIN links) is the live end. Each link is looked up by its key: joined,
    # PostgreSQL would hash every session to find the successors of a few.
    sql = f"""
        WITH RECURSIVE chain (start_id, id, next_id, links) AS (
            SELECT {id_column}, {id_column}, {following}, 0 FROM {table}
            WHERE {id_column} IN ({", ".join(["%s"] * len(ids))})
            UNION ALL
            SELECT chain.start_id, chain.next_id,
                   (SELECT s.{following} FROM {table} s WHERE s.{id_column} = chain.next_id),
                   chain.links + 1
            FROM chain WHERE chain.next_id IS NOT NULL AND chain.links < %s
        )
        SELECT s.*, chain.start_id AS chain_start_id
        FROM chain JOIN {table} s ON s.{id_column} = chain.id
        WHERE chain.next_id IS NULL OR chain.links = %s
    """
    params = [pk_field.get_db_prep_value(pk, db_connection) for pk in ids]
    ends, read = {}, {}
    for session in manager.raw(sql, [*params, MAX_CHAIN, MAX_CHAIN]):
        # Chains that end in the same session share one instance of it.
        ends[pk_field.to_python(session.chain_start_id)] = read.setdefault(session.pk, session)
    return ends
