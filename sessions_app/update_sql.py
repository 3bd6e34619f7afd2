"""`UPDATE … RETURNING id` and a queryset's WHERE clause, compiled by Django's query compiler.

Django has no public `UPDATE … RETURNING`: `QuerySet.update()` returns a count, and a migration
needs, in the same statement, the ids it moved for its audit. These functions reach into the
private query API (`Query.chain(UpdateQuery)`, `UpdateQuery.add_update_values`,
`SQLUpdateCompiler.as_sql`, `Query.get_initial_alias`, `SQLCompiler.compile`), so they live here
alone: the one module to read again on a Django upgrade.

Checked against Django 5.2 (5.2.19). A change in that API fails these tests:
- `update_returning_ids` (no SET, or no ids back): tests/test_migration_rules.py `TestWhatMoves`
  and `TestTheGroupMerge`, tests/test_migration_undo.py `TestUndoWithNothingInBetween`;
- its `EmptyResultSet` answer to `pk__in=[]`: tests/test_migration_undo.py
  `TestUndoWithNothingInBetween` and `TestRowsChangedSince`;
- `where_sql` (the clause lost): tests/test_migration_rules.py
  `TestTheGroupMerge::test_pending_messages_follow_to_the_new_group_sent_ones_stay`, and the
  undo's `test_the_merged_group_is_active_again_with_its_messages`.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.sql import UpdateQuery


def update_returning_ids(rows: QuerySet, values: dict[str, object], *, using: str) -> list[str]:
    """`UPDATE … SET values WHERE <rows> RETURNING pk` in one statement: the ids it changed."""
    statement = update_statement(rows, values, using=using)
    if statement is None:
        return []
    return execute_returning_ids(statement, rows.model, using=using)


def execute_returning_ids(
    statement: tuple[str, list], model: type[Model], *, using: str
) -> list[str]:
    """Run `statement`, an `UPDATE` of `model`'s table, with `RETURNING` its ids."""
    sql, params = statement
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {returning_ids(connection, model)}", params)
        return fetched_ids(connection, model, cursor)


def update_statement(
    rows: QuerySet, values: Mapping[str, object], *, using: str
) -> tuple[str, list] | None:
    """`UPDATE … SET values WHERE <rows>` (no `RETURNING`) and its parameters; None when `rows`
    can match nothing (e.g. `pk__in=[]`), so there is no statement to send."""
    query = rows.query.chain(UpdateQuery)
    query.add_update_values(values)
    try:
        sql, params = query.get_compiler(using).as_sql()
    except EmptyResultSet:
        return None
    return sql, list(params)


def select_ids_statement(rows: QuerySet, *, using: str) -> tuple[str, list] | None:
    """`SELECT pk FROM … WHERE <rows>` and its parameters; None when `rows` can match nothing."""
    # Unordered: the ids are a set, and a sort of a big move's rows would spill to disk.
    query = rows.order_by().values_list("pk", flat=True).query
    try:
        sql, params = query.get_compiler(using).as_sql()
    except EmptyResultSet:
        return None
    return sql, list(params)


def where_sql(rows: QuerySet, *, using: str) -> tuple[str, list]:
    """The WHERE clause of `rows` (columns qualified with the table name), or ('', [])."""
    query = rows.query.chain()
    query.get_initial_alias()
    compiler = query.get_compiler(using)
    if not query.where:
        return "", []
    sql, params = compiler.compile(query.where)
    return sql, list(params)


def qualified_pk(connection, model: type[Model]) -> str:
    """`model`'s primary key column, quoted and qualified with its table's name."""
    qn = connection.ops.quote_name
    return f"{qn(model._meta.db_table)}.{qn(model._meta.pk.column)}"


def returning_ids(connection, model: type[Model]) -> str:
    """What a `RETURNING` clause selects: `table`'s primary key, as text on PostgreSQL."""
    column = qualified_pk(connection, model)
    # PostgreSQL prints its ids as the audit stores them: cheaper than building objects to print.
    return f"{column}::text" if connection.vendor == "postgresql" else column


def fetched_ids(connection, model: type[Model], cursor) -> list[str]:
    """The ids a statement with `returning_ids` returned, as the audit stores them."""
    if connection.vendor == "postgresql":
        return [row[0] for row in cursor.fetchall()]
    return ids_as_text(model, (row[0] for row in cursor.fetchall()))


def ids_as_text(model: type[Model], values) -> list[str]:
    """Primary key values of `model` as the audit stores them."""
    pk = model._meta.pk
    return [str(pk.to_python(value)) for value in values]
