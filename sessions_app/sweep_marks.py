"""Superseded sessions that rows may point at again, noted by PostgreSQL as it happens.

A move takes every row that points at the old session, but rows can come back to it later: a
draft campaign scheduled, a message a dispatcher gives back, a row written by hand or by another
system. Looking for them at every superseded session costs an index probe per table and session,
and the superseded sessions only ever grow in number. So the database notes the sessions to look
at, in `sessions_to_sweep`:

- a trigger on each table of `sessions_app.references.pointing_rows()` notes, once per
  statement that inserts or updates rows, the superseded sessions those rows now lead to (through
  their group, for messages) among the rows matching their rule: a row attached, re-pointed, or
  matching again (a campaign scheduled again, a message pending again). A session that already
  has a note no sweep is looking at gets no other, so rows written again and again on a session
  waiting for its phone leave one note;
- a trigger on `whatsapp_sessions` notes a session as it becomes superseded and not connected,
  whatever it holds: a transaction that attached a row before it could see the supersede noted
  nothing, and the sweep finds its row by looking at the session after it commits.

The triggers are generated from the registry, installed after every `migrate` (a new referencing
table needs no other step), and carry a fingerprint of their text. The sweep reads the notes only
while the installed fingerprint is the registry's; otherwise (SQLite, or code whose registry
changed without a `migrate`) it looks at every superseded session, as it did before.

A note is forgotten once the sweep has found its session holding nothing twice: the first look
records the transactions then running (`found_empty_xmax`), and the second counts only once all
of them have ended, so a row attached unseen by a transaction still running at the first look is
visible at the second. A writer that relies on an existing note locks it (`FOR KEY SHARE`) until
it commits, and a sweep skips the notes it cannot lock, so none is forgotten under a writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.constants import LOOKUP_SEP

from sessions_app.models import SessionToSweep, WhatsAppSession
from sessions_app.references import SESSION_MODEL, declared_references, pointing_rows
from sessions_app.update_sql import where_sql

# Every function (and so every trigger) of this module is named so: what an install replaces.
PREFIX = "sweep_note_"
_COMMENT = "sweep triggers "


def swept() -> Q:
    """The superseded sessions the sweep hands on to the live end of their chain: those not
    connected (a superseded session that connected again keeps its rows)."""
    return Q(superseded_by__isnull=False) & ~Q(status=WhatsAppSession.Status.CONNECTED)


def holds_rows() -> Q:
    """A filter on sessions: something a move would take points at it."""
    return reduce(or_, (Q(Exists(rows.of(OuterRef("pk")))) for rows in pointing_rows()))


@dataclass(frozen=True)
class _Key:
    """A foreign key through which rows point at a session: `path` leads from it to the
    session (one field when it names the session, then the group's own when it names a group).
    `wheres` are the rules of the rows it starts, and an empty one (any row) when it is also a
    step of another table's path (a group's session, for the messages in the group)."""

    path: tuple[models.ForeignKey, ...]
    wheres: tuple[Mapping[str, object], ...]

    @property
    def model(self) -> type[models.Model]:
        return self.path[0].model


@dataclass(frozen=True)
class TriggerSet:
    statements: tuple[str, ...]
    tables: frozenset[str]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.statements).encode()).hexdigest()[:16]


# What is built from the registry, kept while its declarations stay the same objects.
_built: dict = {}


def _once(key, build):
    references = declared_references()
    if _built.get("references") is not references:
        _built.clear()
        _built["references"] = references
    if key not in _built:
        _built[key] = build()
    return _built[key]


def trigger_set(using: str = DEFAULT_DB_ALIAS) -> TriggerSet:
    """The functions and triggers the registry calls for."""
    return _once(("triggers", using), lambda: _build(connections[using]))


def _keys() -> list[_Key]:
    keys: dict[tuple[str, str], _Key] = {}
    for rows in pointing_rows():
        path = _path(rows.model, rows.session_path)
        for start in range(len(path)):
            step = path[start:]
            at = (step[0].model._meta.label, step[0].name)
            known = keys.get(at, _Key(step, ()))
            # A step of another table's path (a group, for its messages): any of its rows.
            keys[at] = _Key(step, (*known.wheres, rows.where if start == 0 else {}))
    return list(keys.values())


def _path(model: type[models.Model], session_path: str) -> tuple[models.ForeignKey, ...]:
    fields = []
    for name in session_path.split(LOOKUP_SEP):
        field = model._meta.get_field(name)
        if not field.many_to_one:
            raise ImproperlyConfigured(f"{model._meta.label}.{name} is not a foreign key.")
        fields.append(field)
        model = field.related_model
    if model._meta.label != SESSION_MODEL:
        raise ImproperlyConfigured(f"{session_path!r} does not lead to a session.")
    return tuple(fields)


def _build(connection) -> TriggerSet:
    qn = connection.ops.quote_name
    notes = qn(SessionToSweep._meta.db_table)
    sessions = qn(WhatsAppSession._meta.db_table)
    superseded = qn(WhatsAppSession._meta.get_field("superseded_by").column)
    statements, tables = [], {SessionToSweep._meta.db_table, WhatsAppSession._meta.db_table}

    for key in _keys():
        meta = key.model._meta
        table, column = qn(meta.db_table), qn(key.path[0].column)
        tables.add(meta.db_table)
        name = _name(meta.db_table, key.path[0].column)
        wheres = [_condition(connection, key.model, where, table) for where in key.wheres]
        matching = "" if "TRUE" in wheres else " AND (" + " OR ".join(wheres) + ")"
        keys = (
            f"SELECT DISTINCT {table}.{column} AS key FROM new_rows AS {table}"
            f" WHERE {table}.{column} IS NOT NULL{matching}"
        )
        # One query per statement, however many rows it wrote: the superseded sessions its
        # rows now point at, but those with a note no sweep is looking at (locked until this
        # transaction ends, so no sweep forgets it before it can see these rows).
        statements.append(
            _function(
                name,
                f"INSERT INTO {notes} (session_id) SELECT s.id FROM {sessions} AS s"
                f" WHERE s.{superseded} IS NOT NULL AND s.id IN ("
                f"SELECT {_session_id(connection, key.path, 'k.key')} FROM ({keys}) AS k)"
                f" AND NOT EXISTS (SELECT FROM {notes} AS n WHERE n.session_id = s.id"
                f" AND n.found_empty_xmax IS NULL FOR KEY SHARE SKIP LOCKED);",
            )
        )
        for event in ("INSERT", "UPDATE"):
            statements.append(
                f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {table}"
                f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
                f" EXECUTE FUNCTION {name}()"
            )

    # A session that becomes one the sweep hands on, whatever it holds.
    swept_sql = _condition(connection, WhatsAppSession, swept(), sessions)
    becomes = (
        f"({swept_sql.replace(f'{sessions}.', 'NEW.')}) IS TRUE"
        f" AND ({swept_sql.replace(f'{sessions}.', 'OLD.')}) IS NOT TRUE"
    )
    name = f"{PREFIX}superseded_session"
    statements.append(
        _function(name, f"INSERT INTO {notes} (session_id) VALUES (NEW.id);"),
    )
    statements.append(
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {sessions} FOR EACH ROW"
        f" WHEN (({swept_sql.replace(f'{sessions}.', 'NEW.')}) IS TRUE)"
        f" EXECUTE FUNCTION {name}()"
    )
    columns = ", ".join(map(qn, _where_columns(WhatsAppSession, [swept()])))
    statements.append(
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {columns} ON {sessions} FOR EACH ROW"
        f" WHEN ({becomes}) EXECUTE FUNCTION {name}()"
    )
    return TriggerSet(tuple(statements), frozenset(tables))


def _name(table: str, column: str) -> str:
    name = f"{PREFIX}{table}_{column}"
    # PostgreSQL cuts names at 63 bytes; the longest suffix added is "_insert".
    if len(name) > 63 - len("_insert"):
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: 63 - len('_insert') - 9]}_{digest}"
    return name


def _function(name: str, body: str) -> str:
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n  {body}\n  RETURN NULL;\nEND\n$$"
    )


def _session_id(connection, path, key_sql: str) -> str:
    """SQL: the session the value `key_sql` of `path[0]` leads to."""
    qn = connection.ops.quote_name
    sql = key_sql
    for n, field in enumerate(path[1:], start=1):
        step = path[n - 1]
        sql = (
            f"(SELECT step{n}.{qn(field.column)} FROM {qn(field.model._meta.db_table)} AS step{n}"
            f" WHERE step{n}.{qn(step.target_field.column)} = {sql})"
        )
    return sql


def _condition(connection, model, where, table: str) -> str:
    """SQL: `where` (lookups, or a Q, on `model`'s own columns) with its values written in,
    columns qualified with `table`; TRUE when empty."""
    if not where:
        return "TRUE"
    if not isinstance(where, Q):
        # A set's order changes from one process to the next; the fingerprint must not.
        where = Q(
            **{
                lookup: sorted(value) if isinstance(value, set | frozenset) else value
                for lookup, value in where.items()
            }
        )
    rows = model._default_manager.filter(where)
    sql, params = where_sql(rows, using=connection.alias)
    if sum(1 for count in rows.query.alias_refcount.values() if count) > 1:
        raise ImproperlyConfigured(
            f"A rule of {model._meta.label} reads another table ({where!r}): a trigger can only "
            "test the row's own columns."
        )
    own_table = connection.ops.quote_name(model._meta.db_table)
    return connection.ops.compose_sql(sql, params).replace(f"{own_table}.", f"{table}.")


def _lookups(where) -> list[str]:
    if not isinstance(where, Q):
        return list(where)
    return [
        name
        for child in where.children
        for name in (_lookups(child) if isinstance(child, Q) else [child[0]])
    ]


def _where_columns(model, wheres) -> list[str]:
    """The columns `wheres` test, for a trigger's `UPDATE OF`."""
    names = {lookup.split(LOOKUP_SEP)[0] for where in wheres for lookup in _lookups(where)}
    return sorted(model._meta.get_field(name).column for name in names)


def install(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Install the triggers the registry calls for, in place of any others, unless they are the
    ones installed; note every session the sweep hands on, since nothing noted the rows written
    before. True when it changed anything. On PostgreSQL, once every table exists."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    wanted = trigger_set(using)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if not wanted.tables <= set(connection.introspection.table_names(cursor)):
            return False
        if installed_fingerprint(cursor) == wanted.fingerprint:
            return False
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = current_schema() AND starts_with(p.proname, %s)",
            [PREFIX],
        )
        for (function,) in cursor.fetchall():
            cursor.execute(f"DROP FUNCTION {function} CASCADE")
        for statement in wanted.statements:
            cursor.execute(statement)
        swept_sessions = WhatsAppSession.objects.using(using).filter(swept())
        SessionToSweep.objects.using(using).bulk_create(
            SessionToSweep(session_id=pk) for pk in swept_sessions.values_list("pk", flat=True)
        )
        table = connection.ops.quote_name(SessionToSweep._meta.db_table)
        # A hex digest: nothing to escape.
        cursor.execute(f"COMMENT ON TABLE {table} IS '{_COMMENT}{wanted.fingerprint}'")
    return True


def installed_fingerprint(cursor) -> str | None:
    cursor.execute(_INSTALLED)
    comment = cursor.fetchone()[0] or ""
    return comment.removeprefix(_COMMENT) if comment.startswith(_COMMENT) else None


_INSTALLED = f"SELECT obj_description('{SessionToSweep._meta.db_table}'::regclass, 'pg_class')"


def sessions_holding_rows(*, forget: bool, using: str = DEFAULT_DB_ALIAS) -> list | None:
    """The ids of the noted sessions the sweep hands on that hold rows, in one statement that,
    when `forget`, also forgets the notes of those found holding nothing twice. None when the
    notes cannot be trusted (not PostgreSQL, or the installed triggers are not the registry's):
    the caller looks at every superseded session then."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    sql, params = _once(("look", using, forget), lambda: _look(connection, forget=forget))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        current, ids = cursor.fetchone()
    if not current:
        return None
    return ids or []


def _look(connection, *, forget: bool) -> tuple[str, list]:
    qn = connection.ops.quote_name
    notes = qn(SessionToSweep._meta.db_table)
    sessions = qn(WhatsAppSession._meta.db_table)
    holding, params = where_sql(
        WhatsAppSession.objects.filter(swept()).filter(holds_rows()), using=connection.alias
    )
    # The notes, locked so that two sweeps at once never both forget or record the same one;
    # then each session noted (one write may have noted it many times): does it hold rows now?
    noted = f"SELECT n.id, n.session_id, n.found_empty_xmax FROM {notes} AS n"
    noted += " WHERE (SELECT current FROM installed)"
    maintained = ""
    if forget:
        noted += " FOR UPDATE OF n SKIP LOCKED"
        empty = "looked.session_id = noted.session_id AND NOT looked.holding"
        maintained = f"""
        , forgotten AS (
            DELETE FROM {notes} AS d USING noted JOIN looked ON {empty}
            WHERE d.id = noted.id
              AND noted.found_empty_xmax <= pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        ), found_empty AS (
            UPDATE {notes} AS u
            SET found_empty_xmax = pg_snapshot_xmax(pg_current_snapshot())::text::bigint
            FROM noted JOIN looked ON {empty}
            WHERE u.id = noted.id AND noted.found_empty_xmax IS NULL
        )"""
    sql = f"""
        WITH installed AS (
            SELECT ({_INSTALLED}) = %s AS current
        ), noted AS ({noted}
        ), looked AS (
            SELECT d.session_id, EXISTS (
                SELECT 1 FROM {sessions} WHERE {sessions}.id = d.session_id AND {holding}
            ) AS holding
            FROM (SELECT DISTINCT session_id FROM noted) AS d
        ){maintained}
        SELECT (SELECT current FROM installed),
               array_agg(looked.session_id) FILTER (WHERE looked.holding)
        FROM looked"""
    return sql, [_COMMENT + trigger_set(connection.alias).fingerprint, *params]
