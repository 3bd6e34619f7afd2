"""The rows a migration moved or left, per table, each linked to its admin page."""

from django.urls import reverse
from django.utils.html import format_html

from sessions_app.admin.counts import HOW_MESSAGES_MOVED, MIGRATION_COUNT_COLUMNS
from sessions_app.admin.display import admin_change_link
from sessions_app.models import SessionMigration
from sessions_app.references import count_keys
from sessions_app.selectors import moved_id_pages

_ID_SLOT = "__id__"

# The audit page lists this many moved rows per table; `?moved_<key>=N` shows page N of one.
MOVED_ROWS_PER_PAGE = 100


def moved_rows(
    migration: SessionMigration, pages: dict[str, int] | None = None, *, admin_site
) -> list[dict]:
    """The rows a migration moved, per table, one page of each (`pages[key]`, from 1), each
    with a link: one query for the pages of ids, then one per table for its rows, of the
    migration's organization only."""
    pages = pages or {}
    tables = []
    moved = moved_id_pages(
        migration,
        {key: (max(pages.get(key, 1), 1) - 1) * MOVED_ROWS_PER_PAGE for key in count_keys()},
        MOVED_ROWS_PER_PAGE,
    )
    for key, label, model in _columns_per_key():
        total, ids = moved.get(key, (0, []))
        if not total:
            continue
        found = _of_organization(admin_site, model, migration.organization_id).in_bulk(ids)
        found = {str(pk): row for pk, row in found.items()}
        # One reverse() per table, not per row: a page lists hundreds of rows.
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[_ID_SLOT])
        rows = []
        for row_id in ids:
            row = found.get(str(row_id))
            link = None
            if row is not None:
                link = format_html('<a href="{}">{}</a>', url.replace(_ID_SLOT, str(row.pk)), row)
            rows.append({"id": row_id, "link": link})
        page = max(pages.get(key, 1), 1)
        tables.append(
            {
                "key": key,
                "label": label,
                "total": total,
                "rows": rows,
                "first": (page - 1) * MOVED_ROWS_PER_PAGE + 1,
                "last": (page - 1) * MOVED_ROWS_PER_PAGE + len(rows),
                "previous_page": page - 1 if page > 1 else None,
                "next_page": page + 1 if page * MOVED_ROWS_PER_PAGE < total else None,
                "parameter": f"moved_{key}",
            }
        )
    return tables


def _columns_per_key():
    """(count key, label, model) for every key, the pending messages' two keys told apart."""
    for keys, label, model in MIGRATION_COUNT_COLUMNS:
        for key in keys:
            yield key, f"{label} ({HOW_MESSAGES_MOVED[key]})" if len(keys) > 1 else label, model


def listed_rows(migration: SessionMigration, ids_of: dict, *, admin_site) -> list[dict]:
    """The rows named in `ids_of` (keyed like a migration's counts; ids, or {"id", "reason"}),
    per table, each with a link. Only rows of the migration's organization are read: one query
    per table."""
    tables = []
    for keys, label, model in MIGRATION_COUNT_COLUMNS:
        listed = [(key, entry) for key in keys for entry in (ids_of or {}).get(key) or []]
        if not listed:
            continue
        found = {
            str(row.pk): row
            for row in _of_organization(admin_site, model, migration.organization_id).filter(
                pk__in=[_entry_id(entry) for _key, entry in listed]
            )
        }
        rows = []
        for key, entry in listed:
            row = found.get(_entry_id(entry))
            rows.append(
                {
                    "id": _entry_id(entry),
                    "link": admin_change_link(row) if row is not None else None,
                    "how": HOW_MESSAGES_MOVED.get(key, "") if len(keys) > 1 else "",
                    "reason": entry.get("reason", "") if isinstance(entry, dict) else "",
                }
            )
        tables.append({"key": keys[0], "label": label, "rows": rows})
    return tables


def _entry_id(entry) -> str:
    return str(entry["id"] if isinstance(entry, dict) else entry)


def _of_organization(admin_site, model, organization_id):
    """`model`'s rows of one organization, by the path its admin scopes staff with."""
    path = admin_site._registry[model].organization_field
    return model._default_manager.filter(**{path: organization_id})
