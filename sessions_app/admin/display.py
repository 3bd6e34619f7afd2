"""Small pieces every page of the staff tools shows the same way."""

from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from sessions_app.dates import local_datetime


def shown_datetime(value) -> str:
    """`2026-11-25 06:24 -03`, as every page shows a date and time (the project's format, the
    staff's zone); "-" for none."""
    return local_datetime(value) if value else "-"


def templates_for(opts, name: str) -> list[str]:
    """`name`'s templates from the most specific to the generic, as Django's admin looks them up:
    the model's, the app's, the admin's."""
    return [
        f"admin/{opts.app_label}/{opts.model_name}/{name}.html",
        f"admin/{opts.app_label}/{name}.html",
        f"admin/{name}.html",
    ]


def short_id_of(obj) -> str:
    """The first 8 characters of a row's id, as every list of the staff tools shows it."""
    return str(obj.pk)[:8]


def admin_change_link(obj, text=None, *, title: str = "") -> str:
    """A link to `obj`'s admin page; `title` is shown on hover, e.g. the whole of a short text."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    if title:
        return format_html('<a href="{}" title="{}">{}</a>', url, title, text or obj)
    return format_html('<a href="{}">{}</a>', url, text or obj)


def truncated(text: str, length: int, *, title: str = "") -> str:
    """`text` cut to `length` characters (ending in "…"), on hover the whole of it, or `title`."""
    text = " ".join((text or "").split())
    if not text:
        return "-"
    shown = Truncator(text).chars(length)
    if shown == text and not title:
        return text
    return format_html('<span title="{}">{}</span>', title or text, shown)
