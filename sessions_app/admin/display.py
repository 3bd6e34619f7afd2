"""Small pieces every page of the staff tools shows the same way."""

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html


def short_datetime(value) -> str:
    """`2026-11-25 06:24`: keeps the wide sessions list readable."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def templates_for(opts, name: str) -> list[str]:
    """`name`'s templates from the most specific to the generic, as Django's admin looks them up:
    the model's, the app's, the admin's."""
    return [
        f"admin/{opts.app_label}/{opts.model_name}/{name}.html",
        f"admin/{opts.app_label}/{name}.html",
        f"admin/{name}.html",
    ]


def admin_change_link(obj, text=None) -> str:
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or obj)
