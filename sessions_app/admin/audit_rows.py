"""The rows a migration moved or left, per table, each linked to its admin page."""

from django.urls import reverse
from django.utils.html import format_html

from sessions_app.admin.display import admin_change_link
from sessions_app.models import SessionMigration
from sessions_app.references import count_columns, count_keys
from sessions_app.selectors import moved_id_pages

_ID_SLOT = "__id__"

# The audit page lists this many moved rows per table; `?moved_<key>=N` shows page N of one.
MOVED_ROWS_PER_PAGE = 100
# The undo preview and the rows an audit entry left list this many per table, then say how many
# more: a large migration names tens of thousands.
LISTED_ROWS_PER_TABLE = 100


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
        found = {str(pk): row for pk, row in _rows_of(migration, model, ids, admin_site).items()}
        url = _change_url(model, admin_site)
        rows = []
        for row_id in ids:
            row = found.get(str(row_id))
            link = None
            if row is not None and url:
                link = format_html('<a href="{}">{}</a>', url.replace(_ID_SLOT, str(row.pk)), row)
            rows.append({"id": row_id, "link": link, "deleted": url and row is None})
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
    """(count key, label, model) for every key; a column's keys told apart by how they moved."""
    for column in count_columns():
        for key, how in column.how.items():
            yield key, f"{column.label} ({how})" if how else column.label, column.model


def listed_rows(
    migration: SessionMigration, ids_of: dict, *, admin_site, limit: int = LISTED_ROWS_PER_TABLE
) -> list[dict]:
    """The rows named in `ids_of` (keyed like a migration's counts; ids, or {"id", "reason"}),
    per table: the first `limit` of each, each with a link, and how many more there are. Only
    rows of the migration's organization are read: one query per table, for the rows listed."""
    tables = []
    for column in count_columns():
        named = [(key, entry) for key in column.keys for entry in (ids_of or {}).get(key) or []]
        if not named:
            continue
        listed = named[:limit]
        ids = [_entry_id(entry) for _key, entry in listed]
        found = {
            str(pk): row for pk, row in _rows_of(migration, column.model, ids, admin_site).items()
        }
        rows = []
        for key, entry in listed:
            row = found.get(_entry_id(entry))
            rows.append(
                {
                    "id": _entry_id(entry),
                    "link": admin_change_link(row) if row is not None else None,
                    "how": column.how[key],
                    "reason": entry.get("reason", "") if isinstance(entry, dict) else "",
                }
            )
        tables.append(
            {
                "key": column.keys[0],
                "label": column.label,
                "rows": rows,
                "total": len(named),
                "more": len(named) - len(rows),
            }
        )
    return tables


def _change_url(model, admin_site) -> str | None:
    """The change page of `model`'s rows with `_ID_SLOT` for the id, or None without an admin.
    One reverse() per table, not per row: a page lists hundreds of rows."""
    if not admin_site.is_registered(model):
        return None
    opts = model._meta
    return reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[_ID_SLOT])


def _rows_of(migration: SessionMigration, model, ids, admin_site) -> dict:
    """The rows of `ids` in the migration's organization, by the path `model`'s admin scopes
    staff with; none for a model without an admin, whose rows have no page to link to."""
    model_admin = admin_site._registry.get(model)
    if model_admin is None:
        return {}
    path = model_admin.organization_field
    return model._default_manager.filter(**{path: migration.organization_id}).in_bulk(ids)


def _entry_id(entry) -> str:
    return str(entry["id"] if isinstance(entry, dict) else entry)
