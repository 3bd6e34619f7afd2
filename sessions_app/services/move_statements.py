"""The statements of one move, and the three ways they run.

A move is a list of `Step`s built from the reference registry, each one set-based statement.

- On PostgreSQL they run as one statement: a data-modifying CTE per step, and the audit row
  written by the same statement from what the steps returned. The moved ids never leave the
  database, so auditing 200,000 of them costs a `jsonb_agg`, not a trip through Python and back.
- Elsewhere (SQLite, for `make run`) they run one by one, in order.
- A dry run only lists each step's rows.

The three agree because the steps are written so that order cannot matter: every sub-statement
of one statement sees the rows as they were before it, and no step changes a row another step
changes or selects on. (The re-pointing of a merged group's messages is why: run one by one, it
goes first, while the merged groups still sit on the old session.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from django.db import connections
from django.db.models import QuerySet

from sessions_app.models import SessionMigration
from sessions_app.update_sql import (
    execute_returning_ids,
    ids_as_text,
    qualified_pk,
    select_ids_statement,
    update_returning_ids,
    update_statement,
)

# Where a step's ids are recorded: the audit's `moved_ids` or its `prior_state`, under a key.
Target = tuple[Literal["moved", "prior"], str]
# The audit's columns the one-statement move computes from the steps.
_COMPUTED_COLUMNS = ("counts", "moved_ids", "prior_state")


@dataclass(frozen=True)
class Step:
    """Set `values` on `rows`; or run `statement`, an `UPDATE` (no `RETURNING`) that changes
    exactly `rows`; with neither, only list `rows`. The ids go under each of `into`."""

    rows: QuerySet
    into: tuple[Target, ...] = ()
    values: Mapping[str, object] | None = None
    statement: tuple[str, list] | None = None


@dataclass
class Recorded:
    """The ids the steps changed (or listed), per key, for `moved_ids` and `prior_state`."""

    moved: dict[str, list[str]] = field(default_factory=dict)
    prior: dict[str, list[str]] = field(default_factory=dict)

    def add(self, step: Step, ids: list[str]) -> None:
        for part, key in step.into:
            getattr(self, part).setdefault(key, []).extend(ids)


def list_step_rows(steps: list[Step], *, using: str) -> Recorded:
    """What the steps would change, changing nothing: a dry run."""
    recorded = Recorded()
    for step in steps:
        if step.into:
            recorded.add(step, _listed_ids(step, using=using))
    return recorded


def _listed_ids(step: Step, *, using: str) -> list[str]:
    rows = step.rows.using(using)
    return ids_as_text(rows.model, rows.values_list("pk", flat=True))


def run_steps(steps: list[Step], *, using: str) -> Recorded:
    """The steps one statement each, in order."""
    recorded = Recorded()
    for step in steps:
        recorded.add(step, _run_step(step, using=using))
    return recorded


def _run_step(step: Step, *, using: str) -> list[str]:
    if step.values is not None:
        return update_returning_ids(step.rows, dict(step.values), using=using)
    if step.statement is None:
        return _listed_ids(step, using=using)
    return execute_returning_ids(step.statement, step.rows.model, using=using)


@dataclass(frozen=True)
class AuditedMove:
    """A move's steps and its audit row as one statement. Its parameters are the steps'
    (`before_audit`), then the audit's own values, given when it runs, then the audit's keys
    (`after_audit`) and its fixed `prior_state`, given when it runs."""

    sql: str
    before_audit: list
    after_audit: list
    count_keys: tuple[str, ...]


def audited_move_statement(steps: list[Step], *, count_keys: list[str], using: str) -> AuditedMove:
    """PostgreSQL: the steps and the audit row as one statement, for `run_audited_move`."""
    connection = connections[using]
    qn = connection.ops.quote_name
    ctes: list[str] = []
    params: list = []
    sources: dict[Target, list[str]] = {}
    for index, step in enumerate(steps):
        statement = _step_statement(step, using=using)
        if statement is None:
            continue
        name = f"step_{index}"
        ctes.append(f"{name} AS ({statement[0]})")
        params += statement[1]
        for target in step.into:
            sources.setdefault(target, []).append(name)

    def ids_array(target: Target) -> str:
        names = sources.get(target)
        if not names:
            return "'[]'::jsonb"
        union = " UNION ALL ".join(f"SELECT id::text AS id FROM {name}" for name in names)
        return f"(SELECT coalesce(jsonb_agg(id), '[]'::jsonb) FROM ({union}) AS ids)"

    def object_of(targets: list[Target]) -> tuple[str, list]:
        pairs = ", ".join(f"%s::text, {ids_array(target)}" for target in targets)
        return f"jsonb_build_object({pairs})", [key for _part, key in targets]

    moved_sql, moved_params = object_of([("moved", key) for key in count_keys])
    prior_targets = sorted({target for target in sources if target[0] == "prior"})
    prior_sql, prior_params = object_of(prior_targets)
    fields = _audit_fields()
    columns = ", ".join([*(qn(f.column) for f in fields), *map(qn, _COMPUTED_COLUMNS)])
    table = qn(SessionMigration._meta.db_table)
    # The audit's JSON goes straight from the steps into the row: `OFFSET 0` keeps PostgreSQL
    # from building it once per reference, and no CTE holds it, which would copy megabytes of
    # a big move to a temporary file and back.
    sql = f"""
        {"WITH " + ", ".join(ctes) if ctes else ""}
        INSERT INTO {table} ({columns})
        SELECT {", ".join(["%s"] * len(fields))}, counted.counts, moved.moved_ids,
               moved.prior_state
          FROM (SELECT {moved_sql} AS moved_ids, {prior_sql} || %s::jsonb AS prior_state
                OFFSET 0) AS moved
         CROSS JOIN LATERAL (
               SELECT jsonb_object_agg(key, jsonb_array_length(value))
                 FROM jsonb_each(moved.moved_ids)) AS counted(counts)
         WHERE EXISTS (SELECT 1 FROM jsonb_each_text(counted.counts) AS c WHERE c.value <> '0')
        RETURNING {qn("counts")}::text
    """
    return AuditedMove(
        sql.strip(),
        before_audit=params,
        after_audit=[*moved_params, *prior_params],
        count_keys=tuple(count_keys),
    )


def run_audited_move(
    move: AuditedMove,
    audit: SessionMigration,
    *,
    fixed_prior_state: Mapping[str, object],
    using: str,
) -> dict[str, int]:
    """Run `move`, writing `audit` when something moved. Returns the counts per key.

    `audit` holds every column but the computed ones; it is written only when something moved,
    and then left as saved, with `moved_ids` and `prior_state` read from the database when first
    used. Its `prior_state` is `fixed_prior_state` plus the ids of the steps that go there.
    """
    connection = connections[using]
    values = [f.get_db_prep_save(f.pre_save(audit, True), connection) for f in _audit_fields()]
    params = [
        *move.before_audit,
        *values,
        *move.after_audit,
        _json(connection, fixed_prior_state),
    ]
    with connection.cursor() as cursor:
        # The statement's estimated cost is the sum of its steps', so a big move crosses
        # PostgreSQL's threshold for compiling it (JIT) where none of its steps would alone:
        # at five times the benchmark's size, compiling took longer than the move saved from it.
        # Off for the rest of this transaction, sent in the same round trip.
        cursor.execute(f"SET LOCAL jit = off; {move.sql}", params)
        cursor.nextset()
        written = cursor.fetchone()
    if written is None:
        return dict.fromkeys(move.count_keys, 0)  # nothing moved, so nothing was written
    counts = json.loads(written[0])
    audit.counts = counts
    audit._state.adding, audit._state.db = False, using
    # Deferred: loaded from the row the first time they are read.
    for name in ("moved_ids", "prior_state"):
        audit.__dict__.pop(name, None)
    return {key: counts.get(key, 0) for key in move.count_keys}


def _audit_fields() -> list:
    """The audit's columns a move writes as given: all but the computed ones."""
    return [f for f in SessionMigration._meta.concrete_fields if f.attname not in _COMPUTED_COLUMNS]


def _step_statement(step: Step, *, using: str) -> tuple[str, list] | None:
    """The step as a CTE body whose rows are the ids it changed (or lists), `id`.

    The ids stay in their own type until they are aggregated: a big move's are held between
    the two, and a UUID takes less than half the room of its text, which kept them in memory
    where text went to a temporary file."""
    if step.values is None and step.statement is None:
        select = select_ids_statement(step.rows.using(using), using=using)
        if select is None:
            return None
        return f"SELECT listed.pk AS id FROM ({select[0]}) AS listed(pk)", select[1]
    statement = step.statement or update_statement(step.rows, dict(step.values), using=using)
    if statement is None:
        return None
    returning = qualified_pk(connections[using], step.rows.model)
    return f"{statement[0]} RETURNING {returning} AS id", statement[1]


def _json(connection, value: Mapping[str, object]) -> object:
    return SessionMigration._meta.get_field("prior_state").get_db_prep_save(dict(value), connection)
